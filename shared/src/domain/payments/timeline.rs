//! One timeline per order: the transaction's state changes, and every
//! notification it caused on every channel with each of its attempts, in
//! time order — what no peer shows in one place.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::common::channel::Channel;
use crate::domain::delivery::notification::Notification;
use crate::domain::events::payment::PaymentState;
use crate::domain::messages::receipts::ReceiptStatus;
use crate::domain::payments::transaction::Transaction;

/// One thing that happened to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// An event moved the payment to `state`.
    StateChanged {
        at: DateTime<Utc>,
        state: PaymentState,
        event_id: String,
        sequence: u64,
        previous_state: Option<PaymentState>,
        #[serde(skip_serializing_if = "Option::is_none")]
        occurred_at: Option<DateTime<Utc>>,
        /// Older than the latest change: it did not move the state back.
        stale: bool,
    },
    /// A notification was created (queued).
    Notification {
        at: DateTime<Utc>,
        notification_id: String,
        channel: Channel,
        event_id: String,
        /// An SMS standing in for a failed WhatsApp message: that message.
        #[serde(skip_serializing_if = "Option::is_none")]
        fallback_of: Option<String>,
    },
    /// One attempt to send a notification.
    Attempt {
        at: DateTime<Utc>,
        notification_id: String,
        channel: Channel,
        number: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        status_code: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A provider's receipt of a customer message (contract section 10).
    Receipt {
        at: DateTime<Utc>,
        notification_id: String,
        channel: Channel,
        status: ReceiptStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

impl Entry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::StateChanged { at, .. }
            | Entry::Notification { at, .. }
            | Entry::Attempt { at, .. }
            | Entry::Receipt { at, .. } => *at,
        }
    }
}

/// The order's timeline, oldest first; at equal times a state change comes
/// before what it caused, and a notification before its attempts.
///
/// An order number with no payment (only direct messages that name it as
/// their `reference`) has no state changes.
pub fn timeline(transaction: Option<&Transaction>, notifications: &[Notification]) -> Vec<Entry> {
    let mut entries: Vec<(u8, Entry)> = transaction
        .into_iter()
        .flat_map(|t| t.history.iter().enumerate().map(move |(i, c)| (t, i, c)))
        .map(|(transaction, i, c)| {
            (
                0,
                Entry::StateChanged {
                    at: c.at,
                    state: c.state,
                    event_id: c.event_id.clone(),
                    sequence: transaction.sequence_of(i),
                    previous_state: c.previous_state,
                    occurred_at: c.occurred_at,
                    stale: c.stale,
                },
            )
        })
        .collect();
    for n in notifications {
        entries.push((
            1,
            Entry::Notification {
                at: n.created_at,
                notification_id: n.notification_id.clone(),
                channel: n.channel,
                event_id: n.event_id.clone(),
                fallback_of: n.fallback_of.clone(),
            },
        ));
        entries.extend(n.attempts.iter().map(|a| {
            (
                2,
                Entry::Attempt {
                    at: a.at,
                    notification_id: n.notification_id.clone(),
                    channel: n.channel,
                    number: a.number,
                    status_code: a.status_code,
                    error: a.error.clone(),
                },
            )
        }));
        if let Some(r) = &n.receipt {
            entries.push((
                3,
                Entry::Receipt {
                    at: r.at,
                    notification_id: n.notification_id.clone(),
                    channel: n.channel,
                    status: r.status,
                    detail: r.detail.clone(),
                },
            ));
        }
    }
    entries.sort_by_key(|(rank, e)| (e.at(), *rank));
    entries.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::notification::{Attempt, NotificationDraft, Payload};
    use crate::domain::payments::transaction::StateChange;

    #[test]
    fn states_notifications_and_attempts_in_time_order() {
        let t0 = Utc::now();
        let s = |secs| t0 + chrono::Duration::seconds(secs);
        let mut n = Notification::create(
            "acc",
            "evt-2",
            "payment.state_changed",
            NotificationDraft::new(Payload::Sms {
                to: "+1".into(),
                text: "paid".into(),
            }),
            Some(("sess".into(), None)),
            s(10),
        );
        let attempt = |number, at, code| Attempt {
            status_code: Some(code),
            latency_ms: 1,
            ..Attempt::begin(number, at, "")
        };
        n.attempts = vec![attempt(2, s(30), 200), attempt(1, s(10), 500)];
        let json: serde_json::Value = serde_json::json!({
            "account_id": "acc", "session_id": "sess", "state": "paid", "language": "en",
            "created_at": s(0), "updated_at": s(10), "history": []});
        let mut t: Transaction = serde_json::from_value(json).unwrap();
        t.history = vec![
            StateChange {
                state: PaymentState::Created,
                at: s(0),
                event_id: "evt-1".into(),
                sequence: 1,
                previous_state: None,
                occurred_at: None,
                stale: false,
            },
            StateChange {
                state: PaymentState::Paid,
                at: s(10),
                event_id: "evt-2".into(),
                sequence: 2,
                previous_state: Some(PaymentState::Created),
                occurred_at: None,
                stale: false,
            },
        ];
        let kinds: Vec<(String, i64)> = timeline(Some(&t), &[n])
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                (
                    v["kind"].as_str().unwrap().to_owned(),
                    (e.at() - t0).num_seconds(),
                )
            })
            .collect();
        let expected = [
            ("state_changed", 0),
            ("state_changed", 10),
            ("notification", 10),
            ("attempt", 10),
            ("attempt", 30),
        ];
        assert_eq!(kinds, expected.map(|(k, s)| (k.to_owned(), s)));
    }
}
