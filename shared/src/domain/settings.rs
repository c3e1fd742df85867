//! The merchant's control panel, as Genio SMS has it: the endpoint URL, INC
//! on/off, and the Sent / Delivery toggles — plus the webhook format.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::channels::Channels;
use crate::error::{Error, Result};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

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
    pub alerts: super::alerts::Alerts,
    /// When SMS and WhatsApp messages wait (contract section 9).
    #[serde(default)]
    pub quiet_hours: Option<super::quiet_hours::QuietHours>,
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
            alerts: super::alerts::Alerts::default(),
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
        let value = serde_json::Value::Object(super::json_object(body)?);
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
                window => Some(super::quiet_hours::QuietHours::from_value(window)?),
            };
        }
        Ok(settings)
    }
}

/// Which endpoint URLs an INC deployment may call.
///
/// A deployed stack calls only `https` URLs on public hosts; the local stack
/// also allows `http` and loopback, so a merchant can test on a laptop. This
/// checks the URL as written (scheme, literal addresses, `localhost`); the
/// delivery worker checks the addresses a name resolves to as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    pub allow_private: bool,
}

impl EndpointPolicy {
    pub fn check(&self, raw: &str) -> Result<Url> {
        self.check_field(raw, "endpoint_url")
    }

    /// The same check, its errors naming `field` (`url` on an endpoint).
    pub fn check_field(&self, raw: &str, field: &str) -> Result<Url> {
        let invalid = |why: String| {
            Error::unprocessable(
                "invalid_endpoint_url",
                format!("{field}: {why}"),
                Some(field),
            )
        };
        if raw.len() > MAX_URL_LEN {
            return Err(invalid(format!("must be at most {MAX_URL_LEN} characters")));
        }
        let url = Url::parse(raw).map_err(|e| invalid(format!("not a valid URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err(invalid("must use https".into())),
            other => {
                return Err(invalid(format!(
                    "scheme `{other}` is not supported; use https"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not contain a #fragment".into()));
        }
        let internal = match url.host() {
            None => return Err(invalid("must name a host".into())),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
            }
            Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        };
        if internal && !self.allow_private {
            return Err(invalid(
                "must not point to a private, loopback or internal address".into(),
            ));
        }
        Ok(url)
    }
}

/// Addresses a deployed INC must never call.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
                || v4.is_multicast()
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                // Prefixes that can carry an IPv4 address inside: NAT64
                // 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32.
                || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0])
                || seg[0] == 0x2002
                || (seg[0] == 0x2001 && seg[1] == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYED: EndpointPolicy = EndpointPolicy {
        allow_private: false,
    };
    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };

    #[test]
    fn deployed_policy_accepts_only_public_https() {
        assert!(DEPLOYED.check("https://shop.example/ipn").is_ok());
        for bad in [
            "http://shop.example/ipn",
            "ftp://shop.example/ipn",
            "https://localhost/ipn",
            "https://127.0.0.1/ipn",
            "https://10.0.0.8/ipn",
            "https://169.254.169.254/latest",
            "https://100.64.1.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://user:pw@shop.example/",
            "not a url",
            "https://shop.example/#x",
        ] {
            let e = DEPLOYED.check(bad).expect_err(bad);
            assert_eq!(
                (e.status(), e.field()),
                (422, Some("endpoint_url")),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_ssrf_corpus() {
        let internal = [
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "240.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "198.19.255.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
        ];
        for ip in internal {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_internal(ip), "{ip} should be refused");
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            assert!(
                DEPLOYED.check(&format!("https://{host}/ipn")).is_err(),
                "{host}"
            );
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is public");
        }
        for url in [
            "https://localhost./",
            "https://app.localhost/",
            "https://db.internal/x",
            "https://LOCALHOST/",
        ] {
            assert!(DEPLOYED.check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn local_policy_also_accepts_loopback_http() {
        assert!(LOCAL.check("http://127.0.0.1:8000/ipn").is_ok());
        assert!(LOCAL.check("http://localhost:8000/ipn").is_ok());
        assert!(LOCAL.check("ftp://127.0.0.1/").is_err());
    }

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
