//! `inc ses-event`: plays SES for an email INC sent — publishes the event
//! SES's event publishing would (`Delivery`, a permanent or transient
//! `Bounce`, a `Complaint`) to the email events topic, so the receipts
//! function records it as it would on AWS. For the local stack, where moto
//! accepts every email and reports nothing, as SES's mailbox simulator
//! would on AWS.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use inc_shared::Error as IncError;
use inc_shared::domain::Payload;
use inc_shared::domain::messages::receipts::email::ACCOUNT_TAG;
use inc_shared::store::Store;

use crate::{Error, Result};

/// What SES says became of the email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Delivery,
    /// A permanent bounce: the address does not exist.
    Bounce,
    /// A transient bounce: the mailbox is full.
    SoftBounce,
    Complaint,
}

/// SES's event publishing record of `kind` for the message `message_id`
/// sent to `to` for `account_id`.
pub fn event(kind: Kind, account_id: &str, message_id: &str, to: &str, at: DateTime<Utc>) -> Value {
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mail = json!({"timestamp": at, "messageId": message_id, "destination": [to],
        "tags": {"ses:configuration-set": ["EmailConfigurationSet"], ACCOUNT_TAG: [account_id]}});
    let bounce = |bounce_type: &str, status: &str, diagnostic: &str| {
        json!({"eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": bounce_type, "bounceSubType": "General", "timestamp": at,
            "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": status, "diagnosticCode": diagnostic}]}})
    };
    match kind {
        Kind::Delivery => json!({"eventType": "Delivery", "mail": mail, "delivery": {
            "timestamp": at, "recipients": [to], "smtpResponse": "250 2.6.0 Message received"}}),
        Kind::Bounce => bounce("Permanent", "5.1.1", "smtp; 550 5.1.1 user unknown"),
        Kind::SoftBounce => bounce("Transient", "4.2.2", "smtp; 452 4.2.2 mailbox full"),
        Kind::Complaint => json!({"eventType": "Complaint", "mail": mail, "complaint": {
            "timestamp": at, "complaintFeedbackType": "abuse", "complainedRecipients": [{"emailAddress": to}]}}),
    }
}

/// Publishes SES's `kind` event for the email notification
/// `notification_id` of `account_id` to `topic_arn`; answers the event.
pub async fn publish(
    sdk: &aws_config::SdkConfig,
    store: &Store,
    topic_arn: &str,
    account_id: &str,
    notification_id: &str,
    kind: Kind,
) -> Result<Value> {
    let n = store
        .get_notification(account_id, notification_id)
        .await?
        .ok_or(IncError::NotFound("notification"))?;
    let Payload::Email { to, .. } = &n.payload else {
        return Err(IncError::bad_request(
            "not_an_email",
            format!("{notification_id} is not an email"),
            None,
        )
        .into());
    };
    let message_id = n
        .attempts
        .iter()
        .rev()
        .find_map(|a| a.provider_message_id.as_deref())
        .ok_or_else(|| {
            IncError::bad_request(
                "not_sent",
                format!("{notification_id} has no SES message id: SES has not taken it"),
                None,
            )
        })?;
    let event = event(kind, account_id, message_id, to, Utc::now());
    aws_sdk_sns::Client::new(sdk)
        .publish()
        .topic_arn(topic_arn)
        .message(event.to_string())
        .send()
        .await
        .map_err(|e| Error::aws(aws_sdk_sns::error::DisplayErrorContext(e)))?;
    Ok(event)
}
