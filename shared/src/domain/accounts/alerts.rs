//! Where the merchant's alerts go (`settings.alerts`, contract section 8):
//! a URL for a signed webhook and an address for an email. What an alert
//! says and the notifications that carry it are `endpoints::alerts`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::common::url_policy::EndpointPolicy;
use crate::error::{Error, Result};

/// `settings.alerts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Alerts {
    /// The alerts after a patch `{"url"?, "email"?}`: a field given
    /// replaces the stored one, `null` removes it.
    pub fn patched(&self, patch: &Value, policy: &EndpointPolicy) -> Result<Alerts> {
        let Some(fields) = patch.as_object() else {
            return Err(Error::bad_request(
                "invalid_field",
                "alerts: must be an object",
                Some("alerts"),
            ));
        };
        let mut out = self.clone();
        for (name, value) in fields {
            let field = format!("alerts.{name}");
            let text = match value {
                Value::Null => None,
                Value::String(s) => Some(s.as_str()),
                _ => {
                    return Err(Error::bad_request(
                        "invalid_field",
                        format!("{field}: must be a string or null"),
                        Some(&field),
                    ));
                }
            };
            match name.as_str() {
                "url" => {
                    out.url = text
                        .map(|u| policy.check_field(u, &field).map(|u| u.to_string()))
                        .transpose()?;
                }
                "email" => {
                    out.email = text.map(|e| check_email(e, &field)).transpose()?;
                }
                _ => {
                    return Err(Error::bad_request(
                        "invalid_field",
                        format!("{field}: unknown field; alerts has url and email"),
                        Some(&field),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// An address one could send to: one `@`, a dotted domain, no spaces.
fn check_email(raw: &str, field: &str) -> Result<String> {
    let ok = raw.len() <= 254
        && !raw.chars().any(char::is_whitespace)
        && raw.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    match ok {
        true => Ok(raw.to_owned()),
        false => Err(Error::unprocessable(
            "invalid_email",
            format!("{field}: not an email address"),
            Some(field),
        )),
    }
}
