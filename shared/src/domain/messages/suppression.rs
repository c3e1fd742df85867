//! Opt-outs (contract section 9): a recipient who said stop on a channel is
//! never sent a customer message there again, until the merchant removes
//! them. One list per account, keyed by channel and recipient.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::common::address::{is_email, is_phone};
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::Payload;
use crate::error::{Error, Result};

/// The `last_error` of a message not sent because its recipient opted out,
/// and the explained resend's `reason`.
pub const SUPPRESSED: &str = "suppressed";

/// Longest `reason` kept with a suppression.
pub const MAX_REASON_LEN: usize = 256;

/// One recipient who may not be sent messages on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub account_id: String,
    /// `channel#to`: the item's sort key (see [`key`]).
    pub recipient: String,
    pub channel: CustomerChannel,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who added it: `api` (the merchant) for now; receipts add their own.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

impl Suppression {
    pub fn view(&self) -> Value {
        serde_json::json!({
            "channel": self.channel,
            "to": self.to,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at,
        })
    }
}

/// How a recipient is written in the list: an address in lower case (no
/// provider tells `Ann@x.com` from `ann@x.com`), a number as it is (E.164
/// has one spelling).
pub fn normalize(channel: CustomerChannel, to: &str) -> String {
    match channel {
        CustomerChannel::Email => to.trim().to_lowercase(),
        CustomerChannel::Sms
        | CustomerChannel::Whatsapp
        | CustomerChannel::Push
        | CustomerChannel::InApp => to.trim().to_owned(),
    }
}

/// The list's key for `to` on `channel`.
pub fn key(channel: CustomerChannel, to: &str) -> String {
    format!("{}#{}", channel.as_str(), normalize(channel, to))
}

/// The list key a customer message is checked against (none for a webhook).
pub fn key_of(payload: &Payload) -> Option<String> {
    let (channel, to) = match payload {
        Payload::Webhook(_) => return None,
        Payload::Sms { to, .. } => (CustomerChannel::Sms, to),
        Payload::Email { to, .. } => (CustomerChannel::Email, to),
        Payload::Whatsapp { to, .. } => (CustomerChannel::Whatsapp, to),
        // The apps' channels answer to preferences, not to the opt-out list.
        Payload::Push { .. } | Payload::InApp { .. } => return None,
    };
    Some(key(channel, to))
}

/// `to` checked for `channel`: E.164 for SMS and WhatsApp, an address for
/// email; a `400` naming `field` otherwise.
pub fn check_recipient(channel: CustomerChannel, field: &str, to: &str) -> Result<String> {
    let to = normalize(channel, to);
    let ok = match channel {
        CustomerChannel::Email => is_email(&to),
        CustomerChannel::Sms | CustomerChannel::Whatsapp => is_phone(&to),
        // A device (`platform:token`) or a recipient id, checked where made.
        CustomerChannel::Push | CustomerChannel::InApp => !to.is_empty() && to.len() <= 4_200,
    };
    if !ok {
        let why = match channel {
            CustomerChannel::Email => "must be an email address",
            _ => "must be an E.164 number such as +96599999999",
        };
        return Err(invalid(field, why));
    }
    Ok(to)
}

fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}

/// The body of `POST /v1/suppressions`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionSpec {
    pub channel: CustomerChannel,
    pub to: String,
    pub reason: Option<String>,
}

impl SuppressionSpec {
    pub fn from_json(body: &[u8]) -> Result<SuppressionSpec> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "channel" | "to" | "reason"))
        {
            return Err(Error::bad_request(
                "unknown_field",
                format!("unknown field `{key}`; expected `channel`, `to` and `reason`"),
                Some(key),
            ));
        }
        let mut string = |field: &str| match top.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(invalid(field, "must be a string")),
        };
        let channel = string("channel")?.ok_or_else(|| invalid("channel", "is required"))?;
        let to = string("to")?.ok_or_else(|| invalid("to", "is required"))?;
        let reason = string("reason")?;
        let channel = CustomerChannel::from_field("channel", &channel)?;
        let to = check_recipient(channel, "to", &to)?;
        if let Some(r) = &reason
            && (r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control))
        {
            return Err(invalid(
                "reason",
                &format!("at most {MAX_REASON_LEN} printable characters"),
            ));
        }
        Ok(SuppressionSpec {
            channel,
            to,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<String> {
        match SuppressionSpec::from_json(body.as_bytes()) {
            Err(Error::BadRequest { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_spec_names_the_field_it_refuses() {
        let cases = [
            (r#"{"to": "+96599999999"}"#, "channel"),
            (r#"{"channel": "fax", "to": "+96599999999"}"#, "channel"),
            (r#"{"channel": "sms"}"#, "to"),
            (r#"{"channel": "sms", "to": "99999999"}"#, "to"),
            (r#"{"channel": "whatsapp", "to": "a@b.co"}"#, "to"),
            (r#"{"channel": "email", "to": "+96599999999"}"#, "to"),
            (r#"{"channel": "email", "to": 7}"#, "to"),
            (
                r#"{"channel": "sms", "to": "+96599999999", "reason": "a\u0000"}"#,
                "reason",
            ),
            (
                r#"{"channel": "sms", "to": "+96599999999", "why": "x"}"#,
                "why",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body).as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn addresses_match_whatever_their_case_and_numbers_exactly() {
        let spec = SuppressionSpec::from_json(
            br#"{"channel": "email", "to": "Ann@Example.COM", "reason": "asked"}"#,
        )
        .unwrap();
        assert_eq!(spec.to, "ann@example.com");
        let email = Payload::Email {
            to: "ANN@example.com".into(),
            subject: String::new(),
            text: String::new(),
        };
        assert_eq!(key_of(&email), Some(key(CustomerChannel::Email, &spec.to)));
        let sms = Payload::Sms {
            to: "+96599999999".into(),
            text: String::new(),
        };
        assert_eq!(key_of(&sms).as_deref(), Some("sms#+96599999999"));
        // Per channel: an SMS opt-out says nothing of WhatsApp.
        let whatsapp = Payload::Whatsapp {
            to: "+96599999999".into(),
            template: String::new(),
            language: String::new(),
            parameters: Vec::new(),
        };
        assert_ne!(key_of(&whatsapp), key_of(&sms));
    }
}
