//! SMS receipts are Genio's IPNs, posted form-encoded to the account's
//! receipt URL: a `DELIVERY` names the message INC sent by `custom` (the
//! notification id); an `MO` (a customer's reply) whose text is `STOP`
//! suppresses its sender.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::invalid;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::receipt::{Receipt, ReceiptStatus};
use crate::domain::messages::suppression::check_recipient;
use crate::error::{Error, Result};

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
    /// A customer replied anything else: a reply (contract 13), `id` what
    /// tells a repeat of the same report.
    Reply {
        from: String,
        text: String,
        id: String,
    },
    /// Nothing INC acts on (a SENT report, another reply, a message INC did
    /// not send): accepted, so the provider does not retry it.
    Ignored,
}

/// Longest field of a receipt form.
const MAX_FIELD_LEN: usize = 2_000;

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
                false if msg.trim().is_empty() => Ok(SmsInbound::Ignored),
                false => {
                    use sha2::{Digest, Sha256};
                    Ok(SmsInbound::Reply {
                        from: sender(from)?,
                        text: msg.to_owned(),
                        id: hex::encode(Sha256::digest(body)),
                    })
                }
            }
        }
        "SENT" => Ok(SmsInbound::Ignored),
        _ => Err(invalid("ipn_type", "must be DELIVERY, MO or SENT")),
    }
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
    fn stop_suppresses_its_sender_and_other_texts_are_replies() {
        assert_eq!(
            read("ipn_type=MO&from=00393331234567&msg=%20stop%20").unwrap(),
            SmsInbound::Stop {
                from: "+393331234567".into()
            }
        );
        let SmsInbound::Reply { from, text, id } =
            read("ipn_type=MO&from=%2B393331234567&msg=Grazie").unwrap()
        else {
            panic!("a reply")
        };
        assert_eq!((from.as_str(), text.as_str()), ("+393331234567", "Grazie"));
        let again = read("ipn_type=MO&from=%2B393331234567&msg=Grazie").unwrap();
        assert!(
            matches!(again, SmsInbound::Reply { id: ref same, .. } if *same == id),
            "the same report, the same id"
        );
        assert_eq!(
            read("ipn_type=MO&from=%2B393331234567&msg=%20").unwrap(),
            SmsInbound::Ignored
        );
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
