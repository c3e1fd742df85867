//! INC's rules as pure code: no I/O here, so every rule has a plain unit
//! test. One folder per concept, each saying in its module doc what it owns.
//!
//! # The rule
//! Concepts depend one way, in the order of [`CONCEPTS`]: a concept uses
//! only the ones before it, never one after (and the files inside a concept
//! form no circle either). `shared/tests/layout.rs` fails on a break.
//!
//! | concept | owns |
//! | --- | --- |
//! | [`common`] | what every rule speaks in: strict JSON, ids and keys, the channel names, addresses, times, the URL policy |
//! | [`events`] | what comes in: events and their validation, the `payment.state_changed` data, the event-type catalog with INC's own types, Genio's IPN form |
//! | [`accounts`] | an account's settings: the Genio toggles, customer-channel providers, quiet hours, where alerts go |
//! | [`delivery`] | the notification and its status, receipt and staging; how an attempt's answer is read, the retry schedule, the one stop-or-retry decision; the outbox and the delivery message |
//! | [`destinations`] | what a webhook can land in besides an HTTP URL (an SQS queue, an SNS topic, an EventBridge bus), each target checked, and the jq transformation's rules |
//! | [`endpoints`] | where webhooks go: endpoints and their input, filters, signing, rate limits, stats, the alerts about them |
//! | [`recipients`] | the people a merchant talks to: recipients, their preferences per category and channel, lists (sharded members, exact counts) |
//! | [`messages`] | customer messages: templates, direct messages, opt-outs, the providers' receipts |
//! | [`apps`] | mobile push and the in-app feed: devices, FCM's and APNs' rules, feed items and their frames, recipient tokens |
//! | [`campaigns`] | one message to every member of a list, once each per run: the request, statuses, recurrence, runs and their sharded counts, what each member gets, replies |
//! | [`payments`] | the state × channel rules, the payment message texts, planning what an event causes, the transaction and its timeline |

/// The concepts, lowest first: each may use only those before it.
pub const CONCEPTS: &[&str] = &[
    "common",
    "events",
    "accounts",
    "delivery",
    "destinations",
    "endpoints",
    "recipients",
    "messages",
    "apps",
    "campaigns",
    "payments",
];

pub mod accounts;
pub mod apps;
pub mod campaigns;
pub mod common;
pub mod delivery;
pub mod destinations;
pub mod endpoints;
pub mod events;
pub mod messages;
pub mod payments;
pub mod recipients;

pub use accounts::settings::{Settings, SettingsPatch, WebhookFormat};
pub use common::channel::{Channel, CustomerChannel};
pub use common::url_policy::EndpointPolicy;
pub use delivery::decision::Decision;
pub use delivery::notification::{
    Attempt, Notification, NotificationDraft, Payload, Status, WebhookPayload,
};
pub use delivery::outcome::AttemptOutcome;
pub use delivery::retry::RetrySchedule;
pub use endpoints::endpoint::{DEFAULT_ENDPOINT_ID, Endpoint, Target};
pub use endpoints::input::{EndpointPatch, EndpointSpec};
pub use events::catalog::{EventType, EventTypeSpec, Schema};
pub use events::event::{CustomEvent, Event, EventKind, IpnType, SmsResult};
pub use events::payment::{PaymentChange, PaymentState};
pub use payments::rules::SkipReason;
pub use payments::transaction::Transaction;

/// Parses a body that must be a JSON object, refusing repeated keys.
pub use common::json::object as json_object;
/// An RFC 3339 time given as `field`, or a `400` naming it with `code`.
pub use common::time::parse_time;
