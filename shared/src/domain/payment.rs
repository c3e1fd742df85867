//! Payments (Ottu-style transactions): their states, the
//! `payment.state_changed` event, and the transaction INC keeps from it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::channel::CustomerChannel;
use crate::error::{Error, Result};

/// A payment's state. `error` is read as `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    Created,
    Paid,
    Canceled,
    Failed,
    Expired,
    Authorized,
    Voided,
    Refunded,
    Captured,
}

impl PaymentState {
    pub const ALL: [PaymentState; 9] = [
        PaymentState::Created,
        PaymentState::Paid,
        PaymentState::Canceled,
        PaymentState::Failed,
        PaymentState::Expired,
        PaymentState::Authorized,
        PaymentState::Voided,
        PaymentState::Refunded,
        PaymentState::Captured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Paid => "paid",
            PaymentState::Canceled => "canceled",
            PaymentState::Failed => "failed",
            PaymentState::Expired => "expired",
            PaymentState::Authorized => "authorized",
            PaymentState::Voided => "voided",
            PaymentState::Refunded => "refunded",
            PaymentState::Captured => "captured",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        if s == "error" {
            return Some(PaymentState::Failed);
        }
        PaymentState::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The languages INC ships message templates in.
pub const LANGUAGES: &[&str] = &["en", "ar"];

/// The data of a `payment.state_changed` event, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChange {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Channel → the states it should notify; absent keeps what is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<BTreeMap<CustomerChannel, Vec<PaymentState>>>,
    /// When the payment system saw the change (`data.occurred_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The raw JSON shape, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    session_id: String,
    #[serde(default)]
    order_no: Option<String>,
    state: String,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    currency_code: Option<String>,
    #[serde(default)]
    customer_email: Option<String>,
    #[serde(default)]
    customer_phone: Option<String>,
    #[serde(default)]
    customer_first_name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    notifications: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    occurred_at: Option<String>,
}

fn invalid(field: &str, why: &str) -> Error {
    let field = format!("data.{field}");
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(&field))
}

/// Checks a session id or order number: 1–128 printable characters.
pub fn check_reference(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().count() > 128 || value.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "must be 1 to 128 printable characters"));
    }
    Ok(())
}

/// An E.164 number: `+` and 8 to 15 digits.
pub fn is_phone(value: &str) -> bool {
    value
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A plain address: one `@`, a dotted domain, no spaces or control
/// characters, at most 254 characters.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
        && !domain.contains('@')
}

impl PaymentChange {
    /// Validates the `data` of a `payment.state_changed` event.
    pub fn from_value(data: serde_json::Value) -> Result<PaymentChange> {
        let raw: RawChange = serde_path_to_error::deserialize(data).map_err(|e| {
            let inner = e.inner().to_string();
            let field = match inner
                .strip_prefix("missing field `")
                .or_else(|| inner.strip_prefix("unknown field `"))
            {
                Some(rest) => rest.split('`').next().unwrap_or_default().to_owned(),
                None => e.path().to_string(),
            };
            invalid(&field, &inner)
        })?;
        check_reference("session_id", &raw.session_id)?;
        if let Some(order_no) = &raw.order_no {
            check_reference("order_no", order_no)?;
        }
        let state = PaymentState::parse(&raw.state)
            .ok_or_else(|| invalid("state", "must be one of created, paid, canceled, failed, expired, authorized, voided, refunded, captured (or error)"))?;
        if let Some(amount) = &raw.amount {
            let ok = !amount.is_empty()
                && amount.len() <= 32
                && amount.split_once('.').map_or(
                    amount.bytes().all(|b| b.is_ascii_digit()),
                    |(i, f)| {
                        !i.is_empty()
                            && i.bytes().all(|b| b.is_ascii_digit())
                            && f.bytes().all(|b| b.is_ascii_digit())
                    },
                );
            if !ok {
                return Err(invalid(
                    "amount",
                    "must be a decimal number written as a string, such as \"19.000\"",
                ));
            }
        }
        if let Some(code) = &raw.currency_code
            && (code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(invalid(
                "currency_code",
                "must be an ISO 4217 code such as KWD",
            ));
        }
        if let Some(email) = raw.customer_email.as_deref().filter(|e| !e.is_empty())
            && !is_email(email)
        {
            return Err(invalid("customer_email", "must be an email address"));
        }
        if let Some(phone) = raw.customer_phone.as_deref().filter(|p| !p.is_empty())
            && !is_phone(phone)
        {
            return Err(invalid(
                "customer_phone",
                "must be an E.164 number such as +96599999999",
            ));
        }
        if let Some(name) = &raw.customer_first_name
            && (name.chars().count() > 128 || name.chars().any(char::is_control))
        {
            return Err(invalid(
                "customer_first_name",
                "must be at most 128 printable characters",
            ));
        }
        if let Some(lang) = &raw.language
            && !LANGUAGES.contains(&lang.as_str())
        {
            return Err(invalid("language", "must be en or ar"));
        }
        let notifications = raw
            .notifications
            .map(|map| {
                map.into_iter()
                    .map(|(channel, states)| {
                        let ch = CustomerChannel::parse(&channel).ok_or_else(|| {
                            invalid(
                                &format!("notifications.{channel}"),
                                "unknown channel; expected email, sms or whatsapp",
                            )
                        })?;
                        let states = states
                            .iter()
                            .map(|s| {
                                PaymentState::parse(s).ok_or_else(|| {
                                    invalid(
                                        &format!("notifications.{channel}"),
                                        &format!("unknown state `{s}`"),
                                    )
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        Ok((ch, states))
                    })
                    .collect::<Result<BTreeMap<_, _>>>()
            })
            .transpose()?;
        let occurred_at = raw
            .occurred_at
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        invalid(
                            "occurred_at",
                            "must be an RFC 3339 time, such as 2025-01-30T22:00:00Z",
                        )
                    })
            })
            .transpose()?;
        let empty_to_none = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(PaymentChange {
            session_id: raw.session_id,
            order_no: raw.order_no,
            state,
            amount: raw.amount,
            currency_code: raw.currency_code,
            customer_email: empty_to_none(raw.customer_email),
            customer_phone: empty_to_none(raw.customer_phone),
            customer_first_name: raw.customer_first_name,
            language: raw.language,
            notifications,
            occurred_at,
        })
    }
}

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
    use serde_json::json;

    fn seed() -> serde_json::Value {
        json!({"session_id": "s_123", "order_no": "example_order_no",
          "state": "paid", "amount": "19.000", "currency_code": "KWD",
          "customer_email": "a@example.com", "customer_phone": "+96599999999",
          "customer_first_name": "Asha", "language": "en",
          "notifications": {"email": ["created", "paid"], "sms": ["paid"], "whatsapp": ["paid"]}})
    }

    #[test]
    fn parses_the_contract_example() {
        let c = PaymentChange::from_value(seed()).unwrap();
        assert_eq!(c.state, PaymentState::Paid);
        assert_eq!(
            c.notifications.unwrap()[&CustomerChannel::Email],
            vec![PaymentState::Created, PaymentState::Paid]
        );
    }

    #[test]
    fn error_counts_as_failed() {
        assert_eq!(PaymentState::parse("error"), Some(PaymentState::Failed));
        assert_eq!(PaymentState::parse("lost"), None);
    }

    #[test]
    fn refuses_bad_fields_by_name() {
        for (field, value) in [
            ("state", json!("lost")),
            ("session_id", json!("")),
            ("customer_phone", json!("99999999")),
            ("customer_email", json!("not-an-email")),
            ("amount", json!("1,5")),
            ("currency_code", json!("kwd")),
            ("language", json!("fr")),
            ("notifications", json!({"pigeon": ["paid"]})),
            ("notifications", json!({"sms": ["lost"]})),
        ] {
            let mut data = seed();
            data[field] = value.clone();
            let e = PaymentChange::from_value(data).expect_err(field);
            assert!(
                e.field()
                    .is_some_and(|f| f.starts_with(&format!("data.{field}"))),
                "{field}: {e}"
            );
        }
        let mut data = seed();
        data.as_object_mut().unwrap().remove("session_id");
        assert_eq!(
            PaymentChange::from_value(data).unwrap_err().field(),
            Some("data.session_id")
        );
    }

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

    #[test]
    fn a_malformed_occurred_at_is_named() {
        let mut data = seed();
        data["occurred_at"] = json!("yesterday");
        let e = PaymentChange::from_value(data).unwrap_err();
        assert_eq!(e.field(), Some("data.occurred_at"));
    }

    #[test]
    fn contact_checks() {
        assert!(
            is_phone("+96599999999")
                && !is_phone("+1")
                && !is_phone("96599999999")
                && !is_phone("+9659999x999")
        );
        assert!(
            is_email("a@example.com")
                && !is_email("a@b")
                && !is_email("a b@c.d")
                && !is_email("a@b.c\r\nBcc: x@y.z")
        );
    }
}
