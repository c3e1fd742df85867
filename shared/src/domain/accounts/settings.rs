//! The merchant's control panel, as Genio SMS has it: the endpoint URL, INC
//! on/off, and the Sent / Delivery toggles — plus the webhook format.

use serde::{Deserialize, Serialize};

use crate::domain::accounts::providers::Channels;
use crate::domain::common::url_policy::EndpointPolicy;
use crate::error::{Error, Result};

/// How a webhook body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Genio's form-encoded IPN.
    #[default]
    Form,
    /// `{"id", "type", "created_at", "data"}` as JSON.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Master switch: when off, no event causes a webhook.
    pub inc_enabled: bool,
    /// Where webhooks go; none configured means no webhook is sent.
    pub endpoint_url: Option<String>,
    /// Genio's "Sms Out Api Sent" toggle: IPNs for `sms.sent`.
    pub sms_out_api_sent: bool,
    /// Genio's "Sms Out Api Delivery" toggle: IPNs for `sms.delivered`.
    pub sms_out_api_delivery: bool,
    /// How `sms.*` webhooks are encoded: Genio's form (default) or JSON.
    pub webhook_format: WebhookFormat,
    /// The customer-channel providers.
    #[serde(default)]
    pub channels: Channels,
    /// Where INC tells the merchant about its endpoints' health.
    #[serde(default)]
    pub alerts: crate::domain::accounts::alerts::Alerts,
    /// When SMS and WhatsApp messages wait (contract section 9).
    #[serde(default)]
    pub quiet_hours: Option<crate::domain::accounts::quiet_hours::QuietHours>,
}

impl Default for Settings {
    /// A new account: INC and both toggles on, no endpoint yet.
    fn default() -> Self {
        Settings {
            inc_enabled: true,
            endpoint_url: None,
            sms_out_api_sent: true,
            sms_out_api_delivery: true,
            webhook_format: WebhookFormat::Form,
            channels: Channels::default(),
            alerts: crate::domain::accounts::alerts::Alerts::default(),
            quiet_hours: None,
        }
    }
}

impl Settings {
    /// The settings as the API shows them: provider secrets masked.
    pub fn masked(&self) -> Settings {
        Settings {
            channels: self.channels.masked(),
            ..self.clone()
        }
    }
}

/// A `PATCH /v1/settings` body: every field optional; `endpoint_url: null`
/// removes the endpoint.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, deserialize_with = "not_null")]
    pub inc_enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub endpoint_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    pub sms_out_api_sent: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    pub sms_out_api_delivery: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    pub webhook_format: Option<WebhookFormat>,
    /// A JSON merge patch of `channels`.
    pub channels: Option<serde_json::Value>,
    /// `{"url"?, "email"?}`: each given field replaces, `null` removes.
    #[serde(default, deserialize_with = "not_null")]
    pub alerts: Option<serde_json::Value>,
    /// `{"start", "end", "timezone"}` replaces the window; `null` removes it.
    #[serde(default, deserialize_with = "not_null")]
    pub quiet_hours: Option<serde_json::Value>,
}

/// A field that may be left out but not set to `null`: only the endpoint
/// URL can be removed.
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

impl SettingsPatch {
    /// Parses a JSON body strictly, naming the offending field.
    pub fn from_json(body: &[u8]) -> Result<SettingsPatch> {
        let value = serde_json::Value::Object(crate::domain::json_object(body)?);
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner = e.inner().to_string();
            let field = match inner.strip_prefix("unknown field `") {
                Some(rest) => rest.split('`').next().unwrap_or_default().to_owned(),
                None => e.path().to_string(),
            };
            Error::bad_request("invalid_field", format!("{field}: {inner}"), Some(&field))
        })
    }

    /// The settings after this patch, with the endpoint checked by `policy`.
    pub fn apply(self, mut settings: Settings, policy: &EndpointPolicy) -> Result<Settings> {
        if let Some(url) = self.endpoint_url {
            settings.endpoint_url = match url {
                Some(url) => Some(policy.check(&url)?.to_string()),
                None => None,
            };
        }
        if let Some(v) = self.inc_enabled {
            settings.inc_enabled = v;
        }
        if let Some(v) = self.sms_out_api_sent {
            settings.sms_out_api_sent = v;
        }
        if let Some(v) = self.sms_out_api_delivery {
            settings.sms_out_api_delivery = v;
        }
        if let Some(v) = self.webhook_format {
            settings.webhook_format = v;
        }
        if let Some(patch) = &self.channels {
            if !patch.is_object() {
                return Err(Error::bad_request(
                    "invalid_field",
                    "channels: must be an object",
                    Some("channels"),
                ));
            }
            settings.channels = settings.channels.patched(patch, policy)?;
        }
        if let Some(patch) = &self.alerts {
            settings.alerts = settings.alerts.patched(patch, policy)?;
        }
        if let Some(window) = &self.quiet_hours {
            settings.quiet_hours = match window {
                serde_json::Value::Null => None,
                window => {
                    Some(crate::domain::accounts::quiet_hours::QuietHours::from_value(window)?)
                }
            };
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::common::url_policy::tests::{DEPLOYED, LOCAL};

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let patch = SettingsPatch::from_json(
            br#"{"sms_out_api_delivery": false, "endpoint_url": "https://a.example/x"}"#,
        )
        .unwrap();
        let s = patch.apply(Settings::default(), &DEPLOYED).unwrap();
        assert!(s.inc_enabled && s.sms_out_api_sent && !s.sms_out_api_delivery);
        assert_eq!(s.endpoint_url.as_deref(), Some("https://a.example/x"));
        let cleared = SettingsPatch::from_json(br#"{"endpoint_url": null}"#)
            .unwrap()
            .apply(s, &DEPLOYED)
            .unwrap();
        assert_eq!(cleared.endpoint_url, None);
    }

    #[test]
    fn quiet_hours_are_set_kept_and_removed() {
        let patch = |body: &str| SettingsPatch::from_json(body.as_bytes()).unwrap();
        let set = patch(
            r#"{"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/Rome"}}"#,
        )
        .apply(Settings::default(), &LOCAL)
        .unwrap();
        let window = set.quiet_hours.clone().expect("a window");
        assert_eq!(
            (window.start.as_str(), window.end.as_str()),
            ("21:00", "08:00")
        );
        let kept = patch(r#"{"inc_enabled": false}"#)
            .apply(set.clone(), &LOCAL)
            .unwrap();
        assert_eq!(kept.quiet_hours, set.quiet_hours);
        let removed = patch(r#"{"quiet_hours": null}"#)
            .apply(set, &LOCAL)
            .unwrap();
        assert_eq!(removed.quiet_hours, None);
    }

    #[test]
    fn a_bad_patch_is_refused_with_its_field() {
        for (body, field) in [
            (r#"{"inc_enabled": "yes"}"#, "inc_enabled"),
            (r#"{"colour": "red"}"#, "colour"),
            (r#"{"webhook_format": "xml"}"#, "webhook_format"),
            // Only the endpoint can be removed with null.
            (r#"{"inc_enabled": null}"#, "inc_enabled"),
            (r#"{"webhook_format": null}"#, "webhook_format"),
            (r#"{"sms_out_api_sent": null}"#, "sms_out_api_sent"),
        ] {
            let e = SettingsPatch::from_json(body.as_bytes()).unwrap_err();
            assert_eq!((e.status(), e.field()), (400, Some(field)), "{body}");
        }
        assert_eq!(
            SettingsPatch::from_json(b"[1]").unwrap_err().code(),
            "invalid_body"
        );
    }
}
