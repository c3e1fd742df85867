//! A run's end: when every shard of its list is read and none of its
//! messages is still queued, the run is `sent` and the campaign either
//! waits for its next run (a recurrence) or is `sent` too — in one
//! transaction, conditional on both being as read, so whoever sees it
//! first (the fan-out finishing its last shard, deliver ending the last
//! message, the sweeper) ends it once; then `campaign.finished`.

use chrono::Utc;

use inc_shared::Result;
use inc_shared::domain::campaigns::campaign::CampaignStatus;
use inc_shared::domain::campaigns::run::RunStatus;

use crate::Campaigns;

impl Campaigns {
    /// Ends run `run` of a campaign if it is done, and emits what it owes;
    /// true if it has ended (now or before).
    pub async fn finish_if_done(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
    ) -> Result<bool> {
        for _ in 0..5 {
            let (Some(campaign), Some(state)) = (
                self.store.get_campaign(account_id, campaign_id).await?,
                self.store.get_run(account_id, campaign_id, run).await?,
            ) else {
                return Ok(false);
            };
            if matches!(state.status, RunStatus::Sent | RunStatus::Canceled) {
                self.emit_owed(account_id, campaign_id, run).await;
                return Ok(true);
            }
            if !state.is_finished() {
                return Ok(false);
            }
            let now = Utc::now();
            let mut next = campaign.clone();
            if campaign.run == run {
                next.status = match (campaign.status, campaign.next_run_at) {
                    (CampaignStatus::Sending, Some(_)) => CampaignStatus::Scheduled,
                    (CampaignStatus::Paused, Some(_)) => CampaignStatus::Paused,
                    (status, _) if status.is_final() => status,
                    _ => CampaignStatus::Sent,
                };
            }
            next.version += 1;
            next.updated_at = now;
            if self
                .store
                .finish_run(&next, run, RunStatus::Sent, now)
                .await?
            {
                tracing::info!(account_id, campaign_id, run, counts = ?state.counts, "campaign run finished");
                self.emit_owed(account_id, campaign_id, run).await;
                return Ok(true);
            }
        }
        Ok(false)
    }
}
