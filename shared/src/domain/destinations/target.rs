//! An endpoint's destination: `http` (its `url`), `sqs` (`queue_url`),
//! `sns` (`topic_arn`) or `eventbridge` (`event_bus_name`, a name or a bus
//! ARN for another account's bus). Each target is checked at save: a
//! malformed queue URL, ARN or bus name is a `422` naming the field.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::common::url_policy::EndpointPolicy;
use crate::error::{Error, Result};

/// Where an endpoint's webhooks go besides HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Destination {
    /// The endpoint's `url`, by a signed POST (contract section 7).
    #[default]
    Http,
    Sqs {
        queue_url: String,
    },
    Sns {
        topic_arn: String,
    },
    Eventbridge {
        event_bus_name: String,
    },
}

/// Each type beyond HTTP and the field that names its target.
const TARGET_FIELDS: &[(&str, &str)] = &[
    ("sqs", "queue_url"),
    ("sns", "topic_arn"),
    ("eventbridge", "event_bus_name"),
];

/// The `type` values, as the API spells them.
pub const TYPES: &[&str] = &["http", "sqs", "sns", "eventbridge"];

impl Destination {
    pub fn type_name(&self) -> &'static str {
        match self {
            Destination::Http => "http",
            Destination::Sqs { .. } => "sqs",
            Destination::Sns { .. } => "sns",
            Destination::Eventbridge { .. } => "eventbridge",
        }
    }

    pub fn is_http(&self) -> bool {
        matches!(self, Destination::Http)
    }

    /// The field naming its target, and the target (`None` for HTTP).
    pub fn target(&self) -> Option<(&'static str, &str)> {
        match self {
            Destination::Http => None,
            Destination::Sqs { queue_url } => Some(("queue_url", queue_url)),
            Destination::Sns { topic_arn } => Some(("topic_arn", topic_arn)),
            Destination::Eventbridge { event_bus_name } => Some(("event_bus_name", event_bus_name)),
        }
    }

    /// The target field a type needs (`None` for HTTP, which needs `url`).
    pub fn field_of(type_name: &str) -> Option<&'static str> {
        TARGET_FIELDS
            .iter()
            .find(|(t, _)| *t == type_name)
            .map(|(_, f)| *f)
    }

    /// The type a target field belongs to (`queue_url` → `sqs`).
    pub fn type_of_field(field: &str) -> Option<&'static str> {
        TARGET_FIELDS
            .iter()
            .find(|(_, f)| *f == field)
            .map(|(t, _)| *t)
    }

    /// The destination of `type_name` at `target`, checked.
    pub fn parse(type_name: &str, target: &str, policy: &EndpointPolicy) -> Result<Destination> {
        Ok(match type_name {
            "sqs" => Destination::Sqs {
                queue_url: check_queue_url(target, policy)?,
            },
            "sns" => Destination::Sns {
                topic_arn: check_arn(target, "sns", "topic_arn")?.to_owned(),
            },
            "eventbridge" => Destination::Eventbridge {
                event_bus_name: check_bus(target)?.to_owned(),
            },
            _ => Destination::Http,
        })
    }

    /// The AWS region its target names, when it names one (a queue URL on
    /// an AWS host, an ARN); `None`: the client's own region.
    pub fn region(&self) -> Option<&str> {
        match self {
            Destination::Http => None,
            Destination::Sqs { queue_url } => {
                let host = queue_url.split("://").nth(1)?.split(['/', ':']).next()?;
                let mut labels = host.split('.');
                match (labels.next()?, labels.next()?) {
                    ("sqs", region) => Some(region),
                    (region, "queue") => Some(region),
                    _ => None,
                }
                .filter(|r| is_region(r))
            }
            Destination::Sns { topic_arn: arn }
            | Destination::Eventbridge {
                event_bus_name: arn,
            } => arn
                .starts_with("arn:")
                .then(|| arn.split(':').nth(3))
                .flatten(),
        }
    }

    /// Whether it is a FIFO queue or topic, which needs a message group
    /// and takes a deduplication id.
    pub fn is_fifo(&self) -> bool {
        match self {
            Destination::Sqs { queue_url: t } | Destination::Sns { topic_arn: t } => {
                t.ends_with(".fifo")
            }
            _ => false,
        }
    }
}

fn unprocessable(field: &str, why: String) -> Error {
    Error::unprocessable(
        "invalid_destination",
        format!("{field}: {why}"),
        Some(field),
    )
}

fn is_region(s: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-4
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A queue or topic name: 1–`max` of letters, digits, `-` and `_`, and
/// an optional `.fifo` (counted in the length).
fn is_queue_name(s: &str, max: usize) -> bool {
    let base = s.strip_suffix(".fifo").unwrap_or(s);
    !base.is_empty()
        && s.len() <= max
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `https://sqs.<region>.amazonaws.com/<account>/<queue>` (or the legacy
/// `<region>.queue.amazonaws.com`); where private addresses are allowed —
/// the local stack — any HTTP(S) host serving `/<account>/<queue>`.
fn check_queue_url(raw: &str, policy: &EndpointPolicy) -> Result<String> {
    let field = "queue_url";
    let url = Url::parse(raw).map_err(|e| {
        unprocessable(
            field,
            format!(
                "not a URL ({e}); expected https://sqs.<region>.amazonaws.com/<account>/<queue>"
            ),
        )
    })?;
    let host = url.host_str().unwrap_or_default();
    let aws_host = (host.starts_with("sqs.") || host.contains(".queue."))
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    match url.scheme() {
        "https" if aws_host || policy.allow_private => {}
        "http" if policy.allow_private => {}
        _ => {
            return Err(unprocessable(
                field,
                "must be an SQS queue URL: https://sqs.<region>.amazonaws.com/<account>/<queue>"
                    .into(),
            ));
        }
    }
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        [account, queue] if is_account(account) && is_queue_name(queue, 80) => {}
        _ => {
            return Err(unprocessable(
                field,
                "its path must be /<12-digit account>/<queue name> (letters, digits, - and _, \
                 at most 80, .fifo for a FIFO queue)"
                    .into(),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(unprocessable(
            field,
            "must have no query, fragment or user".into(),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `arn:<partition>:<service>:<region>:<account>:<name>`.
fn check_arn<'a>(raw: &'a str, service: &str, field: &str) -> Result<&'a str> {
    let parts: Vec<&str> = raw.split(':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, s, region, account, name] => {
            partition.starts_with("aws")
                && *s == service
                && is_region(region)
                && is_account(account)
                && is_queue_name(name, 256)
        }
        _ => false,
    };
    if ok {
        Ok(raw)
    } else {
        Err(unprocessable(
            field,
            format!(
                "must be an ARN: arn:aws:{service}:<region>:<12-digit account>:<name> \
                 (letters, digits, - and _, .fifo for FIFO)"
            ),
        ))
    }
}

/// A bus name (`default`, `orders`, a partner bus `aws.partner/…`), or a
/// bus ARN `arn:aws:events:<region>:<account>:event-bus/<name>` for a bus
/// in another account.
fn check_bus(raw: &str) -> Result<&str> {
    let field = "event_bus_name";
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 256
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    };
    let ok = if raw.starts_with("arn:") {
        match raw.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "events", region, account, resource] => {
                partition.starts_with("aws")
                    && is_region(region)
                    && is_account(account)
                    && resource.strip_prefix("event-bus/").is_some_and(name_ok)
            }
            _ => false,
        }
    } else {
        name_ok(raw)
    };
    if ok {
        Ok(raw)
    } else {
        Err(unprocessable(
            field,
            "must be an event bus name (letters, digits, / . _ -, at most 256) or its ARN \
             arn:aws:events:<region>:<account>:event-bus/<name>"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: EndpointPolicy = EndpointPolicy {
        allow_private: false,
    };
    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };

    #[test]
    fn queue_urls_are_aws_queues_or_local_ones() {
        let ok = Destination::parse(
            "sqs",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            &AWS,
        )
        .expect("valid");
        assert_eq!(ok.region(), Some("eu-west-1"));
        assert!(!ok.is_fifo());
        let fifo = Destination::parse(
            "sqs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo",
            &AWS,
        )
        .expect("valid");
        assert!(fifo.is_fifo());
        let local = Destination::parse("sqs", "http://127.0.0.1:4566/123456789012/q", &LOCAL)
            .expect("local");
        assert_eq!(local.region(), None);
        for bad in [
            "http://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            "https://example.com/123456789012/orders",
            "https://sqs.eu-west-1.amazonaws.com/1234/orders",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/or ders",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders/x",
            "not a url",
        ] {
            let e = Destination::parse("sqs", bad, &AWS).expect_err(bad);
            assert_eq!(e.field(), Some("queue_url"), "{bad}");
            assert_eq!(e.status(), 422);
        }
    }

    #[test]
    fn topic_and_bus_arns_are_checked() {
        let t = Destination::parse("sns", "arn:aws:sns:eu-west-1:123456789012:orders", &AWS)
            .expect("valid");
        assert_eq!(t.region(), Some("eu-west-1"));
        for bad in [
            "arn:aws:sqs:eu-west-1:123456789012:orders",
            "arn:aws:sns:eu-west-1:12345:orders",
            "arn:aws:sns:nowhere:123456789012:orders",
            "orders",
        ] {
            let e = Destination::parse("sns", bad, &AWS).expect_err(bad);
            assert_eq!(e.field(), Some("topic_arn"), "{bad}");
        }
        for good in [
            "default",
            "orders-bus",
            "aws.partner/inc.com/123/orders",
            "arn:aws:events:us-east-1:123456789012:event-bus/orders",
        ] {
            Destination::parse("eventbridge", good, &AWS).expect(good);
        }
        for bad in [
            "",
            "has space",
            "arn:aws:events:us-east-1:123456789012:rule/orders",
        ] {
            let e = Destination::parse("eventbridge", bad, &AWS).expect_err(bad);
            assert_eq!(e.field(), Some("event_bus_name"), "{bad}");
        }
    }
}
