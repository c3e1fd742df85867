//! Replies (contract section 13): an inbound SMS or WhatsApp message from
//! an address INC messaged in the last 30 days is the event
//! `message.replied`, linked to the latest message sent to it; a reply to
//! a campaign's message is counted in that run and listed with the
//! campaign. `STOP` is an opt-out (section 10), never a reply.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::Notification;

/// The event a reply makes.
pub const REPLIED: &str = "message.replied";
/// How long after a message INC sent a reply is linked to it.
pub const WINDOW: Duration = Duration::days(30);
/// Longest reply text kept.
pub const MAX_TEXT: usize = 2_000;

/// An inbound message, as a provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub channel: CustomerChannel,
    pub from: String,
    pub text: String,
    pub received_at: DateTime<Utc>,
    /// The provider's own id of it, when it gives one (WhatsApp's wamid);
    /// else what identifies a repeat of the same report.
    pub provider_id: String,
}

impl Inbound {
    /// A stable id of this reply, the same for a repeated report: the
    /// idempotency key of its event and its entry.
    pub fn reply_id(&self, account_id: &str) -> String {
        let digest = Sha256::digest(
            format!(
                "{account_id}\n{}\n{}",
                self.channel.as_str(),
                self.provider_id
            )
            .as_bytes(),
        );
        format!("rpl_{}", &hex::encode(digest)[..32])
    }
}

/// A reply linked to what it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub account_id: String,
    pub reply_id: String,
    pub channel: CustomerChannel,
    pub from: String,
    pub text: String,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// The notification id of the message it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl Reply {
    /// `inbound`, linked to `answered` (the latest message INC sent to its
    /// address) if that was sent within the window.
    pub fn link(account_id: &str, inbound: &Inbound, answered: Option<&Notification>) -> Reply {
        let answered = answered.filter(|n| inbound.received_at - n.created_at <= WINDOW);
        let mut text = inbound.text.clone();
        if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
            text.truncate(cut);
        }
        Reply {
            account_id: account_id.to_owned(),
            reply_id: inbound.reply_id(account_id),
            channel: inbound.channel,
            from: inbound.from.clone(),
            text,
            received_at: inbound.received_at,
            recipient_id: answered.and_then(|n| n.recipient_id.clone()),
            campaign_id: answered.and_then(|n| n.campaign_id.clone()),
            run: answered.and_then(|n| n.run),
            message_id: answered.map(|n| n.notification_id.clone()),
        }
    }

    /// The event's `data`, and how the replies route lists it.
    pub fn view(&self) -> Value {
        json!({
            "id": self.reply_id,
            "channel": self.channel,
            "from": self.from,
            "text": self.text,
            "received_at": self.received_at,
            "recipient_id": self.recipient_id,
            "campaign_id": self.campaign_id,
            "run": self.run,
            "message_id": self.message_id,
        })
    }
}

/// Whether an inbound text is an opt-out rather than a reply.
pub fn is_stop(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("stop")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::notification::{NotificationDraft, Payload};

    fn sent(days_ago: i64) -> Notification {
        let mut n = Notification::create(
            "acc",
            "survey",
            "campaign",
            NotificationDraft::new(Payload::Sms {
                to: "+393331112222".into(),
                text: "Rate us 1-5".into(),
            }),
            None,
            Utc::now() - Duration::days(days_ago),
        );
        n.campaign_id = Some("survey".into());
        n.run = Some(1);
        n.recipient_id = Some("ada".into());
        n
    }

    fn inbound(text: &str) -> Inbound {
        Inbound {
            channel: CustomerChannel::Sms,
            from: "+393331112222".into(),
            text: text.into(),
            received_at: Utc::now(),
            provider_id: "form-hash-1".into(),
        }
    }

    #[test]
    fn a_reply_is_linked_to_a_message_of_the_last_thirty_days() {
        let recent = sent(2);
        let reply = Reply::link("acc", &inbound("5"), Some(&recent));
        assert_eq!(reply.campaign_id.as_deref(), Some("survey"));
        assert_eq!(reply.recipient_id.as_deref(), Some("ada"));
        assert_eq!(
            reply.message_id.as_deref(),
            Some(recent.notification_id.as_str())
        );
        let old = Reply::link("acc", &inbound("5"), Some(&sent(31)));
        assert_eq!((old.campaign_id, old.message_id), (None, None));
        assert_eq!(
            reply.reply_id,
            inbound("4").reply_id("acc"),
            "the same report, the same id"
        );
        assert_ne!(reply.reply_id, inbound("5").reply_id("other"));
    }

    #[test]
    fn stop_is_not_a_reply() {
        assert!(is_stop(" Stop "));
        assert!(!is_stop("stop it"));
    }
}
