//! Deliver: the SQS-triggered worker that sends notifications.
//!
//! Each record names one notification. The worker reads the batch's
//! notifications and their accounts in one `BatchGetItem` (an account that
//! a batch of the last few seconds read, by its version only), then, for each,
//! takes a lease on its next attempt (so two copies of one message never
//! both send), sends it on its channel — the merchant's webhook, or the
//! customer's SMS, email or WhatsApp through the account's provider — (every
//! record of a batch concurrently), appends the attempt to the log and then,
//! by outcome:
//!
//! - success (2xx): `delivered`; the record succeeds and SQS deletes it;
//! - a webhook's 410, a provider's 4xx that will never succeed, or the last
//!   attempt of the schedule failed: `failed`; the message is copied to the
//!   dead-letter queue with the reason, and the record succeeds;
//! - otherwise: `retrying` with `next_attempt_at`; the message is hidden
//!   until then (at most 12 h at a time; see `inc_shared::domain::delivery::retry`)
//!   and reported failed (`ReportBatchItemFailures`), so SQS keeps it.
//!
//! A record may instead be a bundle: the messages of an event's fan-out
//! beyond the ten ingest queues in one call. Deliver queues each of them as
//! its own message and sends nothing for it; if that fails the bundle is
//! reported failed and comes back (the messages already queued again are
//! duplicates, which are harmless, as below).
//!
//! A message that comes back before its notification is due is hidden again
//! without sending. One that cannot be parsed is poison: it goes to the
//! dead-letter queue at once. One whose DynamoDB or SQS call fails is
//! reported failed alone; SQS redelivers it and, after the queue's
//! `maxReceiveCount`, its redrive policy moves it to the dead-letter queue.
//! A notification already `delivered` or `failed` is never sent again by the
//! queue, so a duplicate message is harmless.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use tracing::Instrument;

mod alerts;
mod attempt;
mod dispose;
pub mod fallback;
mod health;
mod rate;
mod stats;
mod transform;

use rate::Pace;
use stats::BatchStats;

use inc_shared::domain::accounts::quiet_hours;
use inc_shared::domain::campaigns::campaign::CampaignStatus;
use inc_shared::domain::delivery::decision::decide;
use inc_shared::domain::delivery::message::QueueBody;
use inc_shared::domain::delivery::retry::wait_on_sqs;
use inc_shared::domain::endpoints::alerts::ALERTS_ENDPOINT_ID;
use inc_shared::domain::endpoints::rate_limit;
use inc_shared::domain::messages::suppression;
use inc_shared::domain::recipients::preferences;
use inc_shared::domain::{Decision, Notification, RetrySchedule, Status};
use inc_shared::metrics::{Delivery, Metrics};
use inc_shared::providers::Providers;
use inc_shared::queue::{DeliveryMessage, Queue};
use inc_shared::store::{AccountCache, BatchRead, Store};
use inc_shared::webhook::WebhookClient;
use inc_shared::{Config, Result};

pub struct Deliver {
    store: Store,
    queue: Queue,
    webhooks: WebhookClient,
    providers: Providers,
    /// FCM and APNs, with the credentials they sign kept warm.
    push: inc_shared::push::Push,
    /// Frames to the in-app feed's open sockets.
    realtime: inc_shared::realtime::Realtime,
    retry: RetrySchedule,
    metrics: Metrics,
    queue_url: String,
    /// Where campaign messages come from (the function reads both queues).
    campaign_queue_url: String,
    /// A campaign run ends when its last message does (contract 13).
    campaigns: inc_campaigns::Campaigns,
    dlq_url: String,
    /// Accounts read by earlier batches of this warm instance.
    accounts: AccountCache,
    /// `INC_ENDPOINT_DISABLE_AFTER_SECS`.
    disable_after: Duration,
    /// SQS, SNS and EventBridge endpoints (contract 15).
    destinations: inc_shared::destinations::Destinations,
    /// The endpoints' jq programs, compiled once per instance.
    programs: inc_shared::jq::Cache,
}

/// How the reason of a notification failed with its disabled endpoint begins.
pub(crate) const DISABLED: &str = "the endpoint was disabled";
/// The `last_error` of a message whose recipient was erased before it went.
const RECIPIENT_ERASED: &str = "the recipient was erased";

/// How early a message may come back and still be sent: SQS's timers are
/// not exact to the millisecond.
const EARLY_TOLERANCE: Duration = Duration::from_secs(1);
/// How much longer than the webhook timeout a lease lasts: the time to log
/// the attempt once the answer is in.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// What becomes of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// SQS may delete it.
    Done,
    /// SQS must hand it back (after the visibility we set, if any).
    Again,
}

impl Deliver {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Deliver> {
        // One DynamoDB and one SQS client, shared with the campaigns it runs.
        let store = Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config);
        let queue = Queue::new(aws_sdk_sqs::Client::new(sdk));
        let webhooks = WebhookClient::new(config.endpoint_policy, config.webhook_timeout)?;
        Ok(Deliver {
            store: store.clone(),
            queue: queue.clone(),
            providers: Providers::new(webhooks.clone(), sdk, config.ses_configuration_set.clone()),
            push: inc_shared::push::Push::new(webhooks.clone())?,
            realtime: inc_shared::realtime::Realtime::new(
                sdk,
                config.websocket_management_url.as_deref(),
            ),
            webhooks,
            retry: config.retry.clone(),
            metrics: Metrics::stdout(),
            queue_url: config.delivery_queue()?.to_owned(),
            campaign_queue_url: config.campaign_queue()?.to_owned(),
            campaigns: inc_campaigns::Campaigns::with(store.clone(), queue.clone(), config)?,
            dlq_url: config.dead_letter_queue()?.to_owned(),
            accounts: AccountCache::default(),
            disable_after: config.endpoint_disable_after,
            destinations: inc_shared::destinations::Destinations::new(sdk, config.webhook_timeout),
            programs: inc_shared::jq::Cache::default(),
        })
    }

    /// The same, with its metrics going to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Deliver {
        self.metrics = metrics;
        self
    }

    /// Handles one batch; the answer lists the records SQS must redeliver.
    /// The batch's notifications and their accounts are read in one call.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let messages: Vec<std::result::Result<QueueBody, String>> = event
            .records
            .iter()
            .map(|r| QueueBody::parse(r.body.as_deref().unwrap_or_default()))
            .collect();
        let readable: Vec<DeliveryMessage> = messages
            .iter()
            .filter_map(|m| match m {
                Ok(QueueBody::One(m)) => Some(m.clone()),
                _ => None,
            })
            .collect();
        let read = match readable.is_empty() {
            true => Ok(BatchRead::default()),
            false => self.store.read_batch(&readable, &self.accounts).await,
        };
        let stats = BatchStats::default();
        let outcomes = futures::future::join_all(
            event
                .records
                .iter()
                .zip(messages)
                .map(|(r, m)| self.process(r, m, &read, &stats)),
        )
        .await;
        self.add_stats(stats).await;
        if let Ok(read) = &read {
            self.finish_campaign_runs(read).await;
        }
        let mut response = SqsBatchResponse::default();
        for (record, outcome) in event.records.iter().zip(outcomes) {
            let id = record.message_id.clone().unwrap_or_default();
            match outcome {
                Ok(Disposition::Done) => {}
                Ok(Disposition::Again) => response.add_failure(id),
                Err(err) => {
                    tracing::warn!(message_id = %id, %err, "record failed; SQS will redeliver it");
                    response.add_failure(id);
                }
            }
        }
        response
    }

    async fn process(
        &self,
        record: &SqsMessage,
        message: std::result::Result<QueueBody, String>,
        read: &Result<BatchRead>,
        stats: &BatchStats,
    ) -> Result<Disposition> {
        let body = record.body.as_deref().unwrap_or_default();
        let message = match message {
            Ok(QueueBody::One(m)) => m,
            Ok(QueueBody::Bundle(b)) => {
                // Each message of the bundle on its own; a failure brings
                // the whole bundle back.
                self.queue.enqueue(&self.queue_url, &b.bundle).await?;
                tracing::info!(messages = b.bundle.len(), "bundle queued as its messages");
                return Ok(Disposition::Done);
            }
            Err(e) => {
                // A poison message: no retry will make it readable.
                let reason = format!("unreadable delivery message: {e}");
                self.queue.dead_letter(&self.dlq_url, body, &reason).await?;
                tracing::error!(
                    message_id = record.message_id.as_deref(),
                    reason,
                    "message moved to the dead-letter queue"
                );
                return Ok(Disposition::Done);
            }
        };
        let read = match read {
            Ok(read) => read,
            // The batch's read failed: every readable record goes back.
            Err(e) => return Err(inc_shared::Error::Dependency(e.to_string())),
        };
        // Every log line about this record names its account and notification.
        let span = tracing::info_span!(
            "notification",
            account_id = %message.account_id,
            notification_id = %message.notification_id
        );
        self.process_message(record, body, &message, read, stats)
            .instrument(span)
            .await
    }

    async fn process_message(
        &self,
        record: &SqsMessage,
        body: &str,
        message: &DeliveryMessage,
        read: &BatchRead,
        stats: &BatchStats,
    ) -> Result<Disposition> {
        let (account_id, id) = (&message.account_id, &message.notification_id);
        let Some(notification) = read
            .notifications
            .get(id)
            .filter(|n| &n.account_id == account_id)
            .cloned()
        else {
            // Its event was rolled back after the message was sent.
            tracing::info!(notification_id = %id, "no such notification; dropping the message");
            return Ok(Disposition::Done);
        };
        if let Some(reason) = &notification.dead_letter_pending {
            // Given up, its dead-letter copy not yet sent (that send failed
            // last time, or another function failed it): send it now. If a
            // resend or a recovery has queued it again meanwhile, this may
            // be that new chain's message: it goes on to be delivered.
            let done = self.dead_letter(body, &notification, reason).await?;
            if notification.status.is_final() {
                return Ok(done);
            }
        }
        if notification.status.is_final() {
            tracing::info!(notification_id = %id, status = notification.status.as_str(), "already final; duplicate message dropped");
            return Ok(Disposition::Done);
        }
        let mut now = Utc::now();
        // Not due yet: a wait longer than SQS can hide a message, or a
        // duplicate copy. Hide it again for what remains (module doc of
        // `inc_shared::domain::delivery::retry`); a moment early (SQS counts whole
        // seconds), wait that moment here: nothing goes before it is due
        // (a scheduled message never before its `send_at`).
        if let Some(due) = notification.next_attempt_at
            && let Ok(remaining) = (due - now).to_std()
        {
            if remaining > EARLY_TOLERANCE {
                tracing::info!(notification_id = %id, %due, "not due yet; waiting again");
                return self.hide(record, wait_on_sqs(remaining)).await;
            }
            tokio::time::sleep(remaining).await;
            now = Utc::now();
        }
        // Quiet hours (contract 9): an SMS or WhatsApp message inside the
        // account's window is due at its end instead.
        // Quiet hours (contract 9), in the recipient's time zone where the
        // message has one (contract 12).
        if quiet_hours::applies_to(notification.channel)
            && let Some(until) = read
                .accounts
                .get(account_id)
                .and_then(|a| a.settings.quiet_hours.as_ref())
                .and_then(|q| q.in_zone(notification.timezone.as_deref()).window_end(now))
        {
            tracing::info!(notification_id = %id, %until, "quiet hours: waiting for the window's end");
            self.store.defer(&notification, until, now).await?;
            // Whole seconds, rounded up: SQS hides for no less.
            let remaining = (until - now).to_std().unwrap_or_default();
            let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
            return self
                .hide(record, wait_on_sqs(Duration::from_secs(seconds)))
                .await;
        }
        // A campaign canceled before its message went (contract 13): the
        // message is canceled, counted so, and never sent.
        let campaign = notification
            .campaign_id
            .as_ref()
            .and_then(|c| read.campaigns.get(&(account_id.clone(), c.clone())));
        if campaign.is_some_and(|c| c.status == CampaignStatus::Canceled) {
            if self.store.cancel_campaign_message(&notification).await? {
                tracing::info!(notification_id = %id, "campaign canceled; message not sent");
            }
            return Ok(Disposition::Done);
        }
        // A rate limit — the endpoint's, or the account's campaigns' on this
        // channel: wait for this send's instant, or, if the next windows
        // are full, on the queue — neither is an attempt.
        let pace = match campaign {
            Some(c) => c.rate.map(|limit| Pace {
                key: format!("campaigns#{}", notification.channel.as_str()),
                limit: u64::from(limit),
            }),
            None => read
                .endpoint_of(&notification)
                .filter(|e| e.enabled && !notification.is_alert())
                .and_then(|e| {
                    Some(Pace {
                        key: e.endpoint_id.clone(),
                        limit: e.rate_limit?,
                    })
                }),
        };
        let mut send_at = None;
        if let Some(pace) = &pace {
            match self.rate_place(&notification, pace).await? {
                Some(at) => send_at = Some(at),
                None => {
                    tracing::info!(notification_id = %id, limit = pace.limit, "rate limit: waiting on the queue");
                    let windows = rate_limit::LOOKAHEAD * rate_limit::WINDOW_MS;
                    return self
                        .hide(record, Duration::from_millis(windows.unsigned_abs()))
                        .await;
                }
            }
        }
        let lease = self.webhooks.timeout() + LEASE_MARGIN;
        if !self
            .store
            .lease_attempt(
                &notification,
                now,
                chrono::Duration::from_std(lease).unwrap_or_default(),
            )
            .await?
        {
            // Another invocation is sending it (SQS handed out two copies),
            // or has just logged an attempt: look again once its lease ends.
            tracing::info!(notification_id = %id, "another invocation holds this notification; waiting");
            return self.hide(record, lease).await;
        }
        let Some(account) = read.accounts.get(account_id) else {
            return self
                .give_up(body, &notification, None, "the account no longer exists")
                .await;
        };
        let endpoint = match notification.endpoint() {
            Some(id) if id != ALERTS_ENDPOINT_ID => match read.endpoint_of(&notification) {
                Some(e) if e.enabled => Some(e),
                Some(e) => {
                    let reason = format!(
                        "{DISABLED}{}",
                        e.disabled_reason
                            .as_deref()
                            .map_or_else(String::new, |r| format!(": {r}"))
                    );
                    stats.count(&notification, now, |c| c.failed += 1);
                    return self.give_up(body, &notification, None, &reason).await;
                }
                None => {
                    let reason = inc_shared::domain::endpoints::endpoint::deleted_reason(id);
                    return self.give_up(body, &notification, None, &reason).await;
                }
            },
            _ => None,
        };
        // A message whose template its data does not fill (contract 9):
        // failed at send, naming the variable, never sent blank.
        if let Some(reason) = &notification.render_error {
            return self.give_up(body, &notification, None, reason).await;
        }
        // An opted-out recipient (contract 9), checked at the last moment:
        // a suppression added after the message was planned still holds.
        if let Some(recipient) = suppression::key_of(&notification.payload)
            && self.store.is_suppressed(account_id, &recipient).await?
        {
            return self
                .give_up(body, &notification, None, suppression::SUPPRESSED)
                .await;
        }
        // A recipient's preferences (contract 12), read at the last moment.
        if let Some(reason) = self.refused_by_preferences(&notification).await? {
            return self.give_up(body, &notification, None, reason).await;
        }
        if let (Some(at), Some(pace)) = (send_at, &pace)
            && !self.wait_for_instant(&notification, pace, at).await?
        {
            // Woken too late, and no later place in sight: its message
            // waits on the queue (the lease lapses meanwhile).
            let windows = rate_limit::LOOKAHEAD * rate_limit::WINDOW_MS;
            return self
                .hide(
                    record,
                    lease + Duration::from_millis(windows.unsigned_abs()),
                )
                .await;
        }
        let number = notification.next_attempt_number();
        let in_chain = notification.next_chain_attempt();
        let transform::Shaped {
            attempt,
            outcome,
            failed,
        } = self
            .attempt_shaped(account, endpoint, &notification, number)
            .await;
        tracing::info!(account_id = %account_id, notification_id = %id, attempt = number,
            status_code = attempt.status_code, latency_ms = attempt.latency_ms, error = attempt.error.as_deref(),
            channel = notification.channel.as_str(), "delivery attempt");
        let jitter = rand::random_range(-1.0..=1.0);
        let decision = match failed {
            // Its transformation failed: for good, and not the endpoint's
            // doing, so its health is left alone.
            Some(reason) => Decision::GiveUp(reason),
            None => {
                let decision = decide(
                    notification.channel,
                    outcome,
                    &attempt,
                    in_chain,
                    &self.retry,
                    jitter,
                );
                match endpoint {
                    Some(e) => self.health(account, e, &attempt, decision).await,
                    None => decision,
                }
            }
        };
        stats.count(&notification, attempt.at, |c| {
            c.attempt(attempt.latency_ms, matches!(decision, Decision::Delivered));
            match decision {
                Decision::Delivered => c.delivered += 1,
                Decision::GiveUp(_) => c.failed += 1,
                Decision::RetryIn(_) => {}
            }
        });
        match decision {
            Decision::Delivered => {
                self.store
                    .record_attempt(
                        &notification,
                        &attempt,
                        Status::Delivered,
                        None,
                        None,
                        false,
                    )
                    .await?;
                self.metrics.delivery(
                    notification.channel.as_str(),
                    Delivery::Delivered,
                    attempt.latency_ms,
                );
                Ok(Disposition::Done)
            }
            Decision::RetryIn(delay) => {
                let kept = self
                    .retry_later(record, &notification, &attempt, delay)
                    .await?;
                if let Some(e) = endpoint {
                    self.fail_if_disabled_meanwhile(&notification, e).await;
                }
                Ok(kept)
            }
            Decision::GiveUp(reason) => {
                // A WhatsApp message the provider refused for good goes by
                // SMS instead (contract 10) — written before the give-up, so
                // a failure in between retries both, and the fallback's own
                // condition keeps it to one.
                if notification.falls_back_after(attempt.status_code) {
                    fallback::send_by_sms(&self.store, &self.queue, &self.queue_url, &notification)
                        .await?;
                }
                let done = self
                    .give_up(body, &notification, Some(&attempt), &reason)
                    .await?;
                // An alert never alerts about itself, a disabled endpoint's
                // own alert covers its notifications, and a campaign's
                // counts report its failures.
                if !notification.is_alert()
                    && !reason.starts_with(DISABLED)
                    && notification.campaign_id.is_none()
                {
                    self.notification_failed(account, &notification, &reason)
                        .await;
                }
                Ok(done)
            }
        }
    }

    /// The campaign runs whose messages this batch read: each is ended if
    /// its last message just did (errors are left to the sweeper, which
    /// looks at every unfinished run).
    async fn finish_campaign_runs(&self, read: &BatchRead) {
        let mut runs: Vec<(&str, &str, u32)> = read
            .notifications
            .values()
            .filter_map(|n| Some((n.account_id.as_str(), n.campaign_id.as_deref()?, n.run?)))
            .collect();
        runs.sort_unstable();
        runs.dedup();
        for (account_id, campaign_id, run) in runs {
            if let Err(err) = self
                .campaigns
                .finish_if_done(account_id, campaign_id, run)
                .await
            {
                tracing::warn!(account_id, campaign_id, run, %err, "could not look at the campaign run");
            }
        }
    }

    /// Why the recipient of a message by `to_recipient` is not to get it:
    /// it switched the message's channel off for its category (`preference`),
    /// or it was erased meanwhile. A transactional message is never read for.
    async fn refused_by_preferences(&self, n: &Notification) -> Result<Option<&'static str>> {
        let (Some(recipient_id), Some(category)) = (&n.recipient_id, &n.category) else {
            return Ok(None);
        };
        let Some(recipient) = self
            .store
            .get_recipient(&n.account_id, recipient_id)
            .await?
        else {
            return Ok(Some(RECIPIENT_ERASED));
        };
        Ok(
            (!recipient.preferences.allows(category, n.channel.as_str()))
                .then_some(preferences::PREFERENCE),
        )
    }
}
