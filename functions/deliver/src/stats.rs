//! What a batch's webhooks did, added to their endpoints' hourly statistics.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;

use inc_shared::domain::Notification;
use inc_shared::domain::endpoints::stats::{Counts, hour_of};

use crate::Deliver;

/// What a batch's webhooks did, by account, endpoint and hour: added to
/// the endpoints' statistics once per batch.
#[derive(Default)]
pub(crate) struct BatchStats(Mutex<HashMap<HourOf, Counts>>);

/// An account, one of its endpoints, and an hour.
type HourOf = (String, String, chrono::DateTime<Utc>);

impl BatchStats {
    pub(crate) fn count(
        &self,
        n: &Notification,
        at: chrono::DateTime<Utc>,
        change: impl FnOnce(&mut Counts),
    ) {
        let Some(endpoint) = n.endpoint().filter(|_| !n.is_alert()) else {
            return;
        };
        let key = (n.account_id.clone(), endpoint.to_owned(), hour_of(at));
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        change(all.entry(key).or_default());
    }
}

impl Deliver {
    /// Adds what the batch's webhooks did to their endpoints' statistics,
    /// one write per endpoint and hour. Statistics are not worth a
    /// redelivery: a failed write is logged, the records stand.
    pub(crate) async fn add_stats(&self, stats: BatchStats) {
        let all = stats.0.into_inner().unwrap_or_else(|e| e.into_inner());
        let writes = all.iter().map(|((account_id, endpoint_id, hour), counts)| async move {
            if let Err(err) = self
                .store
                .add_endpoint_counts(account_id, endpoint_id, *hour, counts)
                .await
            {
                tracing::warn!(%account_id, %endpoint_id, %err, "could not add to the endpoint's statistics");
            }
        });
        futures::future::join_all(writes).await;
    }
}
