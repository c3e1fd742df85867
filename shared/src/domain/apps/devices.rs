//! A recipient's devices: each an app install that FCM or APNs knows by a
//! token. A push goes to every device of the recipient, one notification
//! each; a device its provider says is gone (FCM `UNREGISTERED`, APNs
//! `410`) is removed by itself. Tokens are secrets of the app: they are
//! shown masked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::apps::invalid;
use crate::error::{Error, Result};

/// Longest device token (APNs' are 64 hex digits, FCM's about 160).
pub const MAX_TOKEN_LEN: usize = 4_096;
/// Most devices one recipient has.
pub const MAX_DEVICES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Fcm,
    Apns,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Fcm => "fcm",
            Platform::Apns => "apns",
        }
    }
}

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub account_id: String,
    pub recipient_id: String,
    pub token: String,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Device {
    /// Where a push to it goes: `platform:token`, a push's `to`.
    pub fn address(&self) -> String {
        address(self.platform, &self.token)
    }

    pub fn view(&self) -> Value {
        json!({
            "platform": self.platform,
            "token": mask(&self.token),
            "app": self.app,
            "created_at": self.created_at,
        })
    }
}

/// A push's `to` for a device.
pub fn address(platform: Platform, token: &str) -> String {
    format!("{}:{token}", platform.as_str())
}

/// The platform and token of a push's `to`.
pub fn parse_address(to: &str) -> Option<(Platform, &str)> {
    let (platform, token) = to.split_once(':')?;
    let platform = match platform {
        "fcm" => Platform::Fcm,
        "apns" => Platform::Apns,
        _ => return None,
    };
    (!token.is_empty()).then_some((platform, token))
}

/// A token as the API shows it: its first six and last four characters.
pub fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 12 {
        return "****".to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `POST /v1/recipients/{id}/devices`: `{"platform", "token", "app"?}`.
/// A device address (`platform:token`) as answers show it: masked.
pub fn mask_address(to: &str) -> String {
    match parse_address(to) {
        Some((platform, token)) => address(platform, &mask(token)),
        None => mask(to),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub platform: Platform,
    pub token: String,
    pub app: Option<String>,
}

impl DeviceSpec {
    pub fn from_json(body: &[u8]) -> Result<DeviceSpec> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top
            .keys()
            .find(|k| !["platform", "token", "app"].contains(&k.as_str()))
        {
            return Err(Error::bad_request(
                "unknown_field",
                format!("{key}: unknown field; a device has platform, token, app"),
                Some(key),
            ));
        }
        let platform = match top.remove("platform") {
            Some(Value::String(p)) if p == "fcm" => Platform::Fcm,
            Some(Value::String(p)) if p == "apns" => Platform::Apns,
            Some(_) => return Err(invalid("platform", "must be fcm or apns")),
            None => return Err(invalid("platform", "is required: fcm or apns")),
        };
        let token = match top.remove("token") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(invalid("token", "must be a string")),
            None => {
                return Err(invalid(
                    "token",
                    "is required: the device's token from FCM or APNs",
                ));
            }
        };
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
        {
            return Err(invalid(
                "token",
                &format!("must be 1 to {MAX_TOKEN_LEN} printable characters, no spaces or /"),
            ));
        }
        if platform == Platform::Apns && !(token.len() == 64 || token.len() == 160) {
            return Err(invalid("token", "an APNs token is 64 (or 160) hex digits"));
        }
        if platform == Platform::Apns && !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("token", "an APNs token is hex digits"));
        }
        let app = match top.remove("app") {
            None | Some(Value::Null) => None,
            Some(Value::String(a)) if !a.is_empty() && a.len() <= 200 => Some(a),
            Some(_) => return Err(invalid("app", "must be 1 to 200 characters")),
        };
        Ok(DeviceSpec {
            platform,
            token,
            app,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_show_masked() {
        let d = DeviceSpec::from_json(
            br#"{"platform": "fcm", "token": "fcm-token-0123456789", "app": "shop"}"#,
        )
        .expect("valid");
        assert_eq!(d.platform, Platform::Fcm);
        assert_eq!(mask(&d.token), "fcm-to…6789");
        assert_eq!(
            parse_address(&address(d.platform, &d.token)),
            Some((Platform::Fcm, "fcm-token-0123456789"))
        );
        for (body, field) in [
            (r#"{"platform": "gcm", "token": "x"}"#, "platform"),
            (r#"{"platform": "fcm"}"#, "token"),
            (r#"{"platform": "fcm", "token": "a b"}"#, "token"),
            (r#"{"platform": "apns", "token": "abc"}"#, "token"),
            (
                r#"{"platform": "fcm", "token": "x", "os": "android"}"#,
                "os",
            ),
        ] {
            let e = DeviceSpec::from_json(body.as_bytes()).expect_err(body);
            assert_eq!(e.field(), Some(field), "{body}");
        }
        let apns = "a".repeat(64);
        assert!(
            DeviceSpec::from_json(
                format!(r#"{{"platform": "apns", "token": "{apns}"}}"#).as_bytes()
            )
            .is_ok()
        );
    }
}
