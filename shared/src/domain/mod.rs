//! INC's rules as pure code: no I/O here, so every rule has a plain unit test.

pub mod alerts;
pub mod channel;
pub mod channels;
pub mod delivery;
pub mod direct_message;
pub mod endpoint;
pub mod endpoint_input;
pub mod endpoint_stats;
pub mod event;
pub mod event_types;
pub mod genio;
pub mod json;
pub mod keys;
pub mod messages;
pub mod notification;
pub mod outbox;
pub mod payment;
pub mod plan;
pub mod quiet_hours;
pub mod rate_limit;
pub mod receipts;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod suppression;
pub mod templates;
pub mod timeline;

pub use channel::{Channel, CustomerChannel};
pub use delivery::{Decision, Outcome};
pub use endpoint::{DEFAULT_ENDPOINT_ID, Endpoint, Target};
pub use endpoint_input::{EndpointPatch, EndpointSpec};
pub use event::{CustomEvent, Event, EventKind, IpnType, SmsResult};
pub use event_types::{EventType, EventTypeSpec, Schema};
pub use notification::{Attempt, Notification, NotificationDraft, Payload, Status, WebhookPayload};
pub use payment::{PaymentChange, PaymentState, Transaction};
pub use retry::RetrySchedule;
pub use rules::SkipReason;
pub use settings::{EndpointPolicy, Settings, SettingsPatch, WebhookFormat};

use crate::error::Error;

/// Parses a body that must be a JSON object, refusing repeated keys.
pub use json::object as json_object;

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
