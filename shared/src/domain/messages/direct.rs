//! Direct messages (contract section 9): one customer message by SMS, email
//! or WhatsApp that a merchant sends itself — a reminder, a campaign's
//! text — now or at `send_at`, from a template or literal text. Idempotent
//! by `id`, as events are. These are its request's rules and the record
//! that remembers the answer.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::{Payload, Status};
use crate::domain::messages::templates::{Template, is_valid_language, is_valid_name};
use crate::domain::recipients::preferences::{TRANSACTIONAL, check_category};
use crate::domain::recipients::recipient::Recipient;
use crate::error::{Error, Result};

/// The event type a direct message's notification carries in the history.
pub const MESSAGE_EVENT_TYPE: &str = "message";
/// How far ahead a message may be scheduled.
pub const MAX_AHEAD: Duration = Duration::days(366);
/// Longest literal text.
pub const MAX_TEXT_LEN: usize = 10_000;
/// Longest email subject.
pub const MAX_SUBJECT_LEN: usize = 500;
/// Longest reference (it is an index key, as an order number is).
pub const MAX_REFERENCE_LEN: usize = 128;

const FIELDS: &[&str] = &[
    "id",
    "channel",
    "to",
    "template",
    "text",
    "subject",
    "language",
    "data",
    "send_at",
    "reference",
    "to_recipient",
    "category",
    "title",
];

/// A push or in-app title's longest.
pub const MAX_TITLE_LEN: usize = 200;

/// What the message says: a stored template with data, or literal text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    Template {
        name: String,
        language: Option<String>,
        data: Value,
    },
    Text {
        text: String,
        subject: Option<String>,
        /// Push and in-app: the title, and the data the app gets.
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        data: BTreeMap<String, String>,
    },
}

/// The body of `POST /v1/messages`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRequest {
    pub id: String,
    pub channel: CustomerChannel,
    /// The address; empty while `to_recipient` is still to be looked up.
    pub to: String,
    /// The recipient whose address, language and time zone are used.
    pub to_recipient: Option<String>,
    /// The category its recipient's preferences are read for.
    pub category: String,
    pub content: Content,
    pub send_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
}

fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}

fn printable(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(invalid(field, &format!("must be 1 to {max} characters")));
    }
    Ok(())
}

impl MessageRequest {
    /// Parses and checks a body; every refusal is a `400` naming its field.
    /// `now` bounds `send_at`.
    pub fn from_json(body: &[u8], now: DateTime<Utc>) -> Result<MessageRequest> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::bad_request(
                "unknown_field",
                format!("unknown field `{key}`; expected {}", FIELDS.join(", ")),
                Some(key),
            ));
        }
        let mut string = |field: &str| match top.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(invalid(field, "must be a string")),
        };
        let id = string("id")?.ok_or_else(|| invalid("id", "is required"))?;
        let channel = string("channel")?.ok_or_else(|| invalid("channel", "is required"))?;
        let to = string("to")?;
        let to_recipient = string("to_recipient")?;
        let category = string("category")?;
        let template = string("template")?;
        let text = string("text")?;
        let subject = string("subject")?;
        let language = string("language")?;
        let send_at = string("send_at")?;
        let reference = string("reference")?;
        let title = string("title")?;
        let data = top.remove("data").filter(|d| !d.is_null());

        crate::domain::events::event::validate_id(&id)?;
        let channel = CustomerChannel::any_from_field("channel", &channel)?;
        if !channel.is_addressed() && to.is_some() {
            return Err(invalid(
                "to",
                "push and in_app reach a recipient's apps: give to_recipient",
            ));
        }
        let to = match (to, &to_recipient) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "to_recipient",
                    "give either to or to_recipient, not both",
                ));
            }
            (None, None) => {
                return Err(invalid("to", "is required (or to_recipient)"));
            }
            (Some(to), None) => {
                crate::domain::messages::suppression::check_recipient(channel, "to", &to)?
            }
            (None, Some(id)) => {
                crate::domain::recipients::recipient::check_id(id, "to_recipient")?;
                String::new()
            }
        };
        let category = category.unwrap_or_else(|| TRANSACTIONAL.to_owned());
        check_category(&category, "category")?;
        let content = match (template, text) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "text",
                    "give either a template or a text, not both",
                ));
            }
            (None, None) => return Err(invalid("template", "give a template or a text")),
            (Some(name), None) => {
                if !is_valid_name(&name) {
                    return Err(invalid(
                        "template",
                        "a template name: 1-64 of a-z 0-9 _ . - starting with a letter or digit",
                    ));
                }
                if subject.is_some() {
                    return Err(invalid("subject", "comes from the template; give it there"));
                }
                if title.is_some() {
                    return Err(invalid("title", "comes from the template; give it there"));
                }
                if let Some(tag) = &language
                    && !is_valid_language(tag)
                {
                    return Err(invalid(
                        "language",
                        "a language tag such as en, ar or pt-BR",
                    ));
                }
                let data = data.unwrap_or_else(|| Value::Object(Default::default()));
                if !data.is_object() {
                    return Err(invalid("data", "must be an object"));
                }
                Content::Template {
                    name,
                    language,
                    data,
                }
            }
            (None, Some(text)) => {
                if channel == CustomerChannel::Whatsapp {
                    return Err(invalid(
                        "template",
                        "WhatsApp sends only approved templates: give a template",
                    ));
                }
                printable("text", &text, MAX_TEXT_LEN)?;
                let data = match (channel.is_addressed(), data) {
                    (_, None) => BTreeMap::new(),
                    (true, Some(_)) => {
                        return Err(invalid("data", "fills a template; a text is sent as it is"));
                    }
                    (false, Some(data)) => app_data(data)?,
                };
                let title = match (channel.is_addressed(), title) {
                    (true, None) => None,
                    (true, Some(_)) => {
                        return Err(invalid(
                            "title",
                            "only a push or in_app message has a title",
                        ));
                    }
                    (false, None) => {
                        return Err(invalid("title", "a push or in_app text needs a title"));
                    }
                    (false, Some(t)) => {
                        printable("title", &t, MAX_TITLE_LEN)?;
                        Some(t)
                    }
                };
                if language.is_some() {
                    return Err(invalid(
                        "language",
                        "picks a template's language; a text has one",
                    ));
                }
                match (channel, &subject) {
                    (CustomerChannel::Email, None) => {
                        return Err(invalid("subject", "an email's text needs a subject"));
                    }
                    (CustomerChannel::Email, Some(s)) => printable("subject", s, MAX_SUBJECT_LEN)?,
                    (_, Some(_)) => return Err(invalid("subject", "only an email has a subject")),
                    (_, None) => {}
                }
                Content::Text {
                    text,
                    subject,
                    title,
                    data,
                }
            }
        };
        let send_at = match send_at {
            None => None,
            Some(value) => {
                let at = crate::domain::parse_time("invalid_field", "send_at", &value)?;
                if at > now + MAX_AHEAD {
                    return Err(invalid("send_at", "at most 366 days ahead"));
                }
                // A time already past is a send now.
                (at > now).then_some(at)
            }
        };
        if let Some(r) = &reference {
            printable("reference", r, MAX_REFERENCE_LEN)?;
            if r.chars().any(char::is_control) {
                return Err(invalid("reference", "must not contain control characters"));
            }
        }
        Ok(MessageRequest {
            id,
            channel,
            to,
            to_recipient,
            category,
            content,
            send_at,
            reference,
        })
    }

    /// Addresses the request to `recipient`: its address on the channel
    /// (a `422` naming `to_recipient` when it has none), its language for
    /// a template that names none, and `recipient` for the template.
    pub fn address_to(&mut self, recipient: &Recipient) -> Result<()> {
        // A push goes to each of the recipient's devices, looked up apart.
        let address = match self.channel {
            CustomerChannel::Push => Some(""),
            channel => recipient.address(channel),
        };
        let Some(address) = address else {
            return Err(Error::unprocessable(
                "recipient_without_address",
                format!(
                    "to_recipient: the recipient has no {} address",
                    self.channel.as_str()
                ),
                Some("to_recipient"),
            ));
        };
        if !address.is_empty() {
            self.to = crate::domain::messages::suppression::check_recipient(
                self.channel,
                "to_recipient",
                address,
            )?;
        }
        if let Content::Template { language, data, .. } = &mut self.content {
            if language.is_none() {
                *language = recipient.language.clone();
            }
            if let Some(fields) = data.as_object_mut() {
                fields
                    .entry("recipient")
                    .or_insert_with(|| recipient.template_value());
            }
        }
        Ok(())
    }

    /// A digest of what the request asks, so that the same id with another
    /// body is told apart (`409`). `send_at` counts as given, not as
    /// resolved against the clock, so a retry of the same body matches.
    pub fn fingerprint(body: &Value) -> String {
        // serde_json sorts an object's keys: key order does not count.
        let canonical = serde_json::to_vec(body).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }

    /// The template this message needs, if any.
    pub fn template_name(&self) -> Option<&str> {
        match &self.content {
            Content::Template { name, .. } => Some(name),
            Content::Text { .. } => None,
        }
    }

    /// What the notification sends: the literal text, or `template`
    /// rendered with the data. A render that fails (a variable the data
    /// lacks) is `Err` with the reason the message fails with.
    pub fn draft(&self, template: Option<&Template>) -> std::result::Result<Payload, String> {
        let to = self.to.clone();
        let (name, language, data) = match &self.content {
            Content::Text {
                text,
                subject,
                title,
                data,
            } => {
                return Ok(match self.channel {
                    CustomerChannel::Push => Payload::Push {
                        to,
                        title: title.clone().unwrap_or_default(),
                        body: text.clone(),
                        data: data.clone(),
                    },
                    CustomerChannel::InApp => Payload::InApp {
                        to,
                        title: title.clone().unwrap_or_default(),
                        body: text.clone(),
                        data: data.clone(),
                    },
                    CustomerChannel::Email => Payload::Email {
                        to,
                        subject: subject.clone().unwrap_or_default(),
                        text: text.clone(),
                    },
                    _ => Payload::Sms {
                        to,
                        text: text.clone(),
                    },
                });
            }
            Content::Template {
                name,
                language,
                data,
            } => (name, language, data),
        };
        let Some(template) = template else {
            return Err(format!("the template `{name}` does not exist"));
        };
        template.payload(&to, language.as_deref(), data)
    }

    /// The SMS this (WhatsApp) message falls back to: `sms`, the SMS
    /// template of its name, rendered with its data; `Err` if it cannot be.
    pub fn fallback_draft(&self, sms: &Template) -> std::result::Result<Payload, String> {
        match &self.content {
            Content::Template { language, data, .. } => {
                sms.payload(&self.to, language.as_deref(), data)
            }
            Content::Text { .. } => Err("a text has no template to fall back to".into()),
        }
    }

    /// The status the message starts in.
    pub fn initial_status(&self) -> Status {
        match self.send_at {
            Some(_) => Status::Scheduled,
            None => Status::Queued,
        }
    }
}

/// A message as remembered under its id: which notification it is, and
/// what its first request was answered (a retry answers the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub account_id: String,
    pub message_id: String,
    pub notification_id: String,
    /// A push's notifications to the recipient's other devices (contract
    /// 14: one per device); `notification_id` is the first device's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<String>,
    pub fingerprint: String,
    /// The status the first request answered.
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A push or in-app text's `data`: an object of at most 32 keys whose
/// values are strings (numbers and booleans are taken as their text) —
/// what FCM and APNs carry.
fn app_data(data: Value) -> Result<BTreeMap<String, String>> {
    let Value::Object(fields) = data else {
        return Err(invalid("data", "must be an object"));
    };
    if fields.len() > 32 {
        return Err(invalid("data", "at most 32 keys"));
    }
    fields
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() <= 1_000 => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(invalid(
                &format!("data.{k}"),
                "must be a string of at most 1,000 bytes, a number or a boolean",
            )),
        })
        .collect()
}

impl MessageRecord {
    /// Every notification of the message, the first one first.
    pub fn notification_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.notification_id.as_str()).chain(self.others.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<MessageRequest> {
        MessageRequest::from_json(body.to_string().as_bytes(), Utc::now())
    }

    fn field_of(body: Value) -> String {
        match parse(body.clone()) {
            Err(Error::BadRequest { field, .. }) => field.unwrap_or_default(),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_its_field() {
        let sms = json!({"id": "m-1", "channel": "sms", "to": "+393331234567", "text": "hi"});
        assert!(parse(sms.clone()).is_ok());
        let with = |k: &str, v: Value| {
            let mut b = sms.clone();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = sms.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        assert_eq!(field_of(without("id")), "id");
        assert_eq!(field_of(with("id", json!("x".repeat(129)))), "id");
        assert_eq!(field_of(with("channel", json!("fax"))), "channel");
        assert_eq!(field_of(with("to", json!("0039333"))), "to");
        assert_eq!(field_of(with("text", json!(""))), "text");
        assert_eq!(field_of(with("template", json!("reminder"))), "text");
        assert_eq!(field_of(without("text")), "template");
        assert_eq!(field_of(with("subject", json!("s"))), "subject");
        assert_eq!(field_of(with("data", json!({"a": 1}))), "data");
        assert_eq!(field_of(with("send_at", json!("tomorrow"))), "send_at");
        let far = (Utc::now() + Duration::days(367)).to_rfc3339();
        assert_eq!(field_of(with("send_at", json!(far))), "send_at");
        assert_eq!(field_of(with("reference", json!(""))), "reference");
        assert_eq!(field_of(with("colour", json!("red"))), "colour");
        let email = json!({"id": "m-2", "channel": "email", "to": "a@example.com", "text": "hi"});
        assert_eq!(field_of(email), "subject");
        let whatsapp =
            json!({"id": "m-3", "channel": "whatsapp", "to": "+393331234567", "text": "hi"});
        assert_eq!(field_of(whatsapp), "template");
        let bad_data = json!({"id": "m-4", "channel": "sms", "to": "+393331234567",
            "template": "t", "data": [1]});
        assert_eq!(field_of(bad_data), "data");
    }

    #[test]
    fn a_send_at_in_the_past_is_a_send_now_and_a_future_one_schedules() {
        let now = Utc::now();
        let body = |at: DateTime<Utc>| {
            json!({"id": "m", "channel": "sms", "to": "+393331234567", "text": "hi",
                   "send_at": at.to_rfc3339()})
            .to_string()
        };
        let past = MessageRequest::from_json(body(now - Duration::minutes(1)).as_bytes(), now);
        assert_eq!(past.unwrap().initial_status(), Status::Queued);
        let later = now + Duration::days(365);
        let m = MessageRequest::from_json(body(later).as_bytes(), now).unwrap();
        assert_eq!(m.initial_status(), Status::Scheduled);
        assert_eq!(m.send_at.unwrap().timestamp(), later.timestamp());
    }

    #[test]
    fn a_template_renders_per_channel_and_a_missing_variable_fails_the_message() {
        let now = Utc::now();
        let template = |channel: CustomerChannel, languages: Value| Template {
            account_id: "acc".into(),
            template_key: crate::domain::messages::templates::key(channel, "reminder"),
            channel,
            name: "reminder".into(),
            languages: crate::domain::messages::templates::languages_from_json(
                channel,
                json!({ "languages": languages }).to_string().as_bytes(),
            )
            .unwrap(),
            created_at: now,
            updated_at: now,
        };
        let sms = template(
            CustomerChannel::Sms,
            json!({"en": {"body": "Hi {{ name }}"}, "it": {"body": "Ciao {{ name }}"}}),
        );
        let request = |language: Option<&str>, data: Value| {
            let mut body = json!({"id": "m", "channel": "sms", "to": "+393331234567",
                "template": "reminder", "data": data});
            if let Some(l) = language {
                body["language"] = json!(l);
            }
            parse(body).unwrap()
        };
        assert_eq!(
            request(Some("it"), json!({"name": "Marco"})).draft(Some(&sms)),
            Ok(Payload::Sms {
                to: "+393331234567".into(),
                text: "Ciao Marco".into()
            })
        );
        let failed = request(None, json!({})).draft(Some(&sms)).unwrap_err();
        assert!(failed.contains("data.name"), "{failed}");
        let gone = request(None, json!({})).draft(None).unwrap_err();
        assert!(gone.contains("does not exist"), "{gone}");
        let wa = template(
            CustomerChannel::Whatsapp,
            json!({"en": {"template": "service_reminder", "parameters": ["{{ name }}"]}}),
        );
        let m = parse(
            json!({"id": "m", "channel": "whatsapp", "to": "+393331234567",
            "template": "reminder", "language": "it", "data": {"name": "Marco"}}),
        )
        .unwrap();
        assert_eq!(
            m.draft(Some(&wa)),
            Ok(Payload::Whatsapp {
                to: "+393331234567".into(),
                template: "service_reminder".into(),
                language: "en".into(),
                parameters: vec!["Marco".into()],
            })
        );
    }
}
