//! An endpoint's health after each attempt: its failure streak, the alerts
//! at a fifth of the disable delay, disabling at the whole of it, recovery.

use serde_json::json;

use inc_shared::Result;
use inc_shared::domain::{Attempt, DEFAULT_ENDPOINT_ID, Decision, Endpoint, Notification};
use inc_shared::store::Account;

use crate::{DISABLED, Deliver};

impl Deliver {
    /// Keeps the endpoint's health after an attempt (module `health`): a
    /// 2xx ends a failure streak, a failure starts one, alerts at a fifth of
    /// the disable delay, and disables the endpoint at the whole of it —
    /// which gives this notification up. A failed health write is logged:
    /// the attempt's outcome stands.
    pub(crate) async fn health(
        &self,
        account: &Account,
        e: &Endpoint,
        attempt: &Attempt,
        decision: Decision,
    ) -> Decision {
        match self.health_change(account, e, attempt, &decision).await {
            Ok(Some(reason)) => Decision::GiveUp(reason),
            Ok(None) => decision,
            Err(err) => {
                tracing::warn!(endpoint_id = %e.endpoint_id, %err, "could not keep the endpoint's health");
                decision
            }
        }
    }

    async fn health_change(
        &self,
        account: &Account,
        e: &Endpoint,
        attempt: &Attempt,
        decision: &Decision,
    ) -> Result<Option<String>> {
        let (account_id, id) = (&e.account_id, &e.endpoint_id);
        let ok = matches!(decision, Decision::Delivered);
        let Some(since) = e.failing_since else {
            if !ok {
                self.store
                    .endpoint_failing(account_id, id, attempt.at)
                    .await?;
            }
            return Ok(None);
        };
        let data = |extra: serde_json::Value| {
            let mut data = json!({"endpoint_id": id, "url": e.url, "failing_since": since});
            if let (Some(d), Some(x)) = (data.as_object_mut(), extra.as_object()) {
                d.extend(x.clone());
            }
            data
        };
        if ok {
            let alerts = self.alerts(account, "endpoint.recovered", data(json!({})));
            if self
                .store
                .endpoint_recovered(account_id, id, since, &alerts)
                .await?
            {
                tracing::info!(endpoint_id = %id, %since, "endpoint recovered");
                self.enqueue_alerts(&alerts).await;
            }
            return Ok(None);
        }
        let streak = (attempt.at - since).to_std().unwrap_or_default();
        let last_error = attempt.error.clone().unwrap_or_else(|| {
            attempt
                .status_code
                .map_or_else(String::new, |c| format!("HTTP {c}"))
        });
        if streak >= self.disable_after {
            let reason = format!(
                "no attempt answered 2xx since {} (more than {} s); the last: {last_error}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                self.disable_after.as_secs()
            );
            let alerts = self.alerts(
                account,
                "endpoint.disabled",
                data(json!({"reason": reason})),
            );
            if self
                .store
                .disable_endpoint(account_id, id, since, &reason, &alerts)
                .await?
            {
                tracing::warn!(endpoint_id = %id, reason, "endpoint disabled");
                self.enqueue_alerts(&alerts).await;
                let failed = self
                    .store
                    .fail_pending_of_endpoint(account_id, id, &format!("{DISABLED}: {reason}"))
                    .await?;
                tracing::info!(endpoint_id = %id, failed, "pending notifications of the disabled endpoint failed");
                return Ok(Some(format!("{DISABLED}: {reason}")));
            }
            return Ok(None);
        }
        if streak >= self.disable_after / 5 && !e.failing_alerted {
            let alerts = self.alerts(
                account,
                "endpoint.failing",
                data(json!({"last_error": last_error})),
            );
            if self
                .store
                .endpoint_failing_alerted(account_id, id, since, &alerts)
                .await?
            {
                tracing::warn!(endpoint_id = %id, %since, "endpoint failing");
                self.enqueue_alerts(&alerts).await;
            }
        }
        Ok(None)
    }
}

impl Deliver {
    /// An endpoint disabled while this attempt was in flight could not fail
    /// this notification (its lease was held): read the endpoint again now
    /// that the retry is recorded and the lease released, and fail it here.
    /// Together with the disabling invocation's own pass over the endpoint's
    /// pending notifications (which runs after its disable is written), one
    /// of the two always sees the other: no notification of a disabled
    /// endpoint is left `retrying` until a far retry. A failed read leaves
    /// it to that retry, which finds the endpoint disabled.
    pub(crate) async fn fail_if_disabled_meanwhile(&self, n: &Notification, e: &Endpoint) {
        let (account_id, id) = (&n.account_id, &e.endpoint_id);
        let now = if id == DEFAULT_ENDPOINT_ID {
            self.store
                .get_account(account_id)
                .await
                .map(|a| a.and_then(|a| a.default_endpoint()))
        } else {
            self.store.get_endpoint(account_id, id).await
        };
        let reason = match now {
            Ok(Some(e)) if e.enabled => return,
            Ok(Some(e)) => format!(
                "{DISABLED}{}",
                e.disabled_reason
                    .as_deref()
                    .map_or_else(String::new, |r| format!(": {r}"))
            ),
            Ok(None) => inc_shared::domain::endpoints::endpoint::deleted_reason(id),
            Err(err) => {
                tracing::warn!(notification_id = %n.notification_id, %err, "could not read the endpoint again");
                return;
            }
        };
        match self
            .store
            .fail_pending(account_id, &n.notification_id, &reason)
            .await
        {
            Ok(true) => {
                tracing::info!(notification_id = %n.notification_id, reason, "failed: its endpoint was disabled meanwhile");
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(notification_id = %n.notification_id, %err, "could not fail the notification of a disabled endpoint");
            }
        }
    }
}
