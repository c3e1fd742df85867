//! What a `POST /v1/endpoints` or `PATCH /v1/endpoints/{id}` body may
//! say, checked field by field: a wrong type or an unknown field is a `400`,
//! a value a rule forbids (the URL policy, a malformed filter entry, a
//! header INC sets itself) a `422`, each naming the field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::accounts::settings::WebhookFormat;
use crate::domain::common::url_policy::EndpointPolicy;
use crate::domain::destinations::{Destination, target, transformation};
use crate::domain::endpoints::endpoint::Endpoint;
use crate::domain::endpoints::kind;
use crate::domain::events::catalog::{self, MAX_DESCRIPTION_LEN};
use crate::error::{Error, Result};

/// Most entries in a filter.
pub const MAX_FILTER_TYPES: usize = 100;
/// Most extra headers per endpoint.
pub const MAX_HEADERS: usize = 20;
/// Longest extra header value.
pub const MAX_HEADER_VALUE_LEN: usize = 1_024;
/// Highest rate limit, in requests per second.
pub const MAX_RATE_LIMIT: u64 = 10_000;

/// Header names INC sets itself, which an endpoint may not override.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
];

/// A `POST /v1/endpoints` body, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The HTTP URL, or the destination's target.
    pub url: String,
    pub destination: Destination,
    pub transformation: Option<String>,
    pub description: String,
    pub filter_types: Option<Vec<String>>,
    pub format: WebhookFormat,
    pub enabled: bool,
    pub rate_limit: Option<u64>,
    pub headers: BTreeMap<String, String>,
}

/// A `PATCH /v1/endpoints/{id}` body: each field `None` when absent;
/// `filter_types` and `rate_limit` may be set to `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    /// `type`, checked against the types there are.
    pub type_name: Option<String>,
    pub url: Option<String>,
    /// `queue_url`, `topic_arn` or `event_bus_name`, checked for its type.
    pub target: Option<Destination>,
    /// `Some(None)`: removed.
    pub transformation: Option<Option<String>>,
    pub description: Option<String>,
    pub filter_types: Option<Option<Vec<String>>>,
    pub format: Option<WebhookFormat>,
    pub enabled: Option<bool>,
    pub rate_limit: Option<Option<u64>>,
    pub headers: Option<BTreeMap<String, String>>,
}

const FIELDS: &str = "`type`, `url`, `queue_url`, `topic_arn`, `event_bus_name`, `description`, \
     `filter_types`, `format`, `enabled`, `rate_limit`, `headers` and `transformation`";

impl EndpointSpec {
    pub fn from_json(body: &[u8], policy: &EndpointPolicy) -> Result<EndpointSpec> {
        let patch = EndpointPatch::from_json(body, policy)?;
        let (destination, url) = kind::destination(patch.given(), None)?;
        let spec = EndpointSpec {
            url,
            destination,
            transformation: patch.transformation.flatten(),
            description: patch.description.unwrap_or_default(),
            filter_types: patch.filter_types.flatten(),
            format: patch.format.unwrap_or(WebhookFormat::Json),
            enabled: patch.enabled.unwrap_or(true),
            rate_limit: patch.rate_limit.flatten(),
            headers: patch.headers.unwrap_or_default(),
        };
        kind::fits(
            &spec.destination,
            spec.format,
            &spec.headers,
            spec.transformation.is_some(),
        )?;
        Ok(spec)
    }
}

impl EndpointPatch {
    /// Parses and validates a body strictly: an unknown field or a wrong
    /// type is a `400`, a value a rule forbids a `422`, each naming the
    /// field.
    pub fn from_json(body: &[u8], policy: &EndpointPolicy) -> Result<EndpointPatch> {
        let top = crate::domain::json_object(body)?;
        let mut patch = EndpointPatch::default();
        for (key, value) in top {
            // `queue_url`, `topic_arn` or `event_bus_name`: one target, of its type.
            if let Some(type_name) = Destination::type_of_field(&key) {
                let field = key.as_str();
                if let Some(other) = patch.target.as_ref().and_then(Destination::target) {
                    return Err(Error::unprocessable(
                        "invalid_field",
                        format!(
                            "{field}: an endpoint has one target; {} is given too",
                            other.0
                        ),
                        Some(field),
                    ));
                }
                let raw = string(&value, field)?;
                patch.target = Some(Destination::parse(type_name, raw, policy)?);
                continue;
            }
            match key.as_str() {
                "type" => {
                    let t = string(&value, "type")?;
                    if !target::TYPES.contains(&t) {
                        return Err(Error::unprocessable(
                            "invalid_field",
                            "type: must be `http`, `sqs`, `sns` or `eventbridge`",
                            Some("type"),
                        ));
                    }
                    patch.type_name = Some(t.to_owned());
                }
                "transformation" => {
                    patch.transformation = Some(transformation::parse(&value)?);
                }
                "url" => {
                    let url = string(&value, "url")?;
                    patch.url = Some(policy.check_field(url, "url")?.to_string());
                }
                "description" => {
                    let d = match &value {
                        Value::Null => "",
                        v => string(v, "description")?,
                    };
                    if d.chars().count() > MAX_DESCRIPTION_LEN {
                        return Err(Error::unprocessable(
                            "invalid_field",
                            format!("description: at most {MAX_DESCRIPTION_LEN} characters"),
                            Some("description"),
                        ));
                    }
                    patch.description = Some(d.to_owned());
                }
                "filter_types" => patch.filter_types = Some(filter_types(&value)?),
                "format" => {
                    patch.format = Some(match string(&value, "format")? {
                        "json" => WebhookFormat::Json,
                        "form" => WebhookFormat::Form,
                        _ => {
                            return Err(Error::unprocessable(
                                "invalid_field",
                                "format: must be `json` or `form`",
                                Some("format"),
                            ));
                        }
                    });
                }
                "enabled" => match value {
                    Value::Bool(b) => patch.enabled = Some(b),
                    _ => return Err(wrong_type("enabled", "true or false")),
                },
                "rate_limit" => {
                    patch.rate_limit = Some(match &value {
                        Value::Null => None,
                        Value::Number(n) => match n.as_u64() {
                            Some(r @ 1..=MAX_RATE_LIMIT) => Some(r),
                            _ => {
                                return Err(Error::unprocessable(
                                    "invalid_field",
                                    format!(
                                        "rate_limit: a whole number of requests per second \
                                         from 1 to {MAX_RATE_LIMIT}, or null"
                                    ),
                                    Some("rate_limit"),
                                ));
                            }
                        },
                        _ => return Err(wrong_type("rate_limit", "an integer or null")),
                    });
                }
                "headers" => patch.headers = Some(headers(&value)?),
                other => {
                    return Err(Error::bad_request(
                        "unknown_field",
                        format!("unknown field `{other}`; expected {FIELDS}"),
                        Some(other),
                    ));
                }
            }
        }
        Ok(patch)
    }

    fn given(&self) -> kind::Given<'_> {
        kind::Given {
            type_name: self.type_name.as_deref(),
            url: self.url.as_deref(),
            target: self.target.as_ref(),
        }
    }

    /// Whether it sets nothing but `enabled` (all the default endpoint
    /// takes: the rest is the account's settings).
    pub fn only_enabled(&self) -> Option<bool> {
        let EndpointPatch {
            type_name: None,
            url: None,
            target: None,
            transformation: None,
            description: None,
            filter_types: None,
            format: None,
            enabled: Some(enabled),
            rate_limit: None,
            headers: None,
        } = self
        else {
            return None;
        };
        Some(*enabled)
    }

    /// `endpoint` with this patch applied: a `422` naming the field when
    /// the result does not fit together (a target of another type, `form`
    /// or headers on a queue).
    pub fn apply(self, mut endpoint: Endpoint, now: DateTime<Utc>) -> Result<Endpoint> {
        let (destination, url) =
            kind::destination(self.given(), Some((&endpoint.destination, &endpoint.url)))?;
        endpoint.destination = destination;
        endpoint.url = url;
        if let Some(t) = self.transformation {
            endpoint.transformation = t;
        }
        if let Some(d) = self.description {
            endpoint.description = d;
        }
        if let Some(f) = self.filter_types {
            endpoint.filter_types = f;
        }
        if let Some(f) = self.format {
            endpoint.format = f;
        }
        if let Some(enabled) = self.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
                endpoint.failing_since = restarted_streak(endpoint.failing_since, now);
                endpoint.failing_alerted = false;
            }
        }
        if let Some(r) = self.rate_limit {
            endpoint.rate_limit = r;
        }
        if let Some(h) = self.headers {
            endpoint.headers = h;
        }
        kind::fits(
            &endpoint.destination,
            endpoint.format,
            &endpoint.headers,
            endpoint.transformation.is_some(),
        )?;
        endpoint.updated_at = now;
        Ok(endpoint)
    }
}

/// An endpoint enabled again after a failure streak has not answered a 2xx
/// since: its streak goes on, started afresh at `now`, so the disable delay
/// and the `endpoint.failing` alert count from the re-enable and its first
/// 2xx sends `endpoint.recovered` (contract section 8). Without a streak
/// (disabled by hand) there is none.
pub fn restarted_streak(
    failing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    failing_since.map(|_| now)
}

impl Endpoint {
    /// A new endpoint of `account_id` from a create body.
    pub fn create(account_id: &str, spec: EndpointSpec, now: DateTime<Utc>) -> Endpoint {
        Endpoint {
            account_id: account_id.to_owned(),
            endpoint_id: crate::domain::common::ids::new_endpoint_id(),
            url: spec.url,
            destination: spec.destination,
            transformation: spec.transformation,
            description: spec.description,
            filter_types: spec.filter_types,
            format: spec.format,
            enabled: spec.enabled,
            rate_limit: spec.rate_limit,
            headers: spec.headers,
            disabled_reason: None,
            failing_since: None,
            failing_alerted: false,
            created_at: now,
            updated_at: now,
            secret: crate::domain::endpoints::signing::new_secret(),
            previous_secret: None,
            previous_secret_expires_at: None,
            version: 0,
        }
    }
}

fn wrong_type(field: &str, expected: &str) -> Error {
    Error::bad_request(
        "invalid_field",
        format!("{field}: must be {expected}"),
        Some(field),
    )
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| wrong_type(field, "a string"))
}

/// A filter: `null` for every type, or 1–100 distinct entries, each an
/// event type or a `prefix.*` pattern.
fn filter_types(value: &Value) -> Result<Option<Vec<String>>> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => {
            return Err(wrong_type(
                "filter_types",
                "an array of event types, or null",
            ));
        }
    };
    if items.is_empty() || items.len() > MAX_FILTER_TYPES {
        return Err(Error::unprocessable(
            "invalid_filter",
            format!("filter_types: from 1 to {MAX_FILTER_TYPES} entries (null for every type)"),
            Some("filter_types"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("filter_types[{i}]");
        let entry = item
            .as_str()
            .ok_or_else(|| wrong_type(&field, "a string"))?;
        let valid = match entry.strip_suffix(".*") {
            Some(prefix) => prefix.len() < catalog::MAX_TYPE_LEN && catalog::segments_valid(prefix),
            None => catalog::is_valid_name(entry),
        };
        if !valid {
            return Err(Error::unprocessable(
                "invalid_filter",
                format!(
                    "{field}: `{}` is neither an event type (order.completed) nor a prefix \
                     pattern (order.*)",
                    entry.chars().take(80).collect::<String>()
                ),
                Some(&field),
            ));
        }
        if !out.iter().any(|e| e == entry) {
            out.push(entry.to_owned());
        }
    }
    Ok(Some(out))
}

/// Extra headers: up to 20, names HTTP tokens INC does not set itself,
/// values printable and short.
fn headers(value: &Value) -> Result<BTreeMap<String, String>> {
    let map: &Map<String, Value> = value
        .as_object()
        .ok_or_else(|| wrong_type("headers", "an object of header names to values"))?;
    if map.len() > MAX_HEADERS {
        return Err(Error::unprocessable(
            "invalid_header",
            format!("headers: at most {MAX_HEADERS}"),
            Some("headers"),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        let token = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(Error::unprocessable(
                "invalid_header",
                format!("{field}: not a valid header name"),
                Some(&field),
            ));
        }
        if lower.starts_with("webhook-") || RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::unprocessable(
                "reserved_header",
                format!("{field}: INC sets this header itself"),
                Some(&field),
            ));
        }
        let text = value
            .as_str()
            .ok_or_else(|| wrong_type(&field, "a string"))?;
        if text.len() > MAX_HEADER_VALUE_LEN
            || text.bytes().any(|b| b.is_ascii_control() && b != b'\t')
        {
            return Err(Error::unprocessable(
                "invalid_header",
                format!("{field}: at most {MAX_HEADER_VALUE_LEN} bytes, no control characters"),
                Some(&field),
            ));
        }
        if out.keys().any(|k: &String| k.eq_ignore_ascii_case(name)) {
            return Err(Error::unprocessable(
                "invalid_header",
                format!("{field}: the same header twice (names ignore case)"),
                Some(&field),
            ));
        }
        out.insert(name.clone(), text.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };

    fn filter(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_spec_is_validated_field_by_field() {
        let spec = EndpointSpec::from_json(
            br#"{"url":"http://127.0.0.1:9/x","filter_types":["order.*","order.*"],"headers":{"X-Team":"wh"},"rate_limit":10}"#,
            &LOCAL,
        )
        .unwrap();
        assert_eq!(spec.filter_types, Some(filter(&["order.*"])));
        assert_eq!(spec.format, WebhookFormat::Json);
        assert!(spec.enabled);
        let cases: &[(&str, u16, &str)] = &[
            (r#"{"description":"x"}"#, 400, "url"),
            (r#"{"url":"ftp://x.example"}"#, 422, "url"),
            (
                r#"{"url":"http://127.0.0.1/","filter_types":["order"]}"#,
                422,
                "filter_types[0]",
            ),
            (
                r#"{"url":"http://127.0.0.1/","filter_types":["a.b","*"]}"#,
                422,
                "filter_types[1]",
            ),
            (
                r#"{"url":"http://127.0.0.1/","filter_types":[]}"#,
                422,
                "filter_types",
            ),
            (
                r#"{"url":"http://127.0.0.1/","headers":{"Webhook-Id":"x"}}"#,
                422,
                "headers.Webhook-Id",
            ),
            (
                r#"{"url":"http://127.0.0.1/","headers":{"Content-Type":"x"}}"#,
                422,
                "headers.Content-Type",
            ),
            (
                r#"{"url":"http://127.0.0.1/","headers":{"X-A":"a\nb"}}"#,
                422,
                "headers.X-A",
            ),
            (
                r#"{"url":"http://127.0.0.1/","rate_limit":0}"#,
                422,
                "rate_limit",
            ),
            (
                r#"{"url":"http://127.0.0.1/","rate_limit":"5"}"#,
                400,
                "rate_limit",
            ),
            (
                r#"{"url":"http://127.0.0.1/","format":"xml"}"#,
                422,
                "format",
            ),
            (
                r#"{"url":"http://127.0.0.1/","colour":"red"}"#,
                400,
                "colour",
            ),
        ];
        for (body, status, field) in cases {
            let e = EndpointSpec::from_json(body.as_bytes(), &LOCAL).unwrap_err();
            assert_eq!((e.status(), e.field()), (*status, Some(*field)), "{body}");
        }
    }
}
