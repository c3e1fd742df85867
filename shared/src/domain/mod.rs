//! INC's rules as pure code: no I/O here, so every rule has a plain unit test.

pub mod event;
pub mod genio;
pub mod keys;
pub mod notification;
pub mod retry;
pub mod settings;
pub mod signing;

pub use event::{Event, EventKind, IpnType, SmsResult};
pub use notification::{
    Attempt, Channel, Notification, NotificationDraft, Outcome, Status, WebhookFormat,
    WebhookPayload,
};
pub use retry::RetrySchedule;
pub use settings::{EndpointPolicy, Settings, SettingsPatch};
