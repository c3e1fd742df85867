//! The transaction INC keeps from a payment's changes: its latest state,
//! its customer's contact, and every change it went through, numbered.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::common::channel::CustomerChannel;
use crate::domain::events::payment::{PaymentChange, PaymentState};

/// One state change a transaction went through, as its timeline and the
/// `payment.state_changed` webhook report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: PaymentState,
    /// When INC accepted the change.
    pub at: DateTime<Utc>,
    pub event_id: String,
    /// 1 for the transaction's first accepted change, then +1 per accepted
    /// change: no gaps, no repeats. (0 only in changes stored before
    /// sequences existed; [`Transaction::sequence_of`] numbers those.)
    #[serde(default)]
    pub sequence: u64,
    /// The transaction's state before this change; `None` for the first.
    #[serde(default)]
    pub previous_state: Option<PaymentState>,
    /// When the payment system saw the change, if the event said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Older than the transaction's latest change: recorded and notified,
    /// but it did not move the current state back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl StateChange {
    /// The time the change is ordered by: when it occurred, if known, else
    /// when INC accepted it.
    pub fn effective_at(&self) -> DateTime<Utc> {
        self.occurred_at.unwrap_or(self.at)
    }
}

/// A payment as INC knows it: its latest state and customer contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub account_id: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    pub state: PaymentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_first_name: Option<String>,
    pub language: String,
    #[serde(default)]
    pub notifications: BTreeMap<CustomerChannel, Vec<PaymentState>>,
    #[serde(default)]
    pub history: Vec<StateChange>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write: a write is conditional on the version it read,
    /// so two events of one transaction at once cannot overwrite each other.
    #[serde(default)]
    pub version: u64,
}

impl Transaction {
    /// The transaction after `change`, with the change appended to its
    /// history (the last entry, which the webhook reports).
    ///
    /// A change that occurred before the transaction's latest one is
    /// *stale*: it is recorded and numbered, but neither moves the state
    /// back nor overwrites contact data a newer change set (it only fills
    /// fields still empty). Otherwise a field the event carries replaces
    /// the stored one (so a corrected phone number takes effect), and a
    /// field it leaves out keeps its value.
    pub fn apply(
        previous: Option<Transaction>,
        account_id: &str,
        event_id: &str,
        change: &PaymentChange,
        now: DateTime<Utc>,
    ) -> Transaction {
        let previous_state = previous.as_ref().map(|t| t.state);
        let mut t = previous.unwrap_or_else(|| Transaction {
            account_id: account_id.to_owned(),
            session_id: change.session_id.clone(),
            order_no: None,
            state: change.state,
            amount: None,
            currency_code: None,
            customer_email: None,
            customer_phone: None,
            customer_first_name: None,
            language: "en".into(),
            notifications: BTreeMap::new(),
            history: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        });
        let entry = StateChange {
            state: change.state,
            at: now,
            event_id: event_id.to_owned(),
            sequence: t.history.len() as u64 + 1,
            previous_state,
            occurred_at: change.occurred_at,
            stale: false,
        };
        // Only a change that says when it occurred can be older than the
        // latest: without `occurred_at`, changes are ordered as accepted.
        let latest = t.history.iter().map(StateChange::effective_at).max();
        let stale = change
            .occurred_at
            .is_some_and(|at| latest.is_some_and(|latest| at < latest));
        // A newer change's data wins; a stale one only fills what is empty.
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if value.is_some() && (!stale || field.is_none()) {
                field.clone_from(value);
            }
        };
        set(&mut t.order_no, &change.order_no);
        set(&mut t.amount, &change.amount);
        set(&mut t.currency_code, &change.currency_code);
        set(&mut t.customer_email, &change.customer_email);
        set(&mut t.customer_phone, &change.customer_phone);
        set(&mut t.customer_first_name, &change.customer_first_name);
        if !stale {
            if let Some(lang) = &change.language {
                t.language.clone_from(lang);
            }
            if let Some(n) = &change.notifications {
                t.notifications.clone_from(n);
            }
            t.state = change.state;
        }
        t.updated_at = now;
        t.version += 1;
        t.history.push(StateChange { stale, ..entry });
        t
    }

    /// The change this write appended (what the webhook reports).
    pub fn last_change(&self) -> Option<&StateChange> {
        self.history.last()
    }

    /// The sequence number of the history entry at `index`: its own, or
    /// its place for entries stored before sequences existed.
    pub fn sequence_of(&self, index: usize) -> u64 {
        match self.history.get(index) {
            Some(c) if c.sequence > 0 => c.sequence,
            _ => index as u64 + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::payment::tests::seed;
    use serde_json::json;

    #[test]
    fn a_later_event_updates_contact_and_keeps_what_it_leaves_out() {
        let first = PaymentChange::from_value(seed()).unwrap();
        let now = Utc::now();
        let t = Transaction::apply(None, "acc", "e1", &first, now);
        let second = PaymentChange::from_value(
            json!({"session_id": "s_123", "state": "refunded", "customer_phone": "+96511111111"}),
        )
        .unwrap();
        let t = Transaction::apply(Some(t), "acc", "e2", &second, now);
        assert_eq!(t.state, PaymentState::Refunded);
        assert_eq!(t.customer_phone.as_deref(), Some("+96511111111"));
        assert_eq!(t.customer_email.as_deref(), Some("a@example.com"));
        assert_eq!(t.order_no.as_deref(), Some("example_order_no"));
        assert_eq!(t.history.len(), 2);
        assert_eq!(t.notifications.len(), 3);
    }

    #[test]
    fn changes_are_numbered_without_gaps_and_name_the_state_before() {
        let now = Utc::now();
        let mut t = None;
        for (i, state) in ["created", "authorized", "captured"].iter().enumerate() {
            let change =
                PaymentChange::from_value(json!({"session_id": "s", "state": state})).unwrap();
            let next = Transaction::apply(t, "acc", &format!("e{i}"), &change, now);
            let last = next.last_change().unwrap();
            assert_eq!(last.sequence, i as u64 + 1);
            assert_eq!(next.version, i as u64 + 1);
            assert_eq!(
                last.previous_state.map(PaymentState::as_str),
                [None, Some("created"), Some("authorized")][i]
            );
            t = Some(next);
        }
    }

    #[test]
    fn an_older_change_is_recorded_as_stale_and_moves_nothing_back() {
        let now = Utc::now();
        let change = |v: serde_json::Value| PaymentChange::from_value(v).unwrap();
        let captured = change(json!({"session_id": "s", "state": "captured",
            "occurred_at": "2026-01-01T10:00:02Z", "customer_phone": "+96511111111"}));
        let authorized = change(json!({"session_id": "s", "state": "authorized",
            "occurred_at": "2026-01-01T10:00:01Z", "customer_phone": "+96522222222",
            "customer_email": "late@example.com"}));
        let t = Transaction::apply(None, "acc", "e1", &captured, now);
        let t = Transaction::apply(Some(t), "acc", "e2", &authorized, now);
        let last = t.last_change().unwrap();
        assert!(last.stale);
        assert_eq!((last.sequence, last.state), (2, PaymentState::Authorized));
        assert_eq!(last.previous_state, Some(PaymentState::Captured));
        assert_eq!(
            t.state,
            PaymentState::Captured,
            "the state is not moved back"
        );
        assert_eq!(
            t.customer_phone.as_deref(),
            Some("+96511111111"),
            "newer contact kept"
        );
        assert_eq!(
            t.customer_email.as_deref(),
            Some("late@example.com"),
            "an empty field is filled"
        );
        // A change without a time is ordered as accepted, never stale, even
        // if INC's clock reads earlier than a change it already has.
        let untimed = change(json!({"session_id": "s", "state": "refunded"}));
        let earlier = now - chrono::Duration::days(365 * 100);
        let t = Transaction::apply(Some(t), "acc", "e3", &untimed, earlier);
        assert!(!t.last_change().unwrap().stale);
        assert_eq!(t.state, PaymentState::Refunded);
    }
}
