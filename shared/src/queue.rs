//! The SQS adapter: one message per notification, naming it by id. The
//! notification itself (body, attempts) lives in DynamoDB, so a message is
//! small and a redelivered one always sees the latest state.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The body of a delivery message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryMessage {
    pub account_id: String,
    pub notification_id: String,
}

#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
}

impl Queue {
    pub fn new(client: Client) -> Queue {
        Queue { client }
    }

    /// Sends every message, ten to a batch; any message SQS refuses fails
    /// the whole call, so the caller can undo and answer 503.
    pub async fn enqueue(&self, queue_url: &str, messages: &[DeliveryMessage]) -> Result<()> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let body = serde_json::to_string(m).map_err(Error::dependency)?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(Error::dependency)
                })
                .collect::<Result<Vec<_>>>()?;
            let sent = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::dependency(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            if let Some(failed) = sent.failed.first() {
                return Err(Error::Dependency(format!(
                    "SQS refused a message: {}",
                    failed.message.as_deref().unwrap_or(&failed.code)
                )));
            }
        }
        Ok(())
    }

    /// Hides a received message for `delay`, so that its redelivery is the
    /// next attempt of the retry schedule.
    pub async fn retry_later(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<()> {
        let secs = i32::try_from(delay.as_secs())
            .unwrap_or(i32::MAX)
            .min(12 * 3600);
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| Error::dependency(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Puts a message on the dead-letter queue, with the reason it is there.
    pub async fn dead_letter(&self, dlq_url: &str, body: &str, reason: &str) -> Result<()> {
        let reason = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(Error::dependency)?;
        self.client
            .send_message()
            .queue_url(dlq_url)
            .message_body(body)
            .message_attributes("inc_failure_reason", reason)
            .send()
            .await
            .map_err(|e| Error::dependency(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}
