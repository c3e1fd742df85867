//! The `payment.state_changed` event (Ottu-style transactions): a
//! payment's states and the change an event reports. The transaction INC
//! keeps from these changes is `payments::transaction`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::common::address::{is_email, is_phone};
use crate::domain::common::channel::CustomerChannel;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The contract's example change.
    pub(crate) fn seed() -> serde_json::Value {
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
    fn a_malformed_occurred_at_is_named() {
        let mut data = seed();
        data["occurred_at"] = json!("yesterday");
        let e = PaymentChange::from_value(data).unwrap_err();
        assert_eq!(e.field(), Some("data.occurred_at"));
    }
}
