//! The SQS adapter: one message per notification, naming it by id (an
//! event's fan-out beyond ten goes as a bundle that deliver splits). The
//! notification itself (body, attempts) lives in DynamoDB, so a message is
//! small and a redelivered one always sees the latest state.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{Error, Result};

pub use crate::domain::delivery::message::DeliveryMessage;
use crate::domain::delivery::message::{QueueBody, bundled};

/// A message taken off a queue.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub body: String,
    pub receipt_handle: String,
    /// Why it is on the dead-letter queue, for messages deliver put there.
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
}

impl Queue {
    pub fn new(client: Client) -> Queue {
        Queue { client }
    }

    /// Sends every message, ten to a batch, the batches at once (a
    /// bundle's 41 are five calls side by side, not in a row); any message
    /// SQS refuses fails the whole call, so the caller answers 503 (or
    /// hands its record back) and the outbox keeps the rest.
    pub async fn enqueue(&self, queue_url: &str, messages: &[DeliveryMessage]) -> Result<()> {
        let undelayed: Vec<(DeliveryMessage, u32)> =
            messages.iter().map(|m| (m.clone(), 0)).collect();
        self.enqueue_delayed(queue_url, &undelayed).await
    }

    /// Queues an event's messages in one call: ten at most as they are,
    /// the rest in one bundle that deliver queues one by one
    /// ([`bundled`]). A failure fails the whole call, as
    /// [`enqueue`](Self::enqueue)'s does.
    pub async fn enqueue_fan_out(
        &self,
        queue_url: &str,
        messages: Vec<DeliveryMessage>,
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let (direct, bundle) = bundled(messages);
        let entries: Vec<(QueueBody, u32)> = direct
            .into_iter()
            .map(QueueBody::One)
            .chain(bundle.map(QueueBody::Bundle))
            .map(|body| (body, 0))
            .collect();
        self.send_batch(queue_url, &entries).await
    }

    /// [`enqueue`](Self::enqueue), each message hidden by SQS for its
    /// number of seconds first (at most 900): a scheduled send.
    pub async fn enqueue_delayed<T: serde::Serialize>(
        &self,
        queue_url: &str,
        messages: &[(T, u32)],
    ) -> Result<()> {
        let batches = messages
            .chunks(10)
            .map(|chunk| self.send_batch(queue_url, chunk));
        futures::future::try_join_all(batches).await?;
        Ok(())
    }

    async fn send_batch<T: serde::Serialize>(
        &self,
        queue_url: &str,
        chunk: &[(T, u32)],
    ) -> Result<()> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (m, delay))| {
                let body = serde_json::to_string(m).map_err(Error::dependency)?;
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .set_delay_seconds(
                        (*delay > 0).then(|| i32::try_from(*delay).unwrap_or(900).min(900)),
                    )
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

    /// Takes up to 10 messages off `queue_url`, hidden for `hide` while the
    /// caller works on them; with their `inc_failure_reason` when present.
    pub async fn receive(&self, queue_url: &str, hide: Duration) -> Result<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(i32::try_from(hide.as_secs()).unwrap_or(30))
            .message_attribute_names("inc_failure_reason")
            .send()
            .await
            .map_err(|e| Error::dependency(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get("inc_failure_reason"))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                Some(Received {
                    message_id: m.message_id?,
                    body: m.body?,
                    receipt_handle: m.receipt_handle?,
                    reason,
                })
            })
            .collect())
    }

    /// Deletes a received message.
    pub async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
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
