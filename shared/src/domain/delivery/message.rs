//! The message on the delivery queue: which notification to deliver (and
//! its endpoint, so deliver reads both at once). Its shape is a rule of its
//! own, below the store that writes notifications and the queue that
//! carries it.

use serde::{Deserialize, Serialize};

/// The body of a delivery message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryMessage {
    pub account_id: String,
    pub notification_id: String,
    /// The endpoint of a webhook to a stored endpoint, so that deliver
    /// reads it in the same call as the notification. Absent, deliver
    /// reads it after the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The campaign of a campaign's message, read with the batch: a
    /// canceled campaign's message is not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
}

impl DeliveryMessage {
    /// The message for a notification known by id only.
    pub fn new(account_id: &str, notification_id: &str) -> DeliveryMessage {
        DeliveryMessage {
            account_id: account_id.to_owned(),
            notification_id: notification_id.to_owned(),
            endpoint_id: None,
            campaign_id: None,
        }
    }

    /// The message for `n`.
    pub fn of(n: &crate::domain::delivery::notification::Notification) -> DeliveryMessage {
        DeliveryMessage {
            endpoint_id: n
                .endpoint()
                .filter(|e| *e != crate::domain::common::ids::DEFAULT_ENDPOINT_ID)
                .map(str::to_owned),
            campaign_id: n.campaign_id.clone(),
            ..DeliveryMessage::new(&n.account_id, &n.notification_id)
        }
    }
}
