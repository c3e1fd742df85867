//! An endpoint's transformation: a jq program applied to the webhook's
//! JSON `{"id", "type", "created_at", "data"}`, whose single output — an
//! object, or a string sent as is — is the body sent. Compiled at save
//! and run bounded by `crate::jq`; what fails there fails the notification
//! for good, since the same program fails the same event every time.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::error::{Error, Result};

/// The longest program, in bytes.
pub const MAX_LEN: usize = 16 * 1024;

/// How a notification failed by its transformation begins.
pub const FAILED: &str = "the transformation failed";

/// The `transformation` field of a body: a program, or `null` for none.
pub fn parse(value: &serde_json::Value) -> Result<Option<String>> {
    let field = "transformation";
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) if s.len() > MAX_LEN => Err(Error::unprocessable(
            "invalid_transformation",
            format!("{field}: at most {} KiB of jq", MAX_LEN / 1024),
            Some(field),
        )),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        _ => Err(Error::bad_request(
            "invalid_field",
            format!("{field}: must be a jq program (a string), or null"),
            Some(field),
        )),
    }
}

/// The `422` for a program that does not compile.
pub fn not_compiling(error: &str) -> Error {
    Error::unprocessable(
        "invalid_transformation",
        format!("transformation: does not compile: {error}"),
        Some("transformation"),
    )
}

/// A notification's `last_error` when its transformation failed.
pub fn failure(error: &str) -> String {
    format!("{FAILED}: {error}")
}

/// A `POST /v1/endpoints/{id}/transformation/test` body: the event to run
/// on, and the draft to try instead of the endpoint's own program.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// The webhook JSON: the event as given, with an `id` and a
    /// `created_at` when it has none, as a delivered webhook would.
    pub event: Value,
    /// `None`: the endpoint's own program.
    pub draft: Option<String>,
}

impl Trial {
    pub fn from_json(body: &[u8], now: DateTime<Utc>) -> Result<Trial> {
        let mut event = None;
        let mut draft = None;
        for (key, value) in crate::domain::json_object(body)? {
            match key.as_str() {
                "event" => event = Some(webhook_json(value, now)?),
                "transformation" => draft = parse(&value)?,
                other => {
                    return Err(Error::bad_request(
                        "unknown_field",
                        format!("unknown field `{other}`; expected `event` and `transformation`"),
                        Some(other),
                    ));
                }
            }
        }
        let event = event.ok_or_else(|| {
            Error::bad_request("missing_field", "event: is required", Some("event"))
        })?;
        Ok(Trial { event, draft })
    }

    /// The program to run: the draft, or the endpoint's `stored` one.
    pub fn program<'a>(&'a self, stored: Option<&'a str>) -> Result<&'a str> {
        self.draft.as_deref().or(stored).ok_or_else(|| {
            Error::unprocessable(
                "no_transformation",
                "transformation: this endpoint has none; give one to try",
                Some("transformation"),
            )
        })
    }
}

fn webhook_json(event: Value, now: DateTime<Utc>) -> Result<Value> {
    let Value::Object(mut event) = event else {
        return Err(Error::bad_request(
            "invalid_field",
            "event: must be an object: the webhook's JSON {\"id\", \"type\", \"created_at\", \"data\"}",
            Some("event"),
        ));
    };
    event.entry("id").or_insert_with(|| "evt_test".into());
    event
        .entry("created_at")
        .or_insert_with(|| now.to_rfc3339_opts(SecondsFormat::Millis, true).into());
    Ok(Value::Object(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_program_is_a_bounded_string_or_null() {
        assert_eq!(parse(&json!(null)).expect("null"), None);
        assert_eq!(parse(&json!("  ")).expect("blank"), None);
        assert_eq!(
            parse(&json!("{id}")).expect("program"),
            Some("{id}".to_owned())
        );
        let e = parse(&json!(7)).expect_err("number");
        assert_eq!((e.status(), e.field()), (400, Some("transformation")));
        let long = ".".repeat(MAX_LEN + 1);
        let e = parse(&json!(long)).expect_err("long");
        assert_eq!((e.status(), e.field()), (422, Some("transformation")));
    }

    #[test]
    fn a_trial_fills_the_webhook_and_picks_its_program() {
        let now = Utc::now();
        let t = Trial::from_json(br#"{"event":{"type":"a.b","data":{}}}"#, now).expect("trial");
        assert_eq!(t.event["id"], "evt_test");
        assert!(t.event["created_at"].is_string());
        assert_eq!(t.program(Some("{id}")).expect("stored"), "{id}");
        assert_eq!(t.program(None).expect_err("none").status(), 422);
        let t = Trial::from_json(br#"{"event":{"id":"e1"},"transformation":".id"}"#, now)
            .expect("draft");
        assert_eq!(
            (t.event["id"].as_str(), t.program(Some("{id}")).ok()),
            (Some("e1"), Some(".id"))
        );
        for (body, field) in [
            (&br#"{"event":5}"#[..], "event"),
            (br#"{}"#, "event"),
            (br#"{"event":{},"x":1}"#, "x"),
        ] {
            let e = Trial::from_json(body, now).expect_err("refused");
            assert_eq!((e.status(), e.field()), (400, Some(field)));
        }
    }
}
