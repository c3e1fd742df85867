//! Email receipts are SES's event publishing: the configuration set INC
//! sends with publishes `Delivery`, `Bounce` and `Complaint` events to an
//! SNS topic, and each names the message by the id `SendEmail` returned
//! (`mail.messageId`) and the account by the tag INC sent it with
//! ([`ACCOUNT_TAG`]). A permanent bounce and a complaint opt the address
//! out; a transient bounce only reports.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::invalid;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::receipt::{Receipt, ReceiptStatus};
use crate::domain::messages::suppression::check_recipient;
use crate::error::{Error, Result};

/// The SES message tag that names the account an email was sent for: SES
/// repeats a message's tags in every event it publishes about it.
pub const ACCOUNT_TAG: &str = "inc_account";

/// What one SES event says about a message INC sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailEvent {
    pub account_id: String,
    /// SES's message id, as `SendEmail` returned it.
    pub message_id: String,
    pub receipt: Receipt,
    /// The addresses to opt out: a permanent bounce's and a complaint's
    /// recipients.
    pub suppress: Vec<String>,
}

/// What an SES event asks of INC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SesNotice {
    Event(EmailEvent),
    /// An event INC does not act on (a `Send`, an `Open`, a message sent
    /// without INC's tag), and why.
    Ignored(&'static str),
}

/// Longest message id or address an event may carry.
const MAX_FIELD_LEN: usize = 512;

fn text<'a>(doc: &'a Value, pointer: &str, field: &str) -> Result<&'a str> {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_FIELD_LEN)
        .ok_or_else(|| invalid(field, "is required"))
}

fn time(doc: &Value, pointer: &str, field: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text(doc, pointer, field)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(field, "must be an RFC 3339 time"))
}

/// The valid addresses of a list of SES recipients (`[{"emailAddress"}]`).
fn recipients(doc: &Value, pointer: &str) -> Vec<String> {
    doc.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["emailAddress"].as_str())
        .filter_map(|a| check_recipient(CustomerChannel::Email, "emailAddress", a).ok())
        .collect()
}

/// Reads the `Message` of an SNS notification from SES's event publishing
/// (`eventType`; identity notifications' `notificationType` reads the
/// same). A message that is not such an event is a `400` naming the field.
pub fn ses_event(message: &str) -> Result<SesNotice> {
    let doc: Value = serde_json::from_str(message)
        .map_err(|_| Error::bad_request("invalid_body", "the message is not JSON", None))?;
    let kind = doc
        .get("eventType")
        .or_else(|| doc.get("notificationType"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("eventType", "is required"))?;
    let message_id = text(&doc, "/mail/messageId", "mail.messageId")?.to_owned();
    let (status, at, detail, suppress) = match kind {
        "Delivery" => (
            ReceiptStatus::Delivered,
            time(&doc, "/delivery/timestamp", "delivery.timestamp")?,
            doc.pointer("/delivery/smtpResponse")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Vec::new(),
        ),
        "Bounce" => {
            let bounce_type = text(&doc, "/bounce/bounceType", "bounce.bounceType")?;
            let sub_type = doc
                .pointer("/bounce/bounceSubType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let diagnostic = doc
                .pointer("/bounce/bouncedRecipients/0/diagnosticCode")
                .and_then(Value::as_str);
            let detail = [
                Some(format!("{bounce_type}/{sub_type}")),
                diagnostic.map(str::to_owned),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            let suppress = match bounce_type {
                "Permanent" => recipients(&doc, "/bounce/bouncedRecipients"),
                _ => Vec::new(),
            };
            (
                ReceiptStatus::Bounced,
                time(&doc, "/bounce/timestamp", "bounce.timestamp")?,
                Some(detail),
                suppress,
            )
        }
        "Complaint" => (
            ReceiptStatus::Complained,
            time(&doc, "/complaint/timestamp", "complaint.timestamp")?,
            doc.pointer("/complaint/complaintFeedbackType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            recipients(&doc, "/complaint/complainedRecipients"),
        ),
        _ => return Ok(SesNotice::Ignored("an event type INC does not record")),
    };
    let Some(account_id) = doc
        .pointer(&format!("/mail/tags/{ACCOUNT_TAG}/0"))
        .and_then(Value::as_str)
        .filter(|a| a.starts_with("acc_") && a.len() <= 64)
    else {
        return Ok(SesNotice::Ignored("a message INC did not send"));
    };
    let detail = detail.map(|d| d.chars().take(MAX_FIELD_LEN).collect());
    Ok(SesNotice::Event(EmailEvent {
        account_id: account_id.to_owned(),
        message_id,
        receipt: Receipt { status, at, detail },
        suppress,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, body: Value) -> String {
        let mut doc = json!({
            "eventType": kind,
            "mail": {
                "timestamp": "2026-12-02T10:00:00.000Z",
                "source": "shop@example.com",
                "messageId": "0100019a-ses-id",
                "destination": ["ada@example.com"],
                "tags": {"ses:configuration-set": ["inc-email"], "inc_account": ["acc_01ABC"]},
            },
        });
        doc[kind.to_ascii_lowercase()] = body;
        doc.to_string()
    }

    fn read(kind: &str, body: Value) -> EmailEvent {
        match ses_event(&event(kind, body)).unwrap() {
            SesNotice::Event(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delivery_names_its_message_and_account() {
        let e = read(
            "Delivery",
            json!({"timestamp": "2026-12-02T10:00:02.000Z", "smtpResponse": "250 2.6.0 Message received"}),
        );
        assert_eq!(e.account_id, "acc_01ABC");
        assert_eq!(e.message_id, "0100019a-ses-id");
        assert_eq!(e.receipt.status, ReceiptStatus::Delivered);
        assert_eq!(e.receipt.at.timestamp(), 1_796_205_602);
        assert_eq!(
            e.receipt.detail.as_deref(),
            Some("250 2.6.0 Message received")
        );
        assert!(e.suppress.is_empty());
    }

    #[test]
    fn a_permanent_bounce_and_a_complaint_opt_out_a_transient_bounce_does_not() {
        let bounced = |kind: &str| {
            json!({"bounceType": kind, "bounceSubType": "General", "timestamp": "2026-12-02T10:00:03.000Z",
                   "bouncedRecipients": [{"emailAddress": "Ada@Example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]})
        };
        let hard = read("Bounce", bounced("Permanent"));
        assert_eq!(hard.receipt.status, ReceiptStatus::Bounced);
        assert_eq!(
            hard.receipt.detail.as_deref(),
            Some("Permanent/General: smtp; 550 5.1.1 user unknown")
        );
        assert_eq!(hard.suppress, ["ada@example.com"]);
        let soft = read("Bounce", bounced("Transient"));
        assert_eq!(soft.receipt.status, ReceiptStatus::Bounced);
        assert!(soft.suppress.is_empty());
        let complaint = read(
            "Complaint",
            json!({"timestamp": "2026-12-02T10:05:00.000Z", "complaintFeedbackType": "abuse",
                   "complainedRecipients": [{"emailAddress": "ada@example.com"}, {"emailAddress": "not an address"}]}),
        );
        assert_eq!(complaint.receipt.status, ReceiptStatus::Complained);
        assert_eq!(complaint.receipt.detail.as_deref(), Some("abuse"));
        assert_eq!(complaint.suppress, ["ada@example.com"]);
    }

    #[test]
    fn what_inc_does_not_act_on_is_ignored_and_what_is_not_an_event_names_its_field() {
        let send = event("Send", json!({}));
        assert!(matches!(ses_event(&send), Ok(SesNotice::Ignored(_))));
        let mut untagged: Value = serde_json::from_str(&event(
            "Delivery",
            json!({"timestamp": "2026-12-02T10:00:02.000Z"}),
        ))
        .unwrap();
        untagged["mail"]["tags"] = json!({"ses:configuration-set": ["inc-email"]});
        assert!(matches!(
            ses_event(&untagged.to_string()),
            Ok(SesNotice::Ignored(_))
        ));
        let field = |message: &str| match ses_event(message) {
            Err(Error::BadRequest { field, .. }) => field,
            other => panic!("{message}: {other:?}"),
        };
        assert_eq!(field("not json"), None);
        assert_eq!(field("{}").as_deref(), Some("eventType"));
        assert_eq!(
            field(&json!({"eventType": "Delivery", "mail": {}}).to_string()).as_deref(),
            Some("mail.messageId")
        );
        assert_eq!(
            field(&event("Delivery", json!({"timestamp": "yesterday"}))).as_deref(),
            Some("delivery.timestamp")
        );
        assert_eq!(
            field(&event(
                "Bounce",
                json!({"timestamp": "2026-12-02T10:00:03Z"})
            ))
            .as_deref(),
            Some("bounce.bounceType")
        );
    }
}
