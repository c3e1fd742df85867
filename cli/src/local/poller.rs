//! The queue poller: each SQS queue fed to its function with Lambda's
//! event-source-mapping semantics — batches of up to `BatchSize`,
//! `ReportBatchItemFailures`, receive counts, the queue's own redrive.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use crate::{Error, Result};
use inc_shared::Config;
use inc_shared::metrics::Metrics;

/// A received SQS message as Lambda's event source mapping hands it to a
/// function (the caller adds the queue's ARN and region where it has them).
pub fn lambda_record(m: aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id;
    record.receipt_handle = m.receipt_handle;
    record.body = m.body;
    record.md5_of_body = m.md5_of_body;
    record.attributes = m
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    record.event_source = Some("aws:sqs".into());
    record
}

/// The handler of an SQS-triggered function, by its binary's name.
pub enum SqsHandler {
    Deliver(Box<inc_deliver::Deliver>),
    Campaigns(Box<inc_campaigns::Campaigns>),
}

impl SqsHandler {
    async fn handle(&self, event: SqsEvent) -> Vec<String> {
        let answer = match self {
            SqsHandler::Deliver(d) => d.handle(event).await,
            SqsHandler::Campaigns(c) => c.handle(event).await,
        };
        answer
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }
}

pub fn sqs_handler(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<SqsHandler> {
    match binary {
        "deliver" => Ok(SqsHandler::Deliver(Box::new(
            inc_deliver::Deliver::new(sdk, config)?.with_metrics(Metrics::to_log()),
        ))),
        "campaigns" => Ok(SqsHandler::Campaigns(Box::new(
            inc_campaigns::Campaigns::new(sdk, config)?,
        ))),
        other => Err(Error::Template(format!(
            "the local stack has no SQS handler for binary `{other}`"
        ))),
    }
}

/// One consumer of a queue, as Lambda's event-source mapping is.
#[derive(Clone)]
pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
    pub region: String,
    pub batch_size: usize,
    pub partial: bool,
    pub handler: Arc<SqsHandler>,
}

impl Poller {
    pub async fn run(self) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(queue = %self.url, %e, "polling failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn poll_once(&self) -> Result<()> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(self.batch_size).unwrap_or(10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for m in messages {
            let mut record = lambda_record(m);
            record.event_source_arn = Some(self.arn.clone());
            record.aws_region = Some(self.region.clone());
            if let (Some(id), Some(receipt)) = (&record.message_id, &record.receipt_handle) {
                receipts.insert(id.clone(), receipt.clone());
            }
            event.records.push(record);
        }
        let failed: HashSet<String> = self.handler.handle(event).await.into_iter().collect();
        // Without ReportBatchItemFailures any failure fails the whole batch.
        if !self.partial && !failed.is_empty() {
            return Ok(());
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}
