//! Message templates (contract section 9): per account, channel, name and
//! language, written in minijinja and rendered with strict undefined
//! variables — a field the data lacks is an error, never blank text.
//!
//! SMS: `{"body"}`; email: `{"subject", "body"}`; WhatsApp: the approved
//! template's name and its body parameters, each an expression
//! (`{"template": "service_reminder", "parameters": ["{{ name }}"]}`).
//! A language the template lacks falls back to `en`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::Payload;
use crate::error::{Error, Result};

/// Whether `data` lacks the dotted `path` (`recipient.data.tier`).
fn lacks(data: &Value, path: &str) -> bool {
    let mut at = data;
    for segment in path.split('.') {
        match at.get(segment) {
            Some(next) => at = next,
            None => return true,
        }
    }
    false
}

/// The language a template falls back to.
pub const FALLBACK_LANGUAGE: &str = "en";
/// Longest source of one field.
pub const MAX_SOURCE_LEN: usize = 4_096;
/// Most languages one template holds.
pub const MAX_LANGUAGES: usize = 50;
/// Most WhatsApp body parameters.
pub const MAX_PARAMETERS: usize = 20;

/// One language of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// WhatsApp: the approved template's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// WhatsApp: its body parameters, as expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// Push and in-app: the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Push and in-app: the data the app gets, each value an expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub account_id: String,
    /// `channel#name`: the item's sort key.
    pub template_key: String,
    pub channel: CustomerChannel,
    pub name: String,
    pub languages: BTreeMap<String, Text>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a template renders to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
}

/// The sort key of `name` on `channel`.
pub fn key(channel: CustomerChannel, name: &str) -> String {
    format!("{}#{name}", channel.as_str())
}

/// A template name: 1–64 of `a-z 0-9 _ . -`, starting with a letter or
/// digit (`payment.paid`, `service_reminder`).
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// A language tag: `en`, `ar`, `it`, `pt-BR`.
pub fn is_valid_language(tag: &str) -> bool {
    let (lang, region) = tag.split_once('-').unwrap_or((tag, ""));
    matches!(lang.len(), 2 | 3)
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
        && !tag.ends_with('-')
}

fn bad(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}

fn syntax(field: &str, e: &minijinja::Error) -> Error {
    Error::unprocessable(
        "template_syntax",
        format!("{field}: not a valid template: {e}"),
        Some(field),
    )
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// The body of `PUT /v1/templates/{channel}/{name}`, checked: each
/// language's fields for the channel, each source compiled.
pub fn languages_from_json(
    channel: CustomerChannel,
    body: &[u8],
) -> Result<BTreeMap<String, Text>> {
    let mut top = crate::domain::json_object(body)?;
    if let Some(key) = top.keys().find(|k| k.as_str() != "languages") {
        return Err(Error::bad_request(
            "unknown_field",
            format!("unknown field `{key}`; expected `languages`"),
            Some(key),
        ));
    }
    let Some(Value::Object(languages)) = top.remove("languages") else {
        return Err(bad(
            "languages",
            "must be an object of languages, such as {\"en\": {...}}",
        ));
    };
    if languages.is_empty() || languages.len() > MAX_LANGUAGES {
        return Err(bad(
            "languages",
            &format!("must hold 1 to {MAX_LANGUAGES} languages"),
        ));
    }
    let env = environment();
    languages
        .into_iter()
        .map(|(tag, text)| {
            let field = format!("languages.{tag}");
            if !is_valid_language(&tag) {
                return Err(bad(&field, "not a language tag such as en, ar or pt-BR"));
            }
            let text = text_from(channel, &field, text)?;
            for source in text.sources() {
                env.template_from_str(source)
                    .map_err(|e| syntax(&field, &e))?;
            }
            Ok((tag, text))
        })
        .collect()
}

fn text_from(channel: CustomerChannel, field: &str, value: Value) -> Result<Text> {
    let Value::Object(mut fields) = value else {
        return Err(bad(field, "must be an object"));
    };
    let allowed: &[&str] = match channel {
        CustomerChannel::Sms => &["body"],
        CustomerChannel::Email => &["subject", "body"],
        CustomerChannel::Whatsapp => &["template", "parameters"],
        CustomerChannel::Push | CustomerChannel::InApp => &["title", "body", "data"],
    };
    if let Some(key) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            &format!("{field}.{key}"),
            &format!(
                "unknown field; a {} template has {}",
                channel.as_str(),
                allowed.join(" and ")
            ),
        ));
    }
    let string = |name: &str, fields: &mut Map<String, Value>| match fields.remove(name) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_SOURCE_LEN => Ok(Some(s)),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(bad(
            &format!("{field}.{name}"),
            &format!("must be a non-empty string of at most {MAX_SOURCE_LEN} characters"),
        )),
    };
    let mut text = Text {
        subject: string("subject", &mut fields)?,
        body: string("body", &mut fields)?,
        template: string("template", &mut fields)?,
        parameters: Vec::new(),
        title: string("title", &mut fields)?,
        data: BTreeMap::new(),
    };
    match fields.remove("data") {
        None | Some(Value::Null) => {}
        Some(Value::Object(items)) if items.len() <= MAX_PARAMETERS => {
            for (key, item) in items {
                match item {
                    Value::String(s) if s.len() <= MAX_SOURCE_LEN => {
                        text.data.insert(key, s);
                    }
                    _ => {
                        return Err(bad(
                            &format!("{field}.data.{key}"),
                            "must be a string (an expression)",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad(
                &format!("{field}.data"),
                &format!("must be an object of at most {MAX_PARAMETERS} expressions"),
            ));
        }
    }
    match fields.remove("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() <= MAX_PARAMETERS => {
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) if s.len() <= MAX_SOURCE_LEN => text.parameters.push(s),
                    _ => {
                        return Err(bad(&format!("{field}.parameters[{i}]"), "must be a string"));
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad(
                &format!("{field}.parameters"),
                &format!("must be an array of at most {MAX_PARAMETERS} expressions"),
            ));
        }
    }
    let required: &[(&str, bool)] = match channel {
        CustomerChannel::Sms => &[("body", text.body.is_some())],
        CustomerChannel::Email => &[
            ("subject", text.subject.is_some()),
            ("body", text.body.is_some()),
        ],
        CustomerChannel::Whatsapp => &[("template", text.template.is_some())],
        CustomerChannel::Push | CustomerChannel::InApp => &[
            ("title", text.title.is_some()),
            ("body", text.body.is_some()),
        ],
    };
    if let Some((name, _)) = required.iter().find(|(_, present)| !present) {
        return Err(bad(&format!("{field}.{name}"), "is required"));
    }
    Ok(text)
}

impl Text {
    fn sources(&self) -> impl Iterator<Item = &str> {
        self.subject
            .iter()
            .chain(&self.body)
            .chain(&self.title)
            .map(String::as_str)
            .chain(self.parameters.iter().map(String::as_str))
            .chain(self.data.values().map(String::as_str))
    }
}

impl Template {
    pub fn view(&self) -> Value {
        serde_json::json!({
            "channel": self.channel,
            "name": self.name,
            "languages": self.languages,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The message this template makes for `to`, rendered in `language`
    /// (or `en`) with `data`; `Err` with the reason a message fails with
    /// when it cannot be rendered (a variable the data lacks).
    pub fn payload(
        &self,
        to: &str,
        language: Option<&str>,
        data: &Value,
    ) -> std::result::Result<Payload, String> {
        let rendered = self.render(language, data).map_err(|e| e.to_string())?;
        let missing = |what: &str| format!("the template `{}` has no {what}", self.name);
        let to = to.to_owned();
        Ok(match self.channel {
            CustomerChannel::Sms => Payload::Sms {
                to,
                text: rendered.body.ok_or_else(|| missing("body"))?,
            },
            CustomerChannel::Email => Payload::Email {
                to,
                subject: rendered.subject.ok_or_else(|| missing("subject"))?,
                text: rendered.body.ok_or_else(|| missing("body"))?,
            },
            CustomerChannel::Whatsapp => Payload::Whatsapp {
                to,
                template: rendered
                    .template
                    .ok_or_else(|| missing("WhatsApp template"))?,
                language: rendered.language,
                parameters: rendered.parameters.unwrap_or_default(),
            },
            CustomerChannel::Push => Payload::Push {
                to,
                title: rendered.title.ok_or_else(|| missing("title"))?,
                body: rendered.body.ok_or_else(|| missing("body"))?,
                data: rendered.data.unwrap_or_default(),
            },
            CustomerChannel::InApp => Payload::InApp {
                to,
                title: rendered.title.ok_or_else(|| missing("title"))?,
                body: rendered.body.ok_or_else(|| missing("body"))?,
                data: rendered.data.unwrap_or_default(),
            },
        })
    }

    /// Renders the template in `language` (or `en`) with `data`. A missing
    /// language, a variable the data lacks, or a failing expression is a
    /// `422` saying which.
    pub fn render(&self, language: Option<&str>, data: &Value) -> Result<Rendered> {
        let wanted = language.unwrap_or(FALLBACK_LANGUAGE);
        let (tag, text) = self
            .languages
            .get_key_value(wanted)
            .or_else(|| self.languages.get_key_value(FALLBACK_LANGUAGE))
            .ok_or_else(|| {
                Error::unprocessable(
                    "template_language",
                    format!(
                        "language: the template has neither `{wanted}` nor `{FALLBACK_LANGUAGE}`"
                    ),
                    Some("language"),
                )
            })?;
        let env = environment();
        let render = |source: &str| {
            // Name the first variable the data lacks, rather than minijinja's
            // "undefined value".
            if let Ok(compiled) = env.template_from_str(source) {
                // Dotted paths too (`recipient.data.tier`): the first
                // segment the data lacks names what is missing.
                let mut missing: Vec<String> = compiled
                    .undeclared_variables(true)
                    .into_iter()
                    .filter(|v| {
                        let root = v.split('.').next().unwrap_or_default();
                        env.globals().all(|(g, _)| g != root) && lacks(data, v)
                    })
                    .collect();
                missing.sort();
                if let Some(first) = missing.first() {
                    return Err(Error::unprocessable(
                        "template_error",
                        format!(
                            "data.{first}: the template `{}` ({tag}) uses it, and the data has none",
                            self.name
                        ),
                        Some(&format!("data.{first}")),
                    ));
                }
            }
            env.render_str(source, data)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    Error::unprocessable(
                        "template_error",
                        format!(
                            "data: the template `{}` ({tag}) cannot be rendered: {e}",
                            self.name
                        ),
                        Some("data"),
                    )
                })
        };
        Ok(Rendered {
            language: tag.clone(),
            subject: text.subject.as_deref().map(render).transpose()?,
            body: text.body.as_deref().map(render).transpose()?,
            template: text.template.clone(),
            parameters: match self.channel {
                CustomerChannel::Whatsapp => Some(
                    text.parameters
                        .iter()
                        .map(|p| render(p))
                        .collect::<Result<Vec<_>>>()?,
                ),
                _ => None,
            },
            title: text.title.as_deref().map(render).transpose()?,
            data: match text.data.is_empty() {
                true => None,
                false => Some(
                    text.data
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), render(v)?)))
                        .collect::<Result<BTreeMap<_, _>>>()?,
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(channel: CustomerChannel, body: Value) -> Template {
        let languages = languages_from_json(channel, body.to_string().as_bytes()).unwrap();
        let now = Utc::now();
        Template {
            account_id: "acc".into(),
            template_key: key(channel, "t"),
            channel,
            name: "t".into(),
            languages,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn renders_the_language_asked_for_or_english_and_never_blank() {
        let t = template(
            CustomerChannel::Sms,
            json!({"languages": {
                "en": {"body": "Hi {{ name }}, your car is due on {{ date }}."},
                "it": {"body": "Ciao {{ name }}, la tua auto è attesa il {{ date }}."}}}),
        );
        let data = json!({"name": "Marco", "date": "3 dicembre"});
        let it = t.render(Some("it"), &data).unwrap();
        assert_eq!(
            it.body.as_deref(),
            Some("Ciao Marco, la tua auto è attesa il 3 dicembre.")
        );
        assert_eq!(t.render(Some("ar"), &data).unwrap().language, "en");
        // A variable the data lacks is an error naming it, not blank text.
        match t.render(Some("it"), &json!({"name": "Marco"})) {
            Err(Error::Unprocessable { field, message, .. }) => {
                assert_eq!(field.as_deref(), Some("data.date"));
                assert!(message.contains("`t` (it) uses it"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whatsapp_renders_its_parameters_and_email_its_subject() {
        let wa = template(
            CustomerChannel::Whatsapp,
            json!({"languages": {"en": {"template": "service_reminder", "parameters": ["{{ name }}", "{{ date }}"]}}}),
        );
        let r = wa
            .render(None, &json!({"name": "Ann", "date": "Monday"}))
            .unwrap();
        assert_eq!(r.template.as_deref(), Some("service_reminder"));
        assert_eq!(
            r.parameters,
            Some(vec!["Ann".to_owned(), "Monday".to_owned()])
        );
        let email = template(
            CustomerChannel::Email,
            json!({"languages": {"en": {"subject": "Order {{ order }}", "body": "<b>{{ order }}</b> shipped"}}}),
        );
        let r = email.render(Some("en"), &json!({"order": "A&1"})).unwrap();
        assert_eq!(r.subject.as_deref(), Some("Order A&1"));
        assert_eq!(r.body.as_deref(), Some("<b>A&1</b> shipped"));
    }

    #[test]
    fn bad_templates_name_their_field() {
        let cases = [
            (
                CustomerChannel::Sms,
                json!({"languages": {"en": {"body": "Hi {{ name"}}}),
                "languages.en",
                422,
            ),
            (
                CustomerChannel::Sms,
                json!({"languages": {"english": {"body": "Hi"}}}),
                "languages.english",
                400,
            ),
            (
                CustomerChannel::Sms,
                json!({"languages": {"en": {"text": "Hi"}}}),
                "languages.en.text",
                400,
            ),
            (
                CustomerChannel::Sms,
                json!({"languages": {"en": {}}}),
                "languages.en.body",
                400,
            ),
            (
                CustomerChannel::Email,
                json!({"languages": {"en": {"body": "Hi"}}}),
                "languages.en.subject",
                400,
            ),
            (
                CustomerChannel::Whatsapp,
                json!({"languages": {"en": {"body": "Hi"}}}),
                "languages.en.body",
                400,
            ),
            (
                CustomerChannel::Whatsapp,
                json!({"languages": {"en": {"template": "x", "parameters": [1]}}}),
                "languages.en.parameters[0]",
                400,
            ),
            (
                CustomerChannel::Sms,
                json!({"languages": {}}),
                "languages",
                400,
            ),
            (CustomerChannel::Sms, json!({"langs": {}}), "langs", 400),
        ];
        for (channel, body, field, status) in cases {
            let err = languages_from_json(channel, body.to_string().as_bytes()).unwrap_err();
            assert_eq!(
                (err.field(), err.status()),
                (Some(field), status),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn names_and_languages() {
        assert!(is_valid_name("payment.paid") && is_valid_name("service_reminder"));
        assert!(!is_valid_name("") && !is_valid_name("Upper") && !is_valid_name("a/b"));
        assert!(is_valid_language("en") && is_valid_language("pt-BR"));
        assert!(
            !is_valid_language("EN") && !is_valid_language("en-") && !is_valid_language("english")
        );
    }
}
