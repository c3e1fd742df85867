//! Waiting for a rate limit — an endpoint's `rate_limit`, or the `rate` of
//! an account's campaigns on a channel: a place in its windows, then its
//! instant.

use chrono::Utc;

use inc_shared::Result;
use inc_shared::domain::Notification;
use inc_shared::domain::endpoints::rate_limit;

use crate::Deliver;

/// How late a rate-limited send may still go at its instant.
const RATE_SLACK_MS: i64 = 20;

impl Deliver {
    /// A place for this send in the endpoint's rate windows (module
    /// `rate_limit`): its instant (Unix milliseconds), or `None` if the
    /// next windows are full. A place whose instant has already passed is
    /// left unused: sending late would crowd the next window.
    pub(crate) async fn rate_place(&self, n: &Notification, pace: &Pace) -> Result<Option<i64>> {
        let limit = pace.limit;
        let first = rate_limit::window_of(Utc::now().timestamp_millis());
        for window in first..first + rate_limit::LOOKAHEAD {
            let place = self
                .store
                .take_rate_place(&n.account_id, &pace.key, window)
                .await?;
            let now = Utc::now().timestamp_millis();
            match rate_limit::send_at(window, place, limit) {
                Some(at) if at + RATE_SLACK_MS >= now => return Ok(Some(at)),
                _ => continue,
            }
        }
        Ok(None)
    }

    /// Sleeps until the send's instant `at`, after the lease, so only the
    /// request lies between the instant and the endpoint. Woken later than
    /// the slack allows (a busy runtime), it takes a new place rather than
    /// crowd the next one; false if none is to be had.
    pub(crate) async fn wait_for_instant(
        &self,
        n: &Notification,
        pace: &Pace,
        mut at: i64,
    ) -> Result<bool> {
        for _ in 0..rate_limit::LOOKAHEAD {
            tokio::time::sleep(rate_limit::wait(Utc::now().timestamp_millis(), at)).await;
            if Utc::now().timestamp_millis() <= at + RATE_SLACK_MS {
                return Ok(true);
            }
            match self.rate_place(n, pace).await? {
                Some(next) => at = next,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// A rate a send keeps: the windows it takes its place in (an endpoint's
/// id, or `campaigns#<channel>`, under the account) and their limit.
pub(crate) struct Pace {
    pub key: String,
    pub limit: u64,
}
