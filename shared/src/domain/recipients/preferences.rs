//! A recipient's preferences (contract section 12): per category, the
//! channels it switched on or off. A message or campaign names a category
//! (`transactional` by default); a channel switched off for it is not used
//! and the message ends `failed` / `preference`. `transactional` cannot be
//! switched off: receipts, security codes and order updates always go.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::recipients::invalid;
use crate::error::{Error, Result};

/// The category a message has unless it names one.
pub const TRANSACTIONAL: &str = "transactional";
/// A campaign's category unless it names one.
pub const MARKETING: &str = "marketing";
/// The `last_error` of a message a recipient's preferences stopped.
pub const PREFERENCE: &str = "preference";
/// The channels a preference may name.
pub const CHANNELS: &[&str] = &["sms", "email", "whatsapp", "push", "in_app"];
/// At most this many categories.
pub const MAX_CATEGORIES: usize = 50;

/// Category → channel → on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    #[serde(default)]
    pub categories: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Preferences {
    /// Parses `PUT /v1/recipients/{id}/preferences`: `{"categories":
    /// {"marketing": {"sms": false, …}, …}}`; a bad name or value is a
    /// `400` naming its path, switching `transactional` off a `422`.
    pub fn from_json(body: &[u8]) -> Result<Preferences> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top.keys().find(|k| k.as_str() != "categories") {
            return Err(Error::bad_request(
                "unknown_field",
                format!("{key}: unknown field; preferences have `categories`"),
                Some(key),
            ));
        }
        let Some(Value::Object(categories)) = top.remove("categories") else {
            return Err(invalid(
                "categories",
                "is required: an object of category → {channel: true | false}",
            ));
        };
        if categories.len() > MAX_CATEGORIES {
            return Err(invalid(
                "categories",
                &format!("at most {MAX_CATEGORIES} categories"),
            ));
        }
        let mut out = BTreeMap::new();
        for (category, channels) in categories {
            let field = format!("categories.{category}");
            if !is_category(&category) {
                return Err(invalid(
                    &field,
                    "a category is lowercase words joined by _ (at most 64 characters)",
                ));
            }
            let Value::Object(channels) = channels else {
                return Err(invalid(
                    &field,
                    "must be an object of channel → true | false",
                ));
            };
            let mut on = BTreeMap::new();
            for (channel, value) in channels {
                let field = format!("{field}.{channel}");
                if !CHANNELS.contains(&channel.as_str()) {
                    return Err(invalid(
                        &field,
                        &format!("unknown channel; one of {}", CHANNELS.join(", ")),
                    ));
                }
                let Value::Bool(value) = value else {
                    return Err(invalid(&field, "must be true or false"));
                };
                if category == TRANSACTIONAL && !value {
                    return Err(Error::unprocessable(
                        "transactional_required",
                        format!("{field}: transactional messages cannot be switched off"),
                        Some(&field),
                    ));
                }
                on.insert(channel, value);
            }
            out.insert(category, on);
        }
        Ok(Preferences { categories: out })
    }

    /// Whether a message of `category` may use `channel`: yes unless the
    /// recipient switched that channel off for that category.
    pub fn allows(&self, category: &str, channel: &str) -> bool {
        category == TRANSACTIONAL
            || self
                .categories
                .get(category)
                .and_then(|c| c.get(channel))
                .copied()
                .unwrap_or(true)
    }

    pub fn view(&self) -> Value {
        json!({ "categories": self.categories })
    }
}

/// A category name: `[a-z][a-z0-9_]*`, at most 64 characters.
pub fn is_category(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A message's `category` as given, or a `400` naming `field`.
pub fn check_category(name: &str, field: &str) -> Result<()> {
    match is_category(name) {
        true => Ok(()),
        false => Err(invalid(
            field,
            "a category is lowercase words joined by _ (at most 64 characters)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switched_off_channel_is_refused_for_its_category_only() {
        let p = Preferences::from_json(
            br#"{"categories": {"marketing": {"sms": false, "email": true}}}"#,
        )
        .expect("valid");
        assert!(!p.allows("marketing", "sms"));
        assert!(p.allows("marketing", "email"));
        assert!(p.allows("marketing", "whatsapp"), "unsaid: on");
        assert!(p.allows("reminders", "sms"));
        assert!(p.allows(TRANSACTIONAL, "sms"));
    }

    #[test]
    fn transactional_cannot_be_switched_off_and_bad_input_is_named() {
        let e = Preferences::from_json(br#"{"categories": {"transactional": {"sms": false}}}"#)
            .expect_err("refused");
        assert_eq!(
            (e.status(), e.field()),
            (422, Some("categories.transactional.sms"))
        );
        assert!(
            Preferences::from_json(br#"{"categories": {"transactional": {"sms": true}}}"#).is_ok()
        );
        for (body, field) in [
            (
                r#"{"categories": {"Marketing": {}}}"#,
                "categories.Marketing",
            ),
            (
                r#"{"categories": {"marketing": {"fax": false}}}"#,
                "categories.marketing.fax",
            ),
            (
                r#"{"categories": {"marketing": {"sms": "no"}}}"#,
                "categories.marketing.sms",
            ),
            (
                r#"{"categories": {"marketing": []}}"#,
                "categories.marketing",
            ),
            (r#"{"cats": {}}"#, "cats"),
            (r#"{}"#, "categories"),
        ] {
            let e = Preferences::from_json(body.as_bytes()).expect_err(body);
            assert_eq!((e.status(), e.field()), (400, Some(field)), "{body}");
        }
    }
}
