//! What becomes of a record once its attempt is decided: kept on the queue
//! for a later attempt (hidden for the wait), or given up — recorded
//! `failed` with its dead-letter copy owed, then that copy sent.

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use chrono::Utc;

use inc_shared::Result;
use inc_shared::domain::delivery::retry::wait_on_sqs;
use inc_shared::domain::{Attempt, Notification, Status};
use inc_shared::metrics::Delivery;

use crate::{Deliver, Disposition};

impl Deliver {
    /// Hides the received message for `wait` and keeps it on the queue.
    pub(crate) async fn hide(&self, record: &SqsMessage, wait: Duration) -> Result<Disposition> {
        if let Some(receipt) = record.receipt_handle.as_deref() {
            self.queue
                .retry_later(self.queue_of(record), receipt, wait)
                .await?;
        }
        Ok(Disposition::Again)
    }

    /// The queue a record came from: the campaign queue's, or the delivery
    /// queue's (the function reads both).
    pub(crate) fn queue_of(&self, record: &SqsMessage) -> &str {
        let from_campaigns = record.event_source_arn.as_deref().is_some_and(|arn| {
            let name = self
                .campaign_queue_url
                .rsplit('/')
                .next()
                .unwrap_or_default();
            !name.is_empty() && arn.rsplit(':').next() == Some(name)
        });
        match from_campaigns {
            true => &self.campaign_queue_url,
            false => &self.queue_url,
        }
    }

    /// A retry: the attempt recorded, the message hidden until it is due.
    pub(crate) async fn retry_later(
        &self,
        record: &SqsMessage,
        n: &Notification,
        attempt: &Attempt,
        gap: Duration,
    ) -> Result<Disposition> {
        let next = Utc::now() + chrono::Duration::from_std(gap).unwrap_or_default();
        self.store
            .record_attempt(
                n,
                attempt,
                Status::Retrying,
                Some(next),
                attempt.error.as_deref(),
                false,
            )
            .await?;
        self.metrics
            .delivery(n.channel.as_str(), Delivery::Retried, attempt.latency_ms);
        self.hide(record, wait_on_sqs(gap)).await
    }

    /// Records the final failure, owing its dead-letter copy, then parks the
    /// message on the dead-letter queue, where an operator can inspect or
    /// redrive it. If that send fails, the record is handed back: the
    /// status says the copy is still owed, so the next delivery of the
    /// message (or the sweeper) sends it — the copy never goes missing.
    pub(crate) async fn give_up(
        &self,
        body: &str,
        n: &Notification,
        attempt: Option<&Attempt>,
        reason: &str,
    ) -> Result<Disposition> {
        match attempt {
            Some(a) => {
                self.store
                    .record_attempt(n, a, Status::Failed, None, Some(reason), true)
                    .await?
            }
            None => self.store.mark_failed(n, reason).await?,
        }
        self.metrics.delivery(
            n.channel.as_str(),
            Delivery::Failed,
            attempt.map_or(0, |a| a.latency_ms),
        );
        tracing::warn!(account_id = %n.account_id, notification_id = %n.notification_id, reason, "notification failed");
        self.dead_letter(body, n, reason).await
    }

    /// Sends the dead-letter copy a given-up notification owes, then clears
    /// the debt.
    pub(crate) async fn dead_letter(
        &self,
        body: &str,
        n: &Notification,
        reason: &str,
    ) -> Result<Disposition> {
        self.queue.dead_letter(&self.dlq_url, body, reason).await?;
        if let Err(e) = self.store.dead_letter_sent(n).await {
            // The copy is there; at worst the sweeper sends a second one.
            tracing::warn!(notification_id = %n.notification_id, %e, "could not clear the dead-letter flag");
        }
        Ok(Disposition::Done)
    }
}
