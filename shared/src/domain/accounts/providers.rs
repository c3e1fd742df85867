//! The account's customer-channel providers (`settings.channels`): the SMS
//! gateway, the SES sender, the WhatsApp Cloud API number. Secrets are
//! write-only: they come back masked, and a masked value sent back is
//! ignored rather than stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use minijinja::Environment;

use crate::domain::common::address::is_email;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::common::url_policy::EndpointPolicy;
use crate::domain::events::payment::PaymentState;
use crate::error::{Error, Result};

/// What a masked secret starts with.
pub const MASK: &str = "****";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappProvider>,
    /// Mobile push (contract 14): Firebase Cloud Messaging, Apple's APNs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushProviders>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushProviders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm: Option<FcmProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns: Option<ApnsProvider>,
}

/// FCM's HTTP v1 API: INC signs an OAuth 2.0 assertion with the service
/// account's key (RS256), exchanges it at `token_uri`, and sends with the
/// access token until shortly before it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmProvider {
    pub project_id: String,
    pub service_account: ServiceAccount,
    /// `https://fcm.googleapis.com` unless set (tests point it at loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// The fields of a Google service account's JSON key INC uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    pub client_email: String,
    /// PEM (`-----BEGIN PRIVATE KEY-----`); write-only.
    pub private_key: String,
    /// `https://oauth2.googleapis.com/token` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_uri: Option<String>,
}

/// Apple's APNs: an ES256 provider token (team, key id) renewed every 20
/// to 50 minutes, HTTP/2, the app's bundle id as `apns-topic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsProvider {
    pub team_id: String,
    pub key_id: String,
    /// PEM of the `.p8` key; write-only.
    pub private_key: String,
    pub topic: String,
    /// `https://api.push.apple.com` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// FCM's and Google's defaults.
pub const FCM_BASE_URL: &str = "https://fcm.googleapis.com";
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const APNS_BASE_URL: &str = "https://api.push.apple.com";

fn yes() -> bool {
    true
}

/// A Genio-style HTTP SMS gateway: a form POST of `api`, `to`, `msg`,
/// `custom` (and `from` when a sender is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsProvider {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub url: String,
    pub api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Overrides of the message text: key `state` or `state.language`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, String>,
    /// A second gateway, used for an attempt after this one failed twice
    /// in a row (contract section 10; see `delivery::sms_gateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<SmsGateway>,
}

/// A second SMS gateway: the same form POST, elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGateway {
    pub url: String,
    pub api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

/// Which of an SMS provider's gateways an attempt uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Primary,
    Fallback,
}

impl Gateway {
    /// How an attempt names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Primary => "primary",
            Gateway::Fallback => "fallback",
        }
    }
}

impl SmsProvider {
    /// The gateway's URL, key and sender (the primary's when there is no
    /// fallback).
    pub fn gateway(&self, which: Gateway) -> (&str, &str, Option<&str>) {
        match (which, &self.fallback) {
            (Gateway::Fallback, Some(f)) => (&f.url, &f.api_key, f.sender.as_deref()),
            _ => (&self.url, &self.api_key, self.sender.as_deref()),
        }
    }
}

/// SES v2 `SendEmail` from a verified sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailProvider {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub from: String,
    /// Overrides: key `state` or `state.language`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, EmailTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplate {
    pub subject: String,
    pub body: String,
}

/// Meta's WhatsApp Cloud API, template messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappProvider {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub base_url: String,
    pub phone_number_id: String,
    pub access_token: String,
    /// The approved template for a state; default `inc_<state>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, String>,
    /// What Meta sends back when it verifies the receipt URL (contract
    /// section 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// The app's secret, with which Meta signs each receipt it posts
    /// (`X-Hub-Signature-256`); write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// Where a message that fails for good goes instead (contract section
    /// 10): `"sms"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<WhatsappFallback>,
}

/// The channel a failed WhatsApp message is sent again on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhatsappFallback {
    Sms,
}

fn masked(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{MASK}{tail}")
}

impl Channels {
    /// Whether a WhatsApp message that fails for good is sent again by
    /// SMS: the fallback is set and an SMS provider is enabled.
    pub fn whatsapp_falls_back_to_sms(&self) -> bool {
        self.whatsapp
            .as_ref()
            .is_some_and(|w| w.fallback == Some(WhatsappFallback::Sms))
            && self.configured(CustomerChannel::Sms)
    }

    /// Whether `channel` has an enabled provider.
    pub fn configured(&self, channel: CustomerChannel) -> bool {
        match channel {
            CustomerChannel::Sms => self.sms.as_ref().is_some_and(|p| p.enabled),
            CustomerChannel::Email => self.email.as_ref().is_some_and(|p| p.enabled),
            CustomerChannel::Whatsapp => self.whatsapp.as_ref().is_some_and(|p| p.enabled),
            CustomerChannel::Push => self
                .push
                .as_ref()
                .is_some_and(|p| p.fcm.is_some() || p.apns.is_some()),
            // The feed is INC's own.
            CustomerChannel::InApp => true,
        }
    }

    /// The channels as `GET /v1/settings` shows them: secrets masked.
    pub fn masked(&self) -> Channels {
        let mut c = self.clone();
        if let Some(sms) = &mut c.sms {
            sms.api_key = masked(&sms.api_key);
            if let Some(f) = &mut sms.fallback {
                f.api_key = masked(&f.api_key);
            }
        }
        if let Some(wa) = &mut c.whatsapp {
            wa.access_token = masked(&wa.access_token);
            wa.app_secret = wa.app_secret.as_deref().map(masked);
        }
        if let Some(push) = &mut c.push {
            if let Some(fcm) = &mut push.fcm {
                fcm.service_account.private_key = MASK.to_owned();
            }
            if let Some(apns) = &mut push.apns {
                apns.private_key = MASK.to_owned();
            }
        }
        c
    }

    /// Applies a JSON merge patch (RFC 7386) to the stored channels, keeps a
    /// stored secret where the patch sends a masked one back, and validates
    /// the result.
    pub fn patched(&self, patch: &Value, policy: &EndpointPolicy) -> Result<Channels> {
        let mut doc = serde_json::to_value(self).map_err(Error::dependency)?;
        merge(&mut doc, patch);
        for (channel, secret) in [
            ("sms", "api_key"),
            ("sms", "fallback/api_key"),
            ("whatsapp", "access_token"),
            ("whatsapp", "app_secret"),
            ("push", "fcm/service_account/private_key"),
            ("push", "apns/private_key"),
        ] {
            let sent = doc
                .pointer(&format!("/{channel}/{secret}"))
                .and_then(Value::as_str);
            if sent.is_some_and(|s| s.starts_with(MASK)) {
                let stored = serde_json::to_value(self)
                    .ok()
                    .and_then(|v| v.pointer(&format!("/{channel}/{secret}")).cloned());
                if let (Some(stored), Some(slot)) =
                    (stored, doc.pointer_mut(&format!("/{channel}/{secret}")))
                {
                    *slot = stored;
                }
            }
        }
        let channels: Channels = serde_path_to_error::deserialize(doc).map_err(|e| {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            // serde names a missing field at its parent, an unknown one at itself.
            let leaf = inner
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next());
            let field = match leaf {
                Some(leaf) if path == "." => format!("channels.{leaf}"),
                Some(leaf) => format!("channels.{path}.{leaf}"),
                None => format!("channels.{path}"),
            };
            Error::unprocessable("invalid_channel", format!("{field}: {inner}"), Some(&field))
        })?;
        channels.validate(policy)?;
        Ok(channels)
    }

    fn validate(&self, policy: &EndpointPolicy) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Error::unprocessable(
                "invalid_channel",
                format!("channels.{field}: {why}"),
                Some(&format!("channels.{field}")),
            )
        };
        let url = |field: &str, value: &str| {
            policy
                .check(value)
                .map(|_| ())
                .map_err(|e| bad(field, &e.to_string().replace("endpoint_url: ", "")))
        };
        // A gateway's URL, key and sender, under `prefix`.
        let gateway = |prefix: &str, (u, key, sender): (&str, &str, Option<&str>)| {
            url(&format!("{prefix}.url"), u)?;
            if key.is_empty() || key.len() > 512 {
                return Err(bad(
                    &format!("{prefix}.api_key"),
                    "must be 1 to 512 characters",
                ));
            }
            if sender.is_some_and(|s| s.is_empty() || s.chars().count() > 16) {
                return Err(bad(
                    &format!("{prefix}.sender"),
                    "must be 1 to 16 characters",
                ));
            }
            Ok(())
        };
        if let Some(sms) = &self.sms {
            gateway("sms", sms.gateway(Gateway::Primary))?;
            if sms.fallback.is_some() {
                gateway("sms.fallback", sms.gateway(Gateway::Fallback))?;
            }
        }
        if let Some(email) = &self.email
            && !is_email(&email.from)
        {
            return Err(bad("email.from", "must be an email address"));
        }
        if let Some(wa) = &self.whatsapp {
            url("whatsapp.base_url", &wa.base_url)?;
            if wa.phone_number_id.is_empty()
                || !wa.phone_number_id.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(
                    "whatsapp.phone_number_id",
                    "must be the number's numeric id",
                ));
            }
            if wa.access_token.is_empty() || wa.access_token.len() > 1024 {
                return Err(bad("whatsapp.access_token", "must be 1 to 1024 characters"));
            }
            for (field, value) in [
                ("whatsapp.verify_token", &wa.verify_token),
                ("whatsapp.app_secret", &wa.app_secret),
            ] {
                if value
                    .as_ref()
                    .is_some_and(|v| v.is_empty() || v.len() > 256)
                {
                    return Err(bad(field, "must be 1 to 256 characters"));
                }
            }
        }
        if let Some(push) = &self.push {
            validate_push(push, &url, &bad)?;
        }
        check_overrides(self).map_err(|(field, why)| bad(&field, &why))
    }
}

/// The push providers' fields, and their keys parsed: a key that is not
/// one is refused when saved (`422`), not at the first send.
fn validate_push(
    push: &PushProviders,
    url: &dyn Fn(&str, &str) -> Result<()>,
    bad: &dyn Fn(&str, &str) -> Error,
) -> Result<()> {
    let word = |field: &str, value: &str, max: usize| {
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        match ok {
            true => Ok(()),
            false => Err(bad(
                field,
                &format!("must be 1 to {max} of A-Z a-z 0-9 - _ ."),
            )),
        }
    };
    if let Some(fcm) = &push.fcm {
        word("push.fcm.project_id", &fcm.project_id, 100)?;
        if !is_email(&fcm.service_account.client_email) {
            return Err(bad(
                "push.fcm.service_account.client_email",
                "must be the service account's email",
            ));
        }
        jsonwebtoken::EncodingKey::from_rsa_pem(fcm.service_account.private_key.as_bytes())
            .map_err(|e| {
                bad(
                    "push.fcm.service_account.private_key",
                    &format!("must be the service account's RSA key in PEM: {e}"),
                )
            })?;
        if let Some(u) = &fcm.base_url {
            url("push.fcm.base_url", u)?;
        }
        if let Some(u) = &fcm.service_account.token_uri {
            url("push.fcm.service_account.token_uri", u)?;
        }
    }
    if let Some(apns) = &push.apns {
        word("push.apns.team_id", &apns.team_id, 20)?;
        word("push.apns.key_id", &apns.key_id, 20)?;
        word("push.apns.topic", &apns.topic, 200)?;
        jsonwebtoken::EncodingKey::from_ec_pem(apns.private_key.as_bytes()).map_err(|e| {
            bad(
                "push.apns.private_key",
                &format!("must be the .p8 key (EC P-256) in PEM: {e}"),
            )
        })?;
        if let Some(u) = &apns.base_url {
            url("push.apns.base_url", u)?;
        }
    }
    Ok(())
}

/// Compiles every override, so a broken template is refused when saved.
pub fn check_overrides(channels: &Channels) -> std::result::Result<(), (String, String)> {
    let env = Environment::new();
    let mut sources: Vec<(String, &str)> = Vec::new();
    if let Some(sms) = &channels.sms {
        sources.extend(
            sms.templates
                .iter()
                .map(|(k, v)| (format!("sms.templates.{k}"), v.as_str())),
        );
    }
    if let Some(email) = &channels.email {
        for (k, v) in &email.templates {
            sources.push((format!("email.templates.{k}.subject"), &v.subject));
            sources.push((format!("email.templates.{k}.body"), &v.body));
        }
    }
    let keys = channels
        .sms
        .iter()
        .flat_map(|s| s.templates.keys().map(|k| format!("sms.templates.{k}")))
        .chain(
            channels
                .email
                .iter()
                .flat_map(|e| e.templates.keys().map(|k| format!("email.templates.{k}"))),
        )
        .chain(channels.whatsapp.iter().flat_map(|w| {
            w.templates
                .keys()
                .map(|k| format!("whatsapp.templates.{k}"))
        }));
    for key in keys {
        let suffix = key.rsplit("templates.").next().unwrap_or_default();
        let (state, lang) = suffix.split_once('.').unwrap_or((suffix, ""));
        let lang_ok = lang.is_empty()
            || (crate::domain::events::payment::LANGUAGES.contains(&lang)
                && !key.starts_with("whatsapp"));
        if PaymentState::parse(state).is_none() || !lang_ok {
            return Err((key, "keys are a state, or state.language (en, ar)".into()));
        }
    }
    for (field, source) in sources {
        if source.len() > 4096 {
            return Err((field, "must be at most 4096 characters".into()));
        }
        env.template_from_str(source)
            .map_err(|e| (field, format!("not a valid template: {e}")))?;
    }
    Ok(())
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };

    #[test]
    fn merges_masks_and_keeps_secrets() {
        let c = Channels::default()
            .patched(&json!({"sms": {"url": "http://127.0.0.1:9/sms", "api_key": "secret-1234", "sender": "SHOP"}}), &LOCAL)
            .unwrap();
        assert!(c.configured(CustomerChannel::Sms) && !c.configured(CustomerChannel::Email));
        let shown = c.masked();
        assert_eq!(shown.sms.as_ref().unwrap().api_key, "****1234");
        // Sending the masked settings back changes nothing.
        let again = c
            .patched(&serde_json::to_value(&shown).unwrap(), &LOCAL)
            .unwrap();
        assert_eq!(again, c);
        let off = c
            .patched(&json!({"sms": {"enabled": false}}), &LOCAL)
            .unwrap();
        assert!(!off.configured(CustomerChannel::Sms));
        let gone = c.patched(&json!({"sms": null}), &LOCAL).unwrap();
        assert_eq!(gone, Channels::default());
    }

    #[test]
    fn refuses_incomplete_or_unsafe_providers() {
        let deployed = EndpointPolicy {
            allow_private: false,
        };
        for (patch, field) in [
            (
                json!({"sms": {"url": "https://sms.example/api"}}),
                "channels.sms.api_key",
            ),
            (
                json!({"sms": {"url": "http://10.0.0.1/", "api_key": "k"}}),
                "channels.sms.url",
            ),
            (json!({"email": {"from": "nobody"}}), "channels.email.from"),
            (
                json!({"whatsapp": {"base_url": "https://graph.example", "phone_number_id": "x1", "access_token": "t"}}),
                "channels.whatsapp.phone_number_id",
            ),
            (json!({"fax": {}}), "channels.fax"),
        ] {
            let e = Channels::default()
                .patched(&patch, &deployed)
                .expect_err(field);
            assert_eq!((e.status(), e.field()), (422, Some(field)), "{patch}: {e}");
        }
    }
}
