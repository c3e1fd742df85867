//! `inc dlq redrive`: sends the notifications parked on the dead-letter
//! queue again, once whatever made them fail is fixed; with `--queue
//! receipts`, replays the SES events the receipts function could not
//! record (see [`Which::Receipts`]).
//!
//! Each message names a notification. A `failed` one is put back to
//! `queued` — a new chain with the whole retry schedule, the same
//! `webhook-id` — and its message goes back on the delivery queue; then the
//! dead-letter copy is deleted. One still `queued` or `retrying` (SQS moved
//! its message here after `maxReceiveCount`) still needs that message: it
//! goes back on the delivery queue as it is, and only then is the copy
//! deleted — a copy is never deleted while its notification is pending.
//! A notification already `delivered`, or gone, needs nothing, so its copy
//! is just deleted. A message that cannot be read stays where it is, for a
//! person to look at.

use std::time::Duration;

use inc_shared::domain::Status;
use inc_shared::domain::delivery::message::QueueBody;
use inc_shared::queue::{DeliveryMessage, Queue, Received};
use inc_shared::store::Store;
use inc_shared::{Config, Error as IncError};

use crate::Result;

/// What a redrive did, message by message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Notifications queued again.
    pub redriven: Vec<String>,
    /// Copies deleted because their notification needs nothing.
    pub dropped: Vec<String>,
    /// Messages left on the queue because they cannot be read.
    pub unreadable: usize,
}

/// How long a message being worked on stays hidden from other readers.
const HIDE: Duration = Duration::from_secs(60);

/// Which dead-letter queue a redrive empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `DeliveryDeadLetterQueue`: notifications given up or lost.
    Delivery,
    /// `ReceiptsDeadLetterQueue`: SES events (SNS invocations) the
    /// receipts function failed three times. Each is handed to the same
    /// handler again, in-process; recording a receipt and listing an
    /// opt-out are both safe to repeat. The copy is deleted once handled;
    /// if the handler fails again, the run stops and the copy stays.
    Receipts,
}

/// Redrives at most `max` messages of the delivery dead-letter queue;
/// `dry_run` only says what it would do (and leaves every message visible
/// again).
pub async fn redrive(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    max: usize,
    dry_run: bool,
) -> Result<Report> {
    redrive_queue(sdk, config, Which::Delivery, max, dry_run).await
}

/// [`redrive`] of the dead-letter queue `which`.
pub async fn redrive_queue(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    which: Which,
    max: usize,
    dry_run: bool,
) -> Result<Report> {
    let store = Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config);
    let queue = Queue::new(aws_sdk_sqs::Client::new(sdk));
    let (delivery, dlq) = match which {
        Which::Delivery => (config.delivery_queue()?, config.dead_letter_queue()?),
        Which::Receipts => ("", config.receipts_dead_letter_queue()?),
    };
    let receipts = match which {
        Which::Receipts => Some(inc_receipts::Receipts::new(sdk, config)?),
        Which::Delivery => None,
    };
    let mut report = Report::default();
    let mut seen = 0;
    let mut ids = std::collections::HashSet::new();
    'run: while seen < max {
        // A dry run leaves every message visible; a message seen twice ends
        // the run.
        let hide = if dry_run { Duration::ZERO } else { HIDE };
        let batch = queue.receive(dlq, hide).await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if !ids.insert(message.message_id.clone()) {
                break 'run;
            }
            seen += 1;
            let outcome = match &receipts {
                Some(receipts) => replay_receipt(receipts, &queue, dlq, &message, dry_run).await?,
                None => redrive_one(&store, &queue, delivery, dlq, &message, dry_run).await?,
            };
            match outcome {
                Handled::Redriven(id) => report.redriven.push(id),
                Handled::Dropped(id) => report.dropped.push(id),
                Handled::Unreadable => report.unreadable += 1,
            }
            if dry_run {
                queue
                    .retry_later(dlq, &message.receipt_handle, Duration::ZERO)
                    .await?;
            }
        }
    }
    Ok(report)
}

enum Handled {
    Redriven(String),
    Dropped(String),
    Unreadable,
}

/// Hands one dead-lettered SES event to the receipts handler again.
async fn replay_receipt(
    receipts: &inc_receipts::Receipts,
    queue: &Queue,
    dlq: &str,
    message: &Received,
    dry_run: bool,
) -> Result<Handled> {
    let Some(event) = inc_receipts::dead_lettered_event(&message.body) else {
        tracing::warn!("unreadable message left on the receipts dead-letter queue");
        return Ok(Handled::Unreadable);
    };
    let id = event
        .records
        .first()
        .map(|r| r.sns.message_id.clone())
        .unwrap_or_default();
    if dry_run {
        return Ok(Handled::Redriven(id));
    }
    let report = receipts.handle(event).await?;
    tracing::info!(sns_message_id = %id, ?report, "dead-lettered SES event replayed");
    queue.delete(dlq, &message.receipt_handle).await?;
    Ok(Handled::Redriven(id))
}

async fn redrive_one(
    store: &Store,
    queue: &Queue,
    delivery: &str,
    dlq: &str,
    message: &Received,
    dry_run: bool,
) -> Result<Handled> {
    // A fan-out's bundle goes back as its messages, one each: whatever of
    // it was already sent, deliver does not send again.
    if let Ok(QueueBody::Bundle(bundle)) = QueueBody::parse(&message.body) {
        let id = format!("a bundle of {} messages", bundle.bundle.len());
        if !dry_run {
            queue.enqueue(delivery, &bundle.bundle).await?;
            queue.delete(dlq, &message.receipt_handle).await?;
        }
        return Ok(Handled::Redriven(id));
    }
    let Ok(parsed) = serde_json::from_str::<DeliveryMessage>(&message.body) else {
        tracing::warn!(
            reason = message.reason.as_deref(),
            "unreadable message left on the dead-letter queue"
        );
        return Ok(Handled::Unreadable);
    };
    let id = parsed.notification_id.clone();
    let status = store
        .get_notification(&parsed.account_id, &id)
        .await?
        .map(|n| n.status);
    if dry_run {
        return Ok(match status {
            Some(Status::Failed | Status::Queued | Status::Retrying) => Handled::Redriven(id),
            _ => Handled::Dropped(id),
        });
    }
    let outcome = match status {
        Some(Status::Failed) => match store.requeue_notification(&parsed.account_id, &id).await {
            Ok(staged) => {
                if let Err(e) = queue.enqueue(delivery, std::slice::from_ref(&parsed)).await {
                    // Put it back as it was, still parked; the sweeper
                    // does so if this write fails too.
                    store.undo_staged(&staged).await?;
                    return Err(e.into());
                }
                if let Err(e) = store.confirm_staged(&staged).await {
                    tracing::warn!(notification_id = %id, %e, "could not confirm the redrive; deliver will");
                }
                Handled::Redriven(id)
            }
            // Requeued meanwhile (a resend, the sweeper): its message is
            // on the delivery queue, so this copy is not needed.
            Err(IncError::Conflict { .. }) => Handled::Dropped(id),
            Err(e) => return Err(e.into()),
        },
        Some(Status::Queued | Status::Retrying) => {
            // Still pending: its message goes back where it belongs (a
            // duplicate of one the sweeper queued is harmless).
            queue
                .enqueue(delivery, std::slice::from_ref(&parsed))
                .await?;
            Handled::Redriven(id)
        }
        // A scheduled message's own sweep releases it again; a canceled
        // one is never sent.
        Some(Status::Delivered | Status::Scheduled | Status::Canceled) | None => {
            Handled::Dropped(id)
        }
    };
    queue.delete(dlq, &message.receipt_handle).await?;
    Ok(outcome)
}
