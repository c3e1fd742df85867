//! The fan-out: each message on the fan-out queue is one page of one shard
//! of a run's list. A page is taken with a lease on its shard at its cursor
//! (a duplicate of a page already done finds the shard moved on and is
//! dropped; a second worker on the same page finds the lease and leaves
//! it); its members' recipients and opt-outs are read in batches; each
//! member's message is claimed under its fixed id with the page's counts,
//! in one transaction that holds only while the campaign sends this run;
//! the queued ones go on the campaign queue; the shard moves on, and its
//! next page is queued, delayed to keep the campaign's rate.
//!
//! A page handled again (a worker killed after its claim, SQS handing the
//! message out twice) finds its messages claimed: it claims only the ones
//! missing, and queues again the claimed ones still waiting (deliver sends
//! each once). Members removed from the list before their page is read are
//! not reached; members added during a run may or may not be.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{Duration, Utc};

use inc_shared::domain::campaigns::campaign::{Campaign, CampaignStatus};
use inc_shared::domain::campaigns::member::{self, Outcome};
use inc_shared::domain::campaigns::run::{Counts, FanoutMessage, page_delay};
use inc_shared::domain::messages::suppression;
use inc_shared::domain::{CustomerChannel, Notification, Status};
use inc_shared::queue::DeliveryMessage;
use inc_shared::store::campaign_runs::{Lease, PageClaim};
use inc_shared::{Error, Result};

use crate::Campaigns;

/// How soon a failed page is handed out again.
const RETRY_PAGE: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a page's claim is tried when some of its messages exist.
const CLAIM_TRIES: usize = 3;

impl Campaigns {
    /// Handles one batch of pages; the answer lists the ones SQS must hand
    /// out again.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes = futures::future::join_all(event.records.iter().map(|record| async move {
            let body = record.body.as_deref().unwrap_or_default();
            match serde_json::from_str::<FanoutMessage>(body) {
                Ok(page) => self.page(&page).await,
                Err(e) => {
                    // No retry makes it readable: drop it, saying so.
                    tracing::error!(error = %e, "unreadable fan-out message dropped");
                    Ok(())
                }
            }
        }))
        .await;
        let mut response = SqsBatchResponse::default();
        for (record, outcome) in event.records.iter().zip(outcomes) {
            if let Err(err) = outcome {
                let id = record.message_id.clone().unwrap_or_default();
                tracing::warn!(message_id = %id, %err, "page failed; SQS will hand it out again");
                // Soon, rather than after the queue's visibility timeout: a
                // failed page has released its lease. (If this call fails
                // too, the timeout stands.)
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    let _ = self
                        .queue
                        .retry_later(&self.fanout_url, receipt, RETRY_PAGE)
                        .await;
                }
                response.add_failure(id);
            }
        }
        response
    }

    /// One page of one shard.
    pub async fn page(&self, m: &FanoutMessage) -> Result<()> {
        let now = Utc::now();
        match self.store.lease_shard(m, now).await? {
            Lease::Taken => {}
            Lease::Busy | Lease::Stale => return Ok(()),
        }
        match self.page_leased(m).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // Let the page go at once, so its retry need not wait for
                // the lease to lapse.
                if let Err(e) = self.store.release_shard(m).await {
                    tracing::warn!(%e, "could not release a page's lease");
                }
                Err(err)
            }
        }
    }

    async fn page_leased(&self, m: &FanoutMessage) -> Result<()> {
        let campaign = self
            .store
            .get_campaign(&m.account_id, &m.campaign_id)
            .await?;
        let Some(campaign) =
            campaign.filter(|c| c.run == m.run && c.status == CampaignStatus::Sending)
        else {
            // Paused, canceled, or a later run: the shard stays where it is
            // (a resume queues it again from there).
            return self.store.release_shard(m).await;
        };
        let (ids, more) = self
            .store
            .shard_page(
                &m.account_id,
                &campaign.list_id,
                m.shard,
                m.cursor.as_deref(),
                self.page_size,
            )
            .await?;
        let queued = match ids.is_empty() {
            true => Vec::new(),
            false => match self.claim_members(&campaign, m, &ids).await? {
                Some(queued) => queued,
                None => return self.store.release_shard(m).await,
            },
        };
        let messages: Vec<DeliveryMessage> = queued.iter().map(DeliveryMessage::of).collect();
        self.queue.enqueue(&self.campaign_url, &messages).await?;
        let next = match more {
            true => ids.last().cloned(),
            false => None,
        };
        let delay = page_delay(ids.len(), campaign.rate);
        let sweep_at = Utc::now() + Duration::seconds(i64::from(delay)) + self.store.timing().grace;
        if !self
            .store
            .advance_shard(m, next.as_deref(), sweep_at)
            .await?
        {
            // Another worker moved the shard on (this one's lease lapsed).
            return Ok(());
        }
        match next {
            Some(cursor) => {
                let page = FanoutMessage {
                    cursor: Some(cursor),
                    ..m.clone()
                };
                // Should this fail, the shard's `sweep_at` has the sweeper
                // queue the page.
                self.queue_pages(&[page], delay).await
            }
            None => self
                .finish_if_done(&m.account_id, &m.campaign_id, m.run)
                .await
                .map(|_| ()),
        }
    }

    /// Claims the messages of the members `ids` (those still recipients),
    /// and answers the queued ones to put on the queue: the new ones, and
    /// any claimed before that still wait. `None` if the campaign stopped.
    async fn claim_members(
        &self,
        campaign: &Campaign,
        m: &FanoutMessage,
        ids: &[String],
    ) -> Result<Option<Vec<Notification>>> {
        let account_id = &campaign.account_id;
        let recipients = self.store.recipients_of(account_id, ids).await?;
        let keys: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.address(campaign.channel))
            .map(|a| suppression::key(campaign.channel, a))
            .collect();
        let opted_out = self.store.suppressed_among(account_id, &keys).await?;
        let template = self
            .store
            .get_template(account_id, campaign.channel, &campaign.template)
            .await?
            .ok_or_else(|| {
                Error::Dependency(format!("the template `{}` is gone", campaign.template))
            })?;
        let started = chrono::DateTime::from_timestamp_millis(m.started).unwrap_or_else(Utc::now);
        let now = Utc::now();
        // A push campaign reaches each member at its newest device.
        let mut devices: HashMap<&str, String> = HashMap::new();
        if campaign.channel == CustomerChannel::Push {
            let reads = recipients
                .iter()
                .map(|r| self.store.devices_of(account_id, &r.recipient_id));
            for (r, found) in recipients
                .iter()
                .zip(futures::future::try_join_all(reads).await?)
            {
                if let Some(d) = found.into_iter().max_by_key(|d| d.created_at) {
                    devices.insert(r.recipient_id.as_str(), d.address());
                }
            }
        }
        let mut planned: HashMap<String, (Notification, Counts)> = recipients
            .iter()
            .map(|r| {
                let address = match campaign.channel {
                    CustomerChannel::Push => {
                        devices.get(r.recipient_id.as_str()).map(String::as_str)
                    }
                    channel => r.address(channel),
                };
                let outcome =
                    member::outcome_at(r, campaign.channel, address, &campaign.category, |k| {
                        opted_out.contains(k)
                    });
                let (n, counts) =
                    member::message(campaign, m.run, started, r, &outcome, &template, now);
                debug_assert!(
                    matches!(outcome, Outcome::Send { .. }) || n.status == Status::Failed
                );
                (n.notification_id.clone(), (n, counts))
            })
            .collect();
        let mut waiting = Vec::new();
        for _ in 0..CLAIM_TRIES {
            let (notifications, counts): (Vec<Notification>, Vec<Counts>) =
                planned.values().cloned().unzip();
            let mut total = Counts::default();
            counts.iter().for_each(|c| total.add(c));
            match self
                .store
                .claim_page(campaign, m.run, m.shard, &notifications, &total)
                .await?
            {
                PageClaim::Claimed => {
                    waiting.extend(
                        notifications
                            .into_iter()
                            .filter(|n| n.status == Status::Queued),
                    );
                    return Ok(Some(waiting));
                }
                PageClaim::Stopped => return Ok(None),
                PageClaim::Existing => {
                    let ids: Vec<String> = planned.keys().cloned().collect();
                    let existing = self.store.existing_notifications(account_id, &ids).await?;
                    let found: HashSet<String> =
                        existing.iter().map(|n| n.notification_id.clone()).collect();
                    planned.retain(|id, _| !found.contains(id));
                    // Claimed before and never sent: its message may be lost.
                    waiting.extend(
                        existing
                            .into_iter()
                            .filter(|n| n.status == Status::Queued && n.attempts.is_empty()),
                    );
                    if planned.is_empty() {
                        return Ok(Some(waiting));
                    }
                }
            }
        }
        Err(Error::Dependency(
            "a page's messages kept being claimed concurrently".into(),
        ))
    }
}
