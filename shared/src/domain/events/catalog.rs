//! Event types: the names `POST /v1/events` accepts, the built-in ones, and
//! the catalog a merchant declares, each type with an optional JSON Schema
//! (draft 2020-12) that its events' `data` must satisfy.
//!
//! A schema is compiled with no way to reach outside itself: the
//! `jsonschema` crate is built without its HTTP and file resolvers, and a
//! `$ref` that is not a fragment of the schema (`#/$defs/…`) is refused
//! before compiling, so a merchant's schema can never make INC fetch a URL
//! or read a file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest event type name.
pub const MAX_TYPE_LEN: usize = 64;
/// Longest description of a declared type.
pub const MAX_DESCRIPTION_LEN: usize = 1_000;
/// Largest schema, as JSON.
pub const MAX_SCHEMA_LEN: usize = 64 * 1024;

/// The types INC itself understands, with their own strict validation.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "sms.sent",
        "Genio SMS's SENT IPN: the SMS left the gateway, or failed to.",
    ),
    (
        "sms.delivered",
        "Genio SMS's DELIVERY IPN: the handset confirmed, or the carrier failed.",
    ),
    (
        "payment.state_changed",
        "A payment transaction changed state; may message the customer.",
    ),
];

/// The types INC sends the merchant about its endpoints and notifications
/// (contract section 8). They are INC's own: `POST /v1/events` refuses
/// them, so an endpoint can trust that one came from INC.
pub const ALERT_TYPES: &[(&str, &str)] = &[
    (
        "endpoint.failing",
        "An endpoint has answered no attempt with a 2xx for a fifth of the disable delay.",
    ),
    (
        "endpoint.disabled",
        "An endpoint failed for the whole disable delay and was disabled.",
    ),
    (
        "endpoint.recovered",
        "An endpoint answered 2xx again after a streak of failures.",
    ),
    (
        "notification.failed",
        "A notification was given up after its last attempt.",
    ),
];

/// The types INC sends about campaigns and the replies to its messages
/// (contract section 13): INC's own as well.
pub const CAMPAIGN_TYPES: &[(&str, &str)] = &[
    (
        "campaign.started",
        "A run of a campaign started: its members are being reached.",
    ),
    (
        "campaign.finished",
        "A run of a campaign ended (every member reached, or canceled), with its counts.",
    ),
    (
        "message.replied",
        "A customer answered a message INC sent (an SMS or WhatsApp reply, such as a survey's).",
    ),
];

/// Every type only INC itself sends, with its description.
pub fn inc_types() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    ALERT_TYPES.iter().chain(CAMPAIGN_TYPES)
}

pub fn is_built_in(name: &str) -> bool {
    BUILT_IN.iter().chain(inc_types()).any(|(n, _)| *n == name)
}

/// Whether `name` is a type only INC itself sends (an alert, a campaign's
/// start or end, a reply).
pub fn is_reserved(name: &str) -> bool {
    inc_types().any(|(n, _)| *n == name)
}

/// Whether `name` is a valid event type: dot-separated segments of
/// `[a-z][a-z0-9_]*`, at least two of them, at most 64 characters.
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= MAX_TYPE_LEN && name.contains('.') && segments_valid(name)
}

/// Dot-separated segments, each `[a-z][a-z0-9_]*` (one segment is enough).
pub(crate) fn segments_valid(name: &str) -> bool {
    name.split('.').all(|segment| {
        let mut chars = segment.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// `name` as a type, or a `400` naming `field`.
pub fn check_name(name: &str, field: &str) -> Result<()> {
    if is_valid_name(name) {
        return Ok(());
    }
    Err(Error::bad_request(
        "invalid_event_type",
        format!(
            "{field}: `{}` is not an event type; use dot-separated lowercase words such as \
             order.completed (at most {MAX_TYPE_LEN} characters)",
            name.chars().take(80).collect::<String>()
        ),
        Some(field),
    ))
}

/// A declared event type, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventType {
    pub account_id: String,
    pub event_type: String,
    pub description: String,
    /// The schema as the merchant sent it (JSON text), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl EventType {
    /// How the API shows it.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "type": self.event_type,
            "description": self.description,
            "schema": self.schema.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
            "built_in": false,
            "reserved": false,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The compiled schema, if the type declares one.
    pub fn validator(&self) -> Result<Option<Schema>> {
        let Some(text) = &self.schema else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::Dependency(format!("stored schema unreadable: {e}")))?;
        Schema::compile(&value).map(Some)
    }
}

/// How the API shows a built-in type.
pub fn built_in_view(name: &str, description: &str) -> Value {
    serde_json::json!({
        "type": name, "description": description, "schema": null, "built_in": true,
        "reserved": is_reserved(name),
    })
}

/// A `PUT /v1/event-types/{type}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTypeSpec {
    pub description: String,
    pub schema: Option<Value>,
}

impl EventTypeSpec {
    /// Parses a body strictly: `description` (a string), `schema` (an
    /// object, or null for none); anything else is a `400` naming it. A
    /// schema that is not valid JSON Schema is a `422`.
    pub fn from_json(body: &[u8]) -> Result<EventTypeSpec> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "description" | "schema"))
        {
            return Err(Error::bad_request(
                "unknown_field",
                format!("unknown field `{key}`; expected `description` and `schema`"),
                Some(key),
            ));
        }
        let description = match top.remove("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(d)) if d.chars().count() <= MAX_DESCRIPTION_LEN => d,
            Some(Value::String(_)) => {
                return Err(Error::bad_request(
                    "invalid_field",
                    format!("description: at most {MAX_DESCRIPTION_LEN} characters"),
                    Some("description"),
                ));
            }
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_field",
                    "description: must be a string",
                    Some("description"),
                ));
            }
        };
        let schema = match top.remove("schema") {
            None | Some(Value::Null) => None,
            Some(schema @ (Value::Object(_) | Value::Bool(_))) => {
                if schema.to_string().len() > MAX_SCHEMA_LEN {
                    return Err(Error::unprocessable(
                        "invalid_schema",
                        format!("schema: at most {MAX_SCHEMA_LEN} bytes of JSON"),
                        Some("schema"),
                    ));
                }
                Schema::compile(&schema)?;
                Some(schema)
            }
            Some(_) => {
                return Err(Error::unprocessable(
                    "invalid_schema",
                    "schema: a JSON Schema is an object (or true / false)",
                    Some("schema"),
                ));
            }
        };
        Ok(EventTypeSpec {
            description,
            schema,
        })
    }
}

/// A compiled JSON Schema (draft 2020-12 unless it names another).
pub struct Schema(jsonschema::Validator);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Compiles `schema`, or a `422` naming what is wrong with it.
    pub fn compile(schema: &Value) -> Result<Schema> {
        let invalid = |why: String| Error::unprocessable("invalid_schema", why, Some("schema"));
        if let Some(reference) = external_ref(schema) {
            return Err(invalid(format!(
                "schema: `$ref: {reference}` points outside the schema; INC never fetches a \
                 URL or reads a file for a schema, so only `#…` references are allowed"
            )));
        }
        if !jsonschema::draft202012::meta::is_valid(schema) {
            let why = jsonschema::draft202012::meta::validate(schema)
                .err()
                .map_or_else(|| "not a valid schema".to_owned(), |e| e.to_string());
            return Err(invalid(format!("schema: not valid JSON Schema ({why})")));
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(schema)
            .map(Schema)
            .map_err(|e| invalid(format!("schema: cannot be compiled ({e})")))
    }

    /// Checks an event's `data`: the first failure is a `400` whose field
    /// is the failing path (`data.temperature`, `data.items[0].sku`).
    pub fn check(&self, data: &Value) -> Result<()> {
        let Some(error) = self.0.iter_errors(data).next() else {
            return Ok(());
        };
        let mut field = String::from("data");
        for segment in error.instance_path().iter() {
            match segment {
                jsonschema::paths::LocationSegment::Property(p) => {
                    field.push('.');
                    field.push_str(&p);
                }
                jsonschema::paths::LocationSegment::Index(i) => {
                    field.push_str(&format!("[{i}]"));
                }
            }
        }
        // A missing property is reported at its parent; name the property.
        if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
            && let Some(name) = property.as_str()
        {
            field.push('.');
            field.push_str(name);
        }
        Err(Error::bad_request(
            "schema_mismatch",
            format!("{field}: {error}"),
            Some(&field),
        ))
    }
}

/// The first `$ref` (or `$dynamicRef`) that is not a fragment of the
/// schema itself.
fn external_ref(schema: &Value) -> Option<String> {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                if matches!(key.as_str(), "$ref" | "$dynamicRef")
                    && let Value::String(target) = value
                    && !target.starts_with('#')
                {
                    return Some(target.clone());
                }
                if let Some(found) = external_ref(value) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(external_ref),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_contract_pattern() {
        for good in ["order.completed", "a.b", "iot.sensor_1.reading", "x9.y_"] {
            assert!(is_valid_name(good), "{good}");
        }
        let long = format!("a.{}", "b".repeat(63));
        for bad in [
            "order",
            "Order.completed",
            "order.",
            ".order",
            "order..x",
            "1a.b",
            "a.B",
            "a-b.c",
            "a.b*",
            "",
            long.as_str(),
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_schema_names_the_failing_path() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "required": ["temperature"],
            "properties": {
                "temperature": {"type": "number", "maximum": 100},
                "items": {"type": "array", "items": {"type": "object",
                    "properties": {"sku": {"type": "string"}}}}
            }
        }))
        .unwrap();
        assert!(schema.check(&json!({"temperature": 21.5})).is_ok());
        let cases = [
            (json!({"temperature": "hot"}), "data.temperature"),
            (json!({"temperature": 120}), "data.temperature"),
            (json!({}), "data.temperature"),
            (
                json!({"temperature": 1, "items": [{"sku": 5}]}),
                "data.items[0].sku",
            ),
        ];
        for (data, field) in cases {
            let e = schema.check(&data).unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.field(), Some(field), "{data}");
        }
    }

    #[test]
    fn an_invalid_or_reaching_schema_is_422() {
        for bad in [
            json!({"type": "no-such-type"}),
            json!({"$ref": "https://example.com/schema.json"}),
            json!({"properties": {"a": {"$ref": "file:///etc/passwd"}}}),
            json!({"minimum": "three"}),
        ] {
            let e = Schema::compile(&bad).unwrap_err();
            assert_eq!(e.status(), 422, "{bad}");
            assert_eq!(e.field(), Some("schema"));
        }
        let local =
            json!({"$defs": {"t": {"type": "number"}}, "properties": {"t": {"$ref": "#/$defs/t"}}});
        let schema = Schema::compile(&local).unwrap();
        assert!(schema.check(&json!({"t": "x"})).is_err());
    }

    #[test]
    fn a_spec_is_strict() {
        let spec =
            EventTypeSpec::from_json(br#"{"description":"d","schema":{"type":"object"}}"#).unwrap();
        assert_eq!(spec.description, "d");
        let e = EventTypeSpec::from_json(br#"{"descripton":"d"}"#).unwrap_err();
        assert_eq!(e.field(), Some("descripton"));
        let e = EventTypeSpec::from_json(br#"{"schema":"x"}"#).unwrap_err();
        assert_eq!(e.status(), 422);
    }
}
