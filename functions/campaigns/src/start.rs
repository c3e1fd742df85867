//! A run's start: the campaign's new version, the run and its sixteen
//! shards in one transaction, then each shard's first page on the fan-out
//! queue and `campaign.started`. If the pages cannot be queued, the
//! shards' `sweep_at` has the sweeper queue them; a retry of the same
//! request queues them again (a page queued twice is taken once).

use chrono::{DateTime, Utc};
use serde_json::json;

use inc_shared::domain::campaigns::campaign::{Campaign, CampaignRequest, CampaignStatus, Control};
use inc_shared::domain::campaigns::run::{
    COUNTER_SHARDS, FINISHED, FanoutMessage, Run, RunStatus, STARTED,
};
use inc_shared::{Error, Result};

use crate::Campaigns;

/// What creating a campaign did.
pub enum Created {
    /// New: stored (and started, if due now).
    New(Campaign),
    /// The id was taken by this same request before: the campaign as it is.
    Again(Campaign),
}

impl Campaigns {
    /// Stores a new campaign under its id (the same id and body again
    /// answers the campaign as it is, another body `409`) and starts its
    /// first run if it is due now.
    pub async fn create(
        &self,
        account_id: &str,
        request: &CampaignRequest,
        now: DateTime<Utc>,
    ) -> Result<Created> {
        let campaign = Campaign::create(account_id, request, now);
        if !self.store.create_campaign(&campaign).await? {
            let existing = self
                .store
                .get_campaign(account_id, &request.id)
                .await?
                .ok_or_else(|| {
                    Error::Dependency("the campaign's id was taken, then gone".into())
                })?;
            if existing.fingerprint != request.fingerprint {
                return Err(Error::Conflict {
                    code: "campaign_id_conflict",
                    message: "a campaign with this id but a different body was already accepted"
                        .into(),
                });
            }
            // Its first request may have stopped between the start and its
            // pages: queue what is still open (a duplicate page is dropped).
            if existing.status == CampaignStatus::Sending {
                self.queue_open_pages(&existing).await?;
            }
            return Ok(Created::Again(existing));
        }
        if campaign.due(now) {
            return Ok(Created::New(
                self.start_run(&campaign, now).await?.unwrap_or(campaign),
            ));
        }
        Ok(Created::New(campaign))
    }

    /// Starts the next run of `campaign` (as read), due now: answers the
    /// campaign as started, or `None` if it changed meanwhile (another
    /// start, a pause, a cancel), in which case nothing was written.
    pub async fn start_run(
        &self,
        campaign: &Campaign,
        now: DateTime<Utc>,
    ) -> Result<Option<Campaign>> {
        let list_members = self
            .store
            .get_list(&campaign.account_id, &campaign.list_id)
            .await?
            .map_or(0, |l| l.member_count);
        let occurrence = campaign.next_run_at.unwrap_or(now).min(now);
        let mut started = campaign.clone();
        started.status = CampaignStatus::Sending;
        started.run = campaign.run + 1;
        started.next_run_at = campaign.run_after(occurrence);
        started.version = campaign.version + 1;
        started.updated_at = now;
        let run = Run {
            account_id: campaign.account_id.clone(),
            campaign_id: campaign.campaign_id.clone(),
            run: started.run,
            status: RunStatus::Sending,
            started_at: now,
            finished_at: None,
            list_members,
            shards_done: 0,
            counts: Default::default(),
        };
        if !self.store.start_run(&started, &run, now).await? {
            return Ok(None);
        }
        tracing::info!(account_id = %campaign.account_id, campaign_id = %campaign.campaign_id,
            run = run.run, list_members, "campaign run started");
        let pages: Vec<FanoutMessage> = (0..COUNTER_SHARDS)
            .map(|shard| FanoutMessage {
                account_id: campaign.account_id.clone(),
                campaign_id: campaign.campaign_id.clone(),
                run: run.run,
                started: now.timestamp_millis(),
                shard,
                cursor: None,
            })
            .collect();
        self.queue_pages(&pages, 0).await?;
        self.emit_owed(&campaign.account_id, &campaign.campaign_id, run.run)
            .await;
        Ok(Some(started))
    }

    /// Puts pages on the fan-out queue, each after `delay` seconds. If SQS
    /// refuses, the run is stored: a `503` whose retry is safe, and the
    /// sweeper queues the stalled shards meanwhile.
    pub async fn queue_pages(&self, pages: &[FanoutMessage], delay: u32) -> Result<()> {
        let delayed: Vec<(FanoutMessage, u32)> = pages.iter().map(|p| (p.clone(), delay)).collect();
        self.queue
            .enqueue_delayed(&self.fanout_url, &delayed)
            .await
            .map_err(|err| {
                tracing::warn!(%err, "a campaign's pages could not be queued; the sweeper will queue them");
                Error::NotYetQueued(
                    "the campaign was stored, but its sending could not be queued yet; it will be \
                     sent, and retrying with the same id is safe",
                )
            })
    }

    /// The pages where a sending campaign's current run stands, queued again.
    pub async fn queue_open_pages(&self, campaign: &Campaign) -> Result<()> {
        let open = self
            .store
            .open_shards(&campaign.account_id, &campaign.campaign_id, campaign.run)
            .await?;
        self.queue_pages(&open, 0).await
    }

    /// Pauses, resumes or cancels a campaign (its active run with it), over
    /// whatever changed it meanwhile; answers it as it is then. A resumed
    /// run's pages are queued again where they stood; a canceled run owes
    /// its `campaign.finished`.
    pub async fn control(
        &self,
        account_id: &str,
        campaign_id: &str,
        control: Control,
    ) -> Result<Campaign> {
        for _ in 0..10 {
            let campaign = self
                .store
                .get_campaign(account_id, campaign_id)
                .await?
                .ok_or(Error::NotFound("campaign"))?;
            let active = match campaign.run {
                0 => None,
                run => self.store.get_run(account_id, campaign_id, run).await?,
            }
            .filter(|r| matches!(r.status, RunStatus::Sending | RunStatus::Paused));
            let status = control.apply(campaign.status, active.is_none())?;
            if status == campaign.status {
                return Ok(campaign);
            }
            let mut next = campaign.clone();
            next.status = status;
            next.version += 1;
            next.updated_at = Utc::now();
            let run_status = active.as_ref().map(|_| match status {
                CampaignStatus::Paused => RunStatus::Paused,
                CampaignStatus::Canceled => RunStatus::Canceled,
                _ => RunStatus::Sending,
            });
            if !self.store.control_campaign(&next, run_status).await? {
                continue;
            }
            tracing::info!(
                account_id,
                campaign_id,
                status = status.as_str(),
                "campaign changed"
            );
            match (status, &active) {
                (CampaignStatus::Sending, Some(_)) => self.queue_open_pages(&next).await?,
                (CampaignStatus::Canceled, Some(run)) => {
                    self.emit_owed(account_id, campaign_id, run.run).await
                }
                _ => {}
            }
            return Ok(next);
        }
        Err(Error::Dependency(
            "too many concurrent changes of this campaign; retry shortly".into(),
        ))
    }

    /// Emits the events run `run` owes (its start, its end), each once;
    /// one that fails stays owed, for the sweeper.
    pub async fn emit_owed(&self, account_id: &str, campaign_id: &str, run: u32) {
        if let Err(err) = self.try_emit_owed(account_id, campaign_id, run).await {
            tracing::warn!(account_id, campaign_id, run, %err, "a campaign event stays owed; the sweeper emits it");
        }
    }

    async fn try_emit_owed(&self, account_id: &str, campaign_id: &str, run: u32) -> Result<()> {
        let owed = self.store.events_owed(account_id, campaign_id, run).await?;
        if owed.is_empty() {
            return Ok(());
        }
        let (Some(campaign), Some(state)) = (
            self.store.get_campaign(account_id, campaign_id).await?,
            self.store.get_run(account_id, campaign_id, run).await?,
        ) else {
            return Ok(());
        };
        for event in owed {
            let mut data = json!({
                "campaign_id": campaign_id,
                "name": campaign.name,
                "run": run,
                "list": campaign.list_id,
                "channel": campaign.channel,
                "started_at": state.started_at,
            });
            if event == STARTED {
                data["members"] = json!(state.list_members);
            } else if event == FINISHED {
                data["status"] = json!(state.status);
                data["finished_at"] = json!(state.finished_at);
                data["counts"] = json!(state.counts);
            }
            self.emitter
                .emit(
                    account_id,
                    &event_id(&event, campaign_id, run),
                    &event,
                    data,
                )
                .await?;
            self.store
                .event_emitted(account_id, campaign_id, run, &event)
                .await?;
        }
        Ok(())
    }
}

/// The id of a run's event: fixed by what it reports, so emitting it twice
/// is one event (hashed when the campaign id would make it too long).
fn event_id(event: &str, campaign_id: &str, run: u32) -> String {
    let id = format!("{event}:{campaign_id}:{run}");
    if id.len() <= 128 {
        return id;
    }
    use sha2::{Digest, Sha256};
    format!(
        "{event}:{}:{run}",
        hex::encode(&Sha256::digest(campaign_id.as_bytes())[..16])
    )
}
