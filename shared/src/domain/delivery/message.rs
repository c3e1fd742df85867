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

/// Most entries of one `SendMessageBatch` (SQS's limit).
pub const BATCH_ENTRIES: usize = 10;

/// Many delivery messages in one queue message: an event's fan-out beyond
/// one `SendMessageBatch`. Deliver queues each of them as its own message
/// and sends nothing itself; a bundle handled twice only queues
/// duplicates, which deliver sends once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub bundle: Vec<DeliveryMessage>,
}

/// A body of the delivery queue: one notification's message, or a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum QueueBody {
    One(DeliveryMessage),
    Bundle(Bundle),
}

impl QueueBody {
    /// Reads a body; the error is why it is not a delivery message.
    pub fn parse(body: &str) -> Result<QueueBody, String> {
        match serde_json::from_str::<DeliveryMessage>(body) {
            Ok(one) => Ok(QueueBody::One(one)),
            Err(e) => serde_json::from_str::<Bundle>(body)
                .map(QueueBody::Bundle)
                .map_err(|_| e.to_string()),
        }
    }
}

/// An event's messages as one `SendMessageBatch` carries them: up to
/// [`BATCH_ENTRIES`] as they are; beyond, the first nine as they are and
/// the rest in one [`Bundle`] — so queueing an event's fan-out is one SQS
/// call whatever its width, and the first nine go without the bundle's
/// extra hop.
pub fn bundled(mut messages: Vec<DeliveryMessage>) -> (Vec<DeliveryMessage>, Option<Bundle>) {
    if messages.len() <= BATCH_ENTRIES {
        return (messages, None);
    }
    let rest = messages.split_off(BATCH_ENTRIES - 1);
    (messages, Some(Bundle { bundle: rest }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(n: usize) -> Vec<DeliveryMessage> {
        (0..n)
            .map(|i| DeliveryMessage::new("acc_1", &format!("ntf_{i}")))
            .collect()
    }

    #[test]
    fn a_fan_out_fits_one_batch_of_sqs_entries() {
        for n in [0, 1, 10] {
            let (direct, bundle) = bundled(messages(n));
            assert_eq!((direct.len(), bundle), (n, None));
        }
        for n in [11, 50, 99] {
            let (direct, bundle) = bundled(messages(n));
            let bundle = bundle.expect("a bundle");
            assert_eq!(direct.len() + 1, BATCH_ENTRIES);
            assert_eq!(direct.len() + bundle.bundle.len(), n);
            // Every message once, in order.
            let all: Vec<DeliveryMessage> = direct.into_iter().chain(bundle.bundle).collect();
            assert_eq!(all, messages(n));
        }
    }

    #[test]
    fn a_body_is_one_message_or_a_bundle_and_anything_else_says_why_not() {
        let one = DeliveryMessage::new("acc_1", "ntf_1");
        let body = serde_json::to_string(&one).expect("json");
        assert_eq!(QueueBody::parse(&body), Ok(QueueBody::One(one)));
        let bundle = Bundle {
            bundle: messages(3),
        };
        let body = serde_json::to_string(&bundle).expect("json");
        assert_eq!(QueueBody::parse(&body), Ok(QueueBody::Bundle(bundle)));
        let why = QueueBody::parse(r#"{"notification_id": "ntf_1"}"#).expect_err("poison");
        assert!(why.contains("account_id"), "{why}");
        assert!(QueueBody::parse("not json").is_err());
    }
}
