//! INC's rules as pure code: no I/O here, so every rule has a plain unit test.

pub mod channels;
pub mod event;
pub mod genio;
pub mod keys;
pub mod messages;
pub mod notification;
pub mod payment;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod timeline;

pub use event::{Event, EventKind, IpnType, SmsResult};
pub use notification::{
    Attempt, Channel, Notification, NotificationDraft, Outcome, Payload, Status, WebhookFormat,
    WebhookPayload,
};
pub use payment::{PaymentChange, PaymentState, Transaction};
pub use retry::RetrySchedule;
pub use rules::{CustomerChannel, SkipReason};
pub use settings::{EndpointPolicy, Settings, SettingsPatch};

use crate::error::Error;

/// Parses a body that must be a JSON object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_request(
            "invalid_body",
            "the body must be a JSON object",
            None,
        )),
        Err(e) => Err(Error::bad_request(
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
            None,
        )),
    }
}

/// An RFC 3339 time given as `field`, or a `400` naming it with `code`.
pub fn parse_time(
    code: &'static str,
    field: &str,
    value: &str,
) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            Error::bad_request(
                code,
                format!("{field}: must be an RFC 3339 time, such as 2025-01-30T22:00:00Z"),
                Some(field),
            )
        })
}
