//! Delivery receipts (contract section 10): what a provider tells INC after
//! it took a message — the customer got it, read it, or never will — and
//! the inbound `STOP` that opts a customer out. A provider's 2xx keeps its
//! meaning (`delivered` = accepted); a receipt rides beside it.
//!
//! SMS receipts are Genio's IPNs, posted form-encoded to the account's
//! receipt URL: a `DELIVERY` names the message INC sent by `custom` (the
//! notification id); an `MO` (a customer's reply) whose text is `STOP`
//! suppresses its sender.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::channel::CustomerChannel;
use super::suppression::check_recipient;
use crate::error::{Error, Result};

/// What a receipt says happened to a message after the provider took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Read,
    Undelivered,
    Bounced,
    Complained,
}

/// The latest receipt of a customer message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub status: ReceiptStatus,
    pub at: DateTime<Utc>,
    /// The provider's own words (`RESULT_ERROR -5`), when it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one post to the SMS receipt route asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsInbound {
    /// A delivery report for the message INC sent as `notification_id`.
    Receipt {
        notification_id: String,
        receipt: Receipt,
    },
    /// A customer replied STOP: suppress `from` for SMS.
    Stop { from: String },
    /// Nothing INC acts on (a SENT report, another reply, a message INC did
    /// not send): accepted, so the provider does not retry it.
    Ignored,
}

/// Longest field of a receipt form.
const MAX_FIELD_LEN: usize = 2_000;

fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}

/// A Genio sender as E.164: `0039…` is `+39…`.
fn sender(from: &str) -> Result<String> {
    let from = from.trim();
    let e164 = match from.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => from.to_owned(),
    };
    check_recipient(CustomerChannel::Sms, "from", &e164)
}

/// Reads Genio's IPN form as posted to the SMS receipt route; a `400`
/// naming the field when it is not one.
pub fn sms_inbound(body: &[u8], now: DateTime<Utc>) -> Result<SmsInbound> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| Error::bad_request("invalid_body", "the body is not a form", None))?;
    let mut form = BTreeMap::new();
    for (k, v) in pairs {
        if v.chars().count() > MAX_FIELD_LEN {
            return Err(invalid(&k, "too long"));
        }
        if form.insert(k.clone(), v).is_some() {
            return Err(Error::bad_request(
                "duplicate_key",
                format!("{k}: given twice"),
                Some(&k),
            ));
        }
    }
    let field = |name: &str| form.get(name).map(String::as_str);
    let ipn_type = field("ipn_type").ok_or_else(|| invalid("ipn_type", "is required"))?;
    match ipn_type {
        "DELIVERY" => {
            let status = field("status").ok_or_else(|| invalid("status", "is required"))?;
            let code = field("status_code").unwrap_or_default();
            let delivered = match status {
                "RESULT_OK" => true,
                "RESULT_ERROR" => false,
                _ => return Err(invalid("status", "must be RESULT_OK or RESULT_ERROR")),
            };
            let custom = field("custom").unwrap_or_default();
            // Only what INC sent carries its notification id.
            if !custom.starts_with("ntf_") || custom.len() > 64 {
                return Ok(SmsInbound::Ignored);
            }
            Ok(SmsInbound::Receipt {
                notification_id: custom.to_owned(),
                receipt: Receipt {
                    status: match delivered {
                        true => ReceiptStatus::Delivered,
                        false => ReceiptStatus::Undelivered,
                    },
                    at: now,
                    detail: Some(format!("{status} {code}").trim().to_owned()),
                },
            })
        }
        "MO" => {
            let from = field("from").ok_or_else(|| invalid("from", "is required"))?;
            let msg = field("msg").unwrap_or_default();
            match msg.trim().eq_ignore_ascii_case("STOP") {
                true => Ok(SmsInbound::Stop {
                    from: sender(from)?,
                }),
                false => Ok(SmsInbound::Ignored),
            }
        }
        "SENT" => Ok(SmsInbound::Ignored),
        _ => Err(invalid("ipn_type", "must be DELIVERY, MO or SENT")),
    }
}

/// Whether `header` (`sha256=<hex>`, Meta's `X-Hub-Signature-256`) is the
/// HMAC-SHA256 of `body` under the app's `secret`, compared in constant
/// time.
pub fn whatsapp_signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    use hmac::Mac;
    let Some(tag) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
    else {
        return false;
    };
    mac_of(secret, body).verify_slice(&tag).is_ok()
}

/// Meta's `X-Hub-Signature-256` of `body` under `secret`: what a provider
/// (or a test standing in for one) sends.
pub fn whatsapp_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    format!(
        "sha256={}",
        hex::encode(mac_of(secret, body).finalize().into_bytes())
    )
}

fn mac_of(secret: &str, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac
}

/// The receipts in a WhatsApp Cloud API webhook (`entry[].changes[].value
/// .statuses[]`), by the message id INC's send returned: `delivered`,
/// `read`, and `failed` (undelivered, with Meta's error as the detail);
/// `sent` says nothing a 2xx did not. A body that is not such a webhook is
/// a `400`.
pub fn whatsapp_statuses(body: &[u8]) -> Result<Vec<(String, Receipt)>> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| Error::bad_request("invalid_body", "the body is not JSON", None))?;
    let entries = doc["entry"]
        .as_array()
        .ok_or_else(|| invalid("entry", "must be a list"))?;
    let mut out = Vec::new();
    for change in entries
        .iter()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        for s in change["value"]["statuses"].as_array().into_iter().flatten() {
            let id = s["id"]
                .as_str()
                .filter(|id| !id.is_empty() && id.len() <= 256)
                .ok_or_else(|| invalid("statuses.id", "must be a message id"))?;
            let status = match s["status"].as_str() {
                Some("delivered") => ReceiptStatus::Delivered,
                Some("read") => ReceiptStatus::Read,
                Some("failed") => ReceiptStatus::Undelivered,
                Some(_) => continue,
                None => return Err(invalid("statuses.status", "is required")),
            };
            // Meta's own time, in epoch seconds as a string.
            let at = s["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .ok_or_else(|| invalid("statuses.timestamp", "must be epoch seconds"))?;
            let detail = s["errors"][0]["title"]
                .as_str()
                .map(|title| match s["errors"][0]["code"].as_i64() {
                    Some(code) => format!("{code} {title}"),
                    None => title.to_owned(),
                });
            out.push((id.to_owned(), Receipt { status, at, detail }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<SmsInbound> {
        sms_inbound(body.as_bytes(), Utc::now())
    }

    fn field_of(body: &str) -> Option<String> {
        match read(body) {
            Err(Error::BadRequest { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_delivery_report_names_its_message_and_its_outcome() {
        let ok =
            read("ipn_type=DELIVERY&status=RESULT_OK&status_code=-1&custom=ntf_01ABC").unwrap();
        let SmsInbound::Receipt {
            notification_id,
            receipt,
        } = ok
        else {
            panic!("{ok:?}")
        };
        assert_eq!(notification_id, "ntf_01ABC");
        assert_eq!(receipt.status, ReceiptStatus::Delivered);
        let failed =
            read("ipn_type=DELIVERY&status=RESULT_ERROR&status_code=-5&custom=ntf_01ABC").unwrap();
        assert!(matches!(
            failed,
            SmsInbound::Receipt { receipt: Receipt { status: ReceiptStatus::Undelivered, ref detail, .. }, .. }
                if detail.as_deref() == Some("RESULT_ERROR -5")
        ));
        // A message INC did not send: accepted and ignored.
        assert_eq!(
            read("ipn_type=DELIVERY&status=RESULT_OK&custom=").unwrap(),
            SmsInbound::Ignored
        );
        assert_eq!(
            read("ipn_type=SENT&status=RESULT_OK").unwrap(),
            SmsInbound::Ignored
        );
    }

    #[test]
    fn stop_suppresses_its_sender_and_other_replies_do_nothing() {
        assert_eq!(
            read("ipn_type=MO&from=00393331234567&msg=%20stop%20").unwrap(),
            SmsInbound::Stop {
                from: "+393331234567".into()
            }
        );
        assert_eq!(
            read("ipn_type=MO&from=%2B393331234567&msg=Grazie").unwrap(),
            SmsInbound::Ignored
        );
    }

    #[test]
    fn whatsapp_statuses_name_their_message_and_only_the_signed_body_passes() {
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
            "statuses": [
                {"id": "wamid.1", "status": "sent", "timestamp": "1764680000"},
                {"id": "wamid.1", "status": "read", "timestamp": "1764680060"},
                {"id": "wamid.2", "status": "failed", "timestamp": "1764680001",
                 "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}]})
        .to_string();
        let statuses = whatsapp_statuses(body.as_bytes()).unwrap();
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].0, "wamid.1");
        assert_eq!(statuses[0].1.status, ReceiptStatus::Read);
        assert_eq!(statuses[0].1.at.timestamp(), 1_764_680_060);
        assert_eq!(
            statuses[1].1.detail.as_deref(),
            Some("131026 Message undeliverable")
        );
        assert!(whatsapp_statuses(b"[]").is_err());
        assert!(whatsapp_statuses(b"not json").is_err());

        let header = whatsapp_signature("app-secret", body.as_bytes());
        assert!(whatsapp_signature_ok(
            "app-secret",
            body.as_bytes(),
            Some(&header)
        ));
        assert!(!whatsapp_signature_ok(
            "other",
            body.as_bytes(),
            Some(&header)
        ));
        assert!(!whatsapp_signature_ok("app-secret", b"{}", Some(&header)));
        assert!(!whatsapp_signature_ok("app-secret", body.as_bytes(), None));
        assert!(!whatsapp_signature_ok(
            "app-secret",
            body.as_bytes(),
            Some("sha256=zz")
        ));
    }

    #[test]
    fn a_malformed_report_names_its_field() {
        assert_eq!(field_of("status=RESULT_OK").as_deref(), Some("ipn_type"));
        assert_eq!(field_of("ipn_type=BOUNCE").as_deref(), Some("ipn_type"));
        assert_eq!(
            field_of("ipn_type=DELIVERY&custom=ntf_1").as_deref(),
            Some("status")
        );
        assert_eq!(
            field_of("ipn_type=DELIVERY&status=MAYBE&custom=ntf_1").as_deref(),
            Some("status")
        );
        assert_eq!(field_of("ipn_type=MO&msg=STOP").as_deref(), Some("from"));
        assert_eq!(
            field_of("ipn_type=MO&from=abc&msg=STOP").as_deref(),
            Some("from")
        );
        assert_eq!(
            field_of("ipn_type=MO&ipn_type=MO&from=1&msg=STOP").as_deref(),
            Some("ipn_type")
        );
    }
}
