//! SNS triggers: each `SNS` event of the template invokes its function with
//! the topic's messages as Lambda does — one record per invocation, tried
//! three times in all, then kept in the function's `DeadLetterQueue`.
//!
//! moto delivers a topic to SQS queues (its SNS → SQS subscriptions are
//! real), so each trigger is a queue of the stack's own, subscribed to the
//! topic, redriven to the function's dead-letter queue after three
//! receives, and polled into SNS events.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sns::{SnsEvent, SnsMessage};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use super::provision::queue_arn;
use crate::{Error, Result};
use inc_shared::Config;

/// Lambda's asynchronous invocation: the first try and two retries.
const TRIES: u32 = 3;

/// How long a failed invocation waits before its retry (Lambda waits a
/// minute, then two; the local stack is in more of a hurry).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The handler of an SNS-triggered function, by its binary's name.
pub enum SnsHandler {
    Receipts(inc_receipts::Receipts),
}

impl SnsHandler {
    pub fn new(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<SnsHandler> {
        match binary {
            "receipts" => Ok(SnsHandler::Receipts(inc_receipts::Receipts::new(
                sdk, config,
            )?)),
            other => Err(Error::Template(format!(
                "the local stack has no SNS handler for binary `{other}`"
            ))),
        }
    }

    async fn handle(&self, event: SnsEvent) -> std::result::Result<(), String> {
        match self {
            SnsHandler::Receipts(r) => r.handle(event).await.map(drop).map_err(|e| e.to_string()),
        }
    }
}

/// One topic's trigger of one function.
pub struct Trigger {
    sqs: aws_sdk_sqs::Client,
    url: String,
    subscription_arn: String,
    handler: Arc<SnsHandler>,
}

impl Trigger {
    /// Subscribes a queue named `name` to `topic_arn`, redriven to
    /// `dead_letter_arn` (when the function has one) after [`TRIES`].
    pub async fn subscribe(
        sdk: &SdkConfig,
        name: &str,
        topic_arn: &str,
        dead_letter_arn: Option<&str>,
        handler: Arc<SnsHandler>,
    ) -> Result<Trigger> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let sqs_err = |e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e));
        let mut request = sqs.create_queue().queue_name(name).attributes(
            QueueAttributeName::VisibilityTimeout,
            RETRY_AFTER.as_secs().to_string(),
        );
        if let Some(dlq) = dead_letter_arn {
            request = request.attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq, "maxReceiveCount": TRIES}).to_string(),
            );
        }
        let url = request
            .send()
            .await
            .map_err(sqs_err)?
            .queue_url
            .ok_or_else(|| Error::aws("CreateQueue returned no URL"))?;
        let queue_arn = queue_arn(&sqs, &url).await?;
        let subscription_arn = aws_sdk_sns::Client::new(sdk)
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sns::error::DisplayErrorContext(e)))?
            .subscription_arn
            .unwrap_or_default();
        Ok(Trigger {
            sqs,
            url,
            subscription_arn,
            handler,
        })
    }

    pub async fn run(self) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(queue = %self.url, %e, "polling an SNS trigger failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn poll_once(&self) -> Result<()> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for m in received.messages.unwrap_or_default() {
            // The SNS envelope SQS holds is the record's `Sns` as Lambda
            // gets it (bar two spellings the event type accepts).
            let done = match serde_json::from_str::<SnsMessage>(m.body().unwrap_or_default()) {
                Ok(message) => {
                    let event = inc_receipts::event_of(message, &self.subscription_arn);
                    match self.handler.handle(event).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(%e, "an SNS-triggered function failed; it is tried again");
                            false
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%e, "not an SNS notification; dropped");
                    true
                }
            };
            if done && let Some(receipt) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            }
        }
        Ok(())
    }
}
