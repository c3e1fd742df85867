//! A recipient (contract section 12): a person the merchant knows by its own
//! id, with the addresses INC reaches it at, its language and time zone,
//! and free `data` its templates read as `recipient.data`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::common::address::{is_email, is_phone};
use crate::domain::common::channel::CustomerChannel;
use crate::domain::recipients::invalid;
use crate::domain::recipients::preferences::Preferences;
use crate::error::{Error, Result};

/// Longest recipient id.
pub const MAX_ID_LEN: usize = 128;
/// Largest `data`, as JSON.
pub const MAX_DATA_LEN: usize = 8 * 1024;

/// The fields a recipient's body may have.
const FIELDS: &[&str] = &["phone", "email", "whatsapp", "language", "timezone", "data"];

/// A recipient as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub account_id: String,
    pub recipient_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `data` as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default)]
    pub preferences: Preferences,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write, each conditional on the version read.
    #[serde(default)]
    pub version: u64,
}

/// What a `PUT /v1/recipients/{id}` body (or a list's member row) says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientSpec {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub whatsapp: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub data: Option<String>,
}

impl Recipient {
    /// `id` as `spec` says, replacing `before` whole but for what a put
    /// keeps: its `created_at` and preferences; the version one past it.
    pub fn replaced(
        account_id: &str,
        id: &str,
        spec: &RecipientSpec,
        before: Option<&Recipient>,
        now: DateTime<Utc>,
    ) -> Recipient {
        let spec = spec.clone();
        Recipient {
            account_id: account_id.to_owned(),
            recipient_id: id.to_owned(),
            phone: spec.phone,
            email: spec.email,
            whatsapp: spec.whatsapp,
            language: spec.language,
            timezone: spec.timezone,
            data: spec.data,
            preferences: before.map(|b| b.preferences.clone()).unwrap_or_default(),
            created_at: before.map_or(now, |b| b.created_at),
            updated_at: now,
            version: before.map_or(1, |b| b.version + 1),
        }
    }

    /// Its address on `channel`: WhatsApp falls back to its phone.
    pub fn address(&self, channel: CustomerChannel) -> Option<&str> {
        match channel {
            CustomerChannel::Sms => self.phone.as_deref(),
            CustomerChannel::Email => self.email.as_deref(),
            CustomerChannel::Whatsapp => self.whatsapp.as_deref().or(self.phone.as_deref()),
            // Its devices are its addresses for push (looked up apart); its
            // feed is its own.
            CustomerChannel::Push => None,
            CustomerChannel::InApp => Some(&self.recipient_id),
        }
    }

    /// Its `data` as JSON (an empty object when it has none).
    pub fn data_value(&self) -> Value {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// What a template reads as `recipient`: its fields and `data`.
    pub fn template_value(&self) -> Value {
        json!({
            "id": self.recipient_id,
            "phone": self.phone,
            "email": self.email,
            "whatsapp": self.whatsapp,
            "language": self.language,
            "timezone": self.timezone,
            "data": self.data_value(),
        })
    }

    /// How the API shows it: what a template reads, and its preferences
    /// and times.
    pub fn view(&self) -> Value {
        let mut view = self.template_value();
        if let Some(fields) = view.as_object_mut() {
            fields.insert("preferences".into(), self.preferences.view());
            fields.insert("created_at".into(), json!(self.created_at));
            fields.insert("updated_at".into(), json!(self.updated_at));
        }
        view
    }
}

/// Checks a recipient id: 1–128 of `[A-Za-z0-9_.:@-]`, or a `400` naming `field`.
pub fn check_id(id: &str, field: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'-'));
    match ok {
        true => Ok(()),
        false => Err(invalid(
            field,
            &format!("must be 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ . : @ -"),
        )),
    }
}

impl RecipientSpec {
    /// Parses a `PUT /v1/recipients/{id}` body strictly: an unknown field,
    /// a repeated key or a wrong type is a `400` naming it.
    pub fn from_json(body: &[u8]) -> Result<RecipientSpec> {
        let top = crate::domain::json_object(body)?;
        RecipientSpec::from_object(top, "")
    }

    /// The same checks on an object already parsed, its fields named with
    /// `prefix` (`recipients[3].`). `id` is allowed when `prefix` is set
    /// (a list's member rows carry it) and read by the caller.
    pub fn from_object(mut top: Map<String, Value>, prefix: &str) -> Result<RecipientSpec> {
        let named = |f: &str| format!("{prefix}{f}");
        if let Some(key) = top
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()) && (k.as_str() != "id" || prefix.is_empty()))
        {
            let field = named(key);
            return Err(Error::bad_request(
                "unknown_field",
                format!(
                    "{field}: unknown field; a recipient has {}",
                    FIELDS.join(", ")
                ),
                Some(&field),
            ));
        }
        let mut text = |f: &str| match top.remove(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(invalid(&named(f), "must be a string")),
        };
        let phone = text("phone")?;
        let email = text("email")?;
        let whatsapp = text("whatsapp")?;
        let language = text("language")?;
        let timezone = text("timezone")?;
        for (f, v) in [("phone", &phone), ("whatsapp", &whatsapp)] {
            if v.as_deref().is_some_and(|p| !is_phone(p)) {
                return Err(invalid(
                    &named(f),
                    "must be an E.164 number such as +96599999999",
                ));
            }
        }
        let email = email.map(|e| e.trim().to_lowercase());
        if email.as_deref().is_some_and(|e| !is_email(e)) {
            return Err(invalid(&named("email"), "must be an email address"));
        }
        if language.as_deref().is_some_and(|l| !is_language(l)) {
            return Err(invalid(
                &named("language"),
                "must be a language code such as en, ar or pt-BR",
            ));
        }
        if timezone
            .as_deref()
            .is_some_and(|z| z.parse::<Tz>().is_err())
        {
            return Err(invalid(
                &named("timezone"),
                "must be an IANA time zone such as Europe/Rome",
            ));
        }
        let data = match top.remove("data") {
            None | Some(Value::Null) => None,
            Some(data @ Value::Object(_)) => {
                let text = data.to_string();
                if text.len() > MAX_DATA_LEN {
                    return Err(invalid(
                        &named("data"),
                        &format!("must be at most {MAX_DATA_LEN} bytes as JSON"),
                    ));
                }
                Some(text)
            }
            Some(_) => return Err(invalid(&named("data"), "must be an object")),
        };
        Ok(RecipientSpec {
            phone,
            email,
            whatsapp,
            language,
            timezone,
            data,
        })
    }
}

/// A language code: `en`, `ar`, `pt-BR` (2–3 letters, an optional region).
fn is_language(code: &str) -> bool {
    let mut parts = code.split('-');
    let lang = parts.next().unwrap_or_default();
    let region = parts.next();
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<String> {
        RecipientSpec::from_json(body.as_bytes())
            .err()
            .and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn a_full_recipient_parses_and_its_email_is_lower_cased() {
        let spec = RecipientSpec::from_json(
            br#"{"phone": "+96599999999", "email": "Ada@Example.COM", "language": "ar",
                 "timezone": "Asia/Kuwait", "data": {"tier": "gold", "n": 1}}"#,
        )
        .expect("valid");
        assert_eq!(spec.email.as_deref(), Some("ada@example.com"));
        assert_eq!(spec.data.as_deref(), Some(r#"{"n":1,"tier":"gold"}"#));
        let now = Utc::now();
        let r = Recipient {
            account_id: "acc".into(),
            recipient_id: "u-1".into(),
            phone: spec.phone,
            email: spec.email,
            whatsapp: spec.whatsapp,
            language: spec.language,
            timezone: spec.timezone,
            data: spec.data,
            preferences: Preferences::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        assert_eq!(r.address(CustomerChannel::Whatsapp), Some("+96599999999"));
        assert_eq!(r.template_value()["data"]["tier"], "gold");
    }

    #[test]
    fn a_replacement_keeps_created_at_and_preferences_and_nothing_else() {
        let then = Utc::now() - chrono::Duration::days(1);
        let first = Recipient::replaced(
            "acc",
            "u-1",
            &RecipientSpec {
                email: Some("a@b.co".into()),
                ..RecipientSpec::default()
            },
            None,
            then,
        );
        assert_eq!((first.version, first.created_at), (1, then));
        let mut stored = first.clone();
        stored.preferences =
            Preferences::from_json(br#"{"categories": {"marketing": {"sms": false}}}"#)
                .expect("valid");
        let now = Utc::now();
        let second = Recipient::replaced(
            "acc",
            "u-1",
            &RecipientSpec {
                phone: Some("+96599999999".into()),
                ..RecipientSpec::default()
            },
            Some(&stored),
            now,
        );
        assert_eq!(second.email, None, "replaced whole");
        assert_eq!(second.phone.as_deref(), Some("+96599999999"));
        assert_eq!((second.created_at, second.updated_at), (then, now));
        assert_eq!(second.preferences, stored.preferences);
        assert_eq!(second.version, 2);
    }

    #[test]
    fn each_bad_field_is_named() {
        for (body, field) in [
            (r#"{"phone": "99999999"}"#, "phone"),
            (r#"{"whatsapp": "+1"}"#, "whatsapp"),
            (r#"{"email": "not-an-address"}"#, "email"),
            (r#"{"timezone": "Mars/Olympus"}"#, "timezone"),
            (r#"{"language": "english"}"#, "language"),
            (r#"{"data": [1]}"#, "data"),
            (r#"{"nickname": "x"}"#, "nickname"),
            (r#"{"phone": 5}"#, "phone"),
            (r#"{"email": "a@b.co", "email": "c@d.co"}"#, "email"),
        ] {
            assert_eq!(field_of(body).as_deref(), Some(field), "{body}");
        }
        let big = format!(r#"{{"data": {{"x": "{}"}}}}"#, "a".repeat(MAX_DATA_LEN));
        assert_eq!(field_of(&big).as_deref(), Some("data"));
    }

    #[test]
    fn ids_are_checked() {
        for ok in ["u-1", "a@b.c", "x:y_z.1", &"a".repeat(128)] {
            assert!(check_id(ok, "id").is_ok(), "{ok}");
        }
        for bad in ["", "a b", "é", &"a".repeat(129), "a/b"] {
            assert!(check_id(bad, "id").is_err(), "{bad}");
        }
    }
}
