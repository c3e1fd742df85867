//! The receipts function (contract section 10): SES publishes the events of
//! every email INC sends — through the configuration set deliver sends with
//! — to an SNS topic, and SNS invokes this function with them. Each
//! `Delivery`, `Bounce` or `Complaint` is recorded as the `receipt` of the
//! message SES names by its message id; a permanent bounce and a complaint
//! put the address on the account's opt-out list.
//!
//! An event that is not SES's, or names a message INC does not know, is
//! logged and dropped: SNS would only retry it. A failing dependency fails
//! the invocation, and SNS retries it — recording a receipt and listing an
//! opt-out are both safe to repeat.

use aws_config::SdkConfig;
use aws_lambda_events::sns::{SnsEvent, SnsMessage, SnsRecord};
use chrono::Utc;
use serde::Serialize;

use inc_shared::Config;
use inc_shared::Result;
use inc_shared::domain::Channel;
use inc_shared::domain::CustomerChannel;
use inc_shared::domain::messages::receipts::ReceiptStatus;
use inc_shared::domain::messages::receipts::email::{EmailEvent, SesNotice, ses_event};
use inc_shared::domain::messages::suppression::{Suppression, key};
use inc_shared::store::Store;

pub struct Receipts {
    store: Store,
}

/// The event Lambda hands the function for one message of a topic, as
/// SNS delivers it to a subscription (`subscription_arn`).
pub fn event_of(message: SnsMessage, subscription_arn: &str) -> SnsEvent {
    let mut record = SnsRecord::default();
    record.event_source = "aws:sns".into();
    record.event_version = "1.0".into();
    record.event_subscription_arn = subscription_arn.to_owned();
    record.sns = message;
    let mut event = SnsEvent::default();
    event.records.push(record);
    event
}

/// A dead-lettered invocation's body as an event again: Lambda keeps the
/// event it could not handle (`{"Records": [...]}`); the local stack's
/// trigger queue keeps the SNS envelope itself. `None` for anything else.
pub fn dead_lettered_event(body: &str) -> Option<SnsEvent> {
    if let Ok(event) = serde_json::from_str::<SnsEvent>(body)
        && !event.records.is_empty()
    {
        return Some(event);
    }
    let message = serde_json::from_str::<SnsMessage>(body).ok()?;
    Some(event_of(message, ""))
}

/// What one invocation did, for its log and its answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Receipts written onto their messages.
    pub recorded: usize,
    /// Addresses put on an opt-out list.
    pub suppressed: usize,
    /// Events INC does not act on: not SES's, not INC's, a message it does
    /// not know, or older than the receipt its message holds.
    pub ignored: usize,
}

impl Receipts {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Receipts> {
        Ok(Receipts {
            store: Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config),
        })
    }

    /// Records every SES event of an SNS invocation.
    pub async fn handle(&self, event: SnsEvent) -> Result<Report> {
        let mut report = Report::default();
        for record in event.records {
            let event = match ses_event(&record.sns.message) {
                Ok(SesNotice::Event(event)) => event,
                Ok(SesNotice::Ignored(why)) => {
                    tracing::info!(sns_message_id = %record.sns.message_id, why, "SES event ignored");
                    report.ignored += 1;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(sns_message_id = %record.sns.message_id, %err, "not an SES event; dropped");
                    report.ignored += 1;
                    continue;
                }
            };
            self.record(&event, &mut report).await?;
        }
        tracing::info!(?report, "email receipts");
        Ok(report)
    }

    async fn record(&self, event: &EmailEvent, report: &mut Report) -> Result<()> {
        let account_id = event.account_id.as_str();
        let Some(notification_id) = self
            .store
            .notification_for_provider_id(account_id, &event.message_id)
            .await?
        else {
            tracing::info!(account_id, ses_message_id = %event.message_id, "a receipt of a message INC does not know; ignored");
            report.ignored += 1;
            return Ok(());
        };
        match self
            .store
            .record_receipt(account_id, &notification_id, Channel::Email, &event.receipt)
            .await?
        {
            true => report.recorded += 1,
            false => report.ignored += 1,
        }
        let (source, reason) = match event.receipt.status {
            ReceiptStatus::Complained => ("email_complaint", "complained"),
            _ => ("email_bounce", "bounced"),
        };
        for address in &event.suppress {
            let suppression = Suppression {
                account_id: account_id.to_owned(),
                recipient: key(CustomerChannel::Email, address),
                channel: CustomerChannel::Email,
                to: address.clone(),
                reason: Some(match &event.receipt.detail {
                    Some(detail) => format!("{reason}: {detail}"),
                    None => reason.to_owned(),
                }),
                source: source.into(),
                created_at: Utc::now(),
            };
            if self.store.add_suppression(&suppression).await?.0 {
                report.suppressed += 1;
            }
        }
        tracing::info!(account_id, %notification_id, status = ?event.receipt.status, "email receipt");
        Ok(())
    }
}
