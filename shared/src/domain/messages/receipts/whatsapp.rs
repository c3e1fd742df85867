//! WhatsApp receipts are Meta's Cloud API webhooks, signed with the app's
//! secret; each status names the message by the id INC's send returned.

use chrono::{DateTime, Utc};

use super::invalid;
use crate::domain::delivery::receipt::{Receipt, ReceiptStatus};
use crate::error::{Error, Result};

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
/// An inbound WhatsApp message of Meta's webhook (`messages[]`): who sent
/// it (E.164), its text (a text's body, a button's or a list reply's
/// title), when, and Meta's id of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappInbound {
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
    pub id: String,
}

/// The inbound messages of Meta's webhook body; one INC cannot read is
/// skipped (an image, a reaction), a malformed one is a `400`.
pub fn whatsapp_messages(body: &[u8]) -> Result<Vec<WhatsappInbound>> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| Error::bad_request("invalid_body", "the body is not JSON", None))?;
    let mut out = Vec::new();
    for change in doc["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        for m in change["value"]["messages"].as_array().into_iter().flatten() {
            let id = m["id"]
                .as_str()
                .filter(|id| !id.is_empty() && id.len() <= 256)
                .ok_or_else(|| invalid("messages.id", "must be a message id"))?;
            let from = m["from"]
                .as_str()
                .filter(|f| !f.is_empty() && f.len() <= 20 && f.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| invalid("messages.from", "must be a phone number"))?;
            let at = m["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .ok_or_else(|| invalid("messages.timestamp", "must be epoch seconds"))?;
            let text = m["text"]["body"]
                .as_str()
                .or_else(|| m["button"]["text"].as_str())
                .or_else(|| m["interactive"]["button_reply"]["title"].as_str())
                .or_else(|| m["interactive"]["list_reply"]["title"].as_str());
            let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            out.push(WhatsappInbound {
                from: format!("+{from}"),
                text: text.to_owned(),
                at,
                id: id.to_owned(),
            });
        }
    }
    Ok(out)
}

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
}
