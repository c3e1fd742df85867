//! The sweeper: the outbox's second half (rules in
//! `inc_shared::domain::delivery::outbox`). Run on a schedule, it reads the due index
//! and, for each notification past its `sweep_at`:
//!
//! - scheduled, its send within the lead (`INC_SCHEDULE_LEAD_SECS`), or
//!   released but not taken up by just after its send: moves `sweep_at`
//!   past the send, then queues it with an SQS delay that ends at the send;
//! - pending with no live message (never queued, or redriven to the
//!   dead-letter queue by SQS): moves `sweep_at` on, then queues it again;
//! - staged by a resend whose request failed and could not undo: undoes it;
//! - given up with its dead-letter copy owed: sends the copy;
//! - pending past the whole retry schedule: gives it up, with its copy.
//!
//! Every write is conditional on the notification being as the sweeper saw
//! it, so two sweepers at once, or a sweeper beside deliver, never make two
//! sends: at worst a duplicate message, which deliver's lease absorbs.

use std::collections::HashSet;

use aws_config::SdkConfig;
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use inc_shared::domain::Notification;
use inc_shared::domain::delivery::outbox::{SweepAction, release_delay, sweep_action};
use inc_shared::queue::{DeliveryMessage, Queue};
use inc_shared::store::Store;
use inc_shared::store::campaign_runs::DuePart;
use inc_shared::{Config, Result};

/// How many due notifications one read of a shard takes.
const PAGE: i32 = 100;
/// How many reads of the index one run makes at most (a larger backlog is
/// left to the next tick).
const MAX_ROUNDS: usize = 20;

pub struct Sweeper {
    store: Store,
    queue: Queue,
    queue_url: String,
    /// Where campaign messages go back to.
    campaign_queue_url: String,
    /// Campaign runs to start, stalled pages, runs to end (contract 13).
    campaigns: inc_campaigns::Campaigns,
    dlq_url: String,
    /// How long a chain may stay pending: the retry schedule plus a day.
    max_age: Duration,
}

/// How many due notifications one run handles at once.
const CONCURRENCY: usize = 16;

/// What the sweeper did with one due notification.
enum Handled {
    /// Claimed: its message goes on the queue with this delay (seconds).
    Release(DeliveryMessage, u32),
    /// Claimed: its message goes on the queue again.
    Requeue(DeliveryMessage),
    Undone,
    DeadLettered,
    GivenUp,
    /// Changed meanwhile, or needing nothing.
    Skipped,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Scheduled messages put on the queue, delayed until their send.
    pub released: usize,
    pub requeued: usize,
    pub undone: usize,
    pub given_up: usize,
    pub dead_lettered: usize,
    /// Found due, but changed meanwhile or needing nothing.
    pub skipped: usize,
    /// Campaign runs started (a scheduled campaign, a recurrence's next run).
    pub runs_started: usize,
    /// Fan-out pages queued again after their shard stalled.
    pub pages_requeued: usize,
    /// Campaign runs ended.
    pub runs_finished: usize,
}

impl Sweeper {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Sweeper> {
        // One DynamoDB and one SQS client, shared with the campaigns it runs.
        let store = Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config);
        let queue = Queue::new(aws_sdk_sqs::Client::new(sdk));
        let schedule = Duration::from_std(config.retry.total()).unwrap_or(Duration::days(4));
        Ok(Sweeper {
            store: store.clone(),
            queue: queue.clone(),
            queue_url: config.delivery_queue()?.to_owned(),
            campaign_queue_url: config.campaign_queue()?.to_owned(),
            campaigns: inc_campaigns::Campaigns::with(store.clone(), queue.clone(), config)?,
            dlq_url: config.dead_letter_queue()?.to_owned(),
            max_age: schedule + Duration::days(1),
        })
    }

    /// One run: everything due at `now`, up to [`MAX_ROUNDS`] reads.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Report> {
        let mut report = Report::default();
        let mut seen = HashSet::new();
        for _ in 0..MAX_ROUNDS {
            let due: Vec<Notification> = self
                .store
                .due_notifications(now, PAGE)
                .await?
                .into_iter()
                .filter(|n| seen.insert(n.notification_id.clone()))
                .collect();
            if due.is_empty() {
                break;
            }
            // Each item's writes are conditional on it as read, so they run
            // side by side.
            let handled: Vec<Handled> = futures::stream::iter(due)
                .map(|n| async move { self.handle(&n, now).await })
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            let mut requeue = Vec::new();
            let mut release = Vec::new();
            for h in handled {
                match h {
                    Handled::Release(message, delay) => release.push((message, delay)),
                    Handled::Requeue(message) => requeue.push(message),
                    Handled::Undone => report.undone += 1,
                    Handled::DeadLettered => report.dead_lettered += 1,
                    Handled::GivenUp => report.given_up += 1,
                    Handled::Skipped => report.skipped += 1,
                }
            }
            // Their `sweep_at` already moved on: if this send fails, the
            // next run after the grace period tries again. A campaign's
            // messages go back to the campaign queue.
            let (campaign, other): (Vec<_>, Vec<_>) =
                requeue.into_iter().partition(|m| m.campaign_id.is_some());
            self.queue.enqueue(&self.queue_url, &other).await?;
            self.queue
                .enqueue(&self.campaign_queue_url, &campaign)
                .await?;
            report.requeued += other.len() + campaign.len();
            self.queue
                .enqueue_delayed(&self.queue_url, &release)
                .await?;
            report.released += release.len();
        }
        self.sweep_campaigns(now, &mut report).await?;
        if report != Report::default() {
            tracing::info!(?report, "swept");
        }
        Ok(report)
    }

    /// What one due notification needs, done but for its message: the
    /// messages of a round are sent together.
    async fn handle(&self, n: &Notification, now: DateTime<Utc>) -> Result<Handled> {
        Ok(match sweep_action(n, now, self.max_age) {
            SweepAction::Release => match self.store.claim_release(n, now).await? {
                true => {
                    let send_at = n.next_attempt_at.unwrap_or(now);
                    Handled::Release(DeliveryMessage::of(n), release_delay(send_at, now))
                }
                false => Handled::Skipped,
            },
            SweepAction::Requeue => match self.store.claim_requeue(n, now).await? {
                true => Handled::Requeue(DeliveryMessage::of(n)),
                false => Handled::Skipped,
            },
            SweepAction::Undo => match self.store.undo_staged(n).await? {
                true => Handled::Undone,
                false => Handled::Skipped,
            },
            SweepAction::DeadLetter(reason) => {
                self.dead_letter(n, &reason).await?;
                Handled::DeadLettered
            }
            SweepAction::GiveUp(reason) => {
                if !self.store.sweep_give_up(n, &reason, now).await? {
                    return Ok(Handled::Skipped);
                }
                tracing::warn!(account_id = %n.account_id, notification_id = %n.notification_id,
                    reason, "notification failed");
                self.dead_letter(n, &reason).await?;
                Handled::GivenUp
            }
            SweepAction::Nothing => Handled::Skipped,
        })
    }

    /// Campaigns: runs due to start, fan-out shards that stalled (their
    /// page is queued again; a duplicate is dropped by the shard's
    /// cursor), runs to end or whose events are owed.
    async fn sweep_campaigns(&self, now: DateTime<Utc>, report: &mut Report) -> Result<()> {
        // One campaign's failure is logged and left for the next tick; the
        // others go on.
        for campaign in self.store.due_campaigns(now, PAGE).await? {
            match self.campaigns.start_run(&campaign, now).await {
                Ok(Some(_)) => report.runs_started += 1,
                Ok(None) => report.skipped += 1,
                Err(err) => {
                    tracing::warn!(campaign_id = %campaign.campaign_id, %err, "could not start the campaign's run")
                }
            }
        }
        let grace = self.store.timing().grace;
        for part in self.store.due_run_parts(now, PAGE).await? {
            match &part {
                DuePart::Shard { message, .. } => {
                    if self.store.push_due(&part, Some(now + grace)).await? {
                        match self
                            .campaigns
                            .queue_pages(std::slice::from_ref(message), 0)
                            .await
                        {
                            Ok(()) => report.pages_requeued += 1,
                            Err(err) => {
                                tracing::warn!(%err, "could not queue a stalled page; the next tick tries again")
                            }
                        }
                    }
                }
                DuePart::Run {
                    account_id,
                    campaign_id,
                    run,
                    ..
                } => {
                    let ended = self
                        .campaigns
                        .finish_if_done(account_id, campaign_id, *run)
                        .await?;
                    let owed = self
                        .store
                        .events_owed(account_id, campaign_id, *run)
                        .await?;
                    let next = match ended && owed.is_empty() {
                        true => None,
                        false => Some(now + grace),
                    };
                    if self.store.push_due(&part, next).await? && ended {
                        report.runs_finished += 1;
                    }
                }
            }
        }
        Ok(())
    }

    async fn dead_letter(&self, n: &Notification, reason: &str) -> Result<()> {
        let body = serde_json::to_string(&DeliveryMessage::of(n))
            .map_err(inc_shared::Error::dependency)?;
        self.queue.dead_letter(&self.dlq_url, &body, reason).await?;
        self.store.dead_letter_sent(n).await
    }
}
