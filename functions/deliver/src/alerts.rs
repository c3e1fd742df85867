//! Alerts to the merchant (contract section 8): stored as notifications to
//! `settings.alerts`, then queued like any other.

use chrono::Utc;
use serde_json::json;

use inc_shared::domain::Notification;
use inc_shared::domain::endpoints::alerts::Alert;
use inc_shared::queue::DeliveryMessage;
use inc_shared::store::Account;

use crate::Deliver;

impl Deliver {
    /// The notifications carrying an alert to where the account asked.
    pub(crate) fn alerts(
        &self,
        account: &Account,
        alert_type: &'static str,
        data: serde_json::Value,
    ) -> Vec<Notification> {
        let now = Utc::now();
        let alert = Alert::new(alert_type, data, now);
        account
            .settings
            .alerts
            .drafts(&alert)
            .into_iter()
            .map(|d| Notification::create(&account.account_id, &alert.id, alert_type, d, None, now))
            .collect()
    }

    /// Tells the merchant a notification was given up (`notification.failed`).
    pub(crate) async fn notification_failed(
        &self,
        account: &Account,
        n: &Notification,
        reason: &str,
    ) {
        let alert_type = "notification.failed";
        let data = json!({
            "endpoint_id": n.endpoint(),
            "notification_id": n.notification_id,
            "event_id": n.event_id,
            "event_type": n.event_type,
            "channel": n.channel.as_str(),
            "reason": reason,
        });
        let alerts = self.alerts(account, alert_type, data);
        if alerts.is_empty() {
            return;
        }
        if let Err(err) = self.store.put_notifications(&alerts).await {
            tracing::warn!(%err, alert_type, "could not store an alert");
            return;
        }
        self.enqueue_alerts(&alerts).await;
    }

    /// Queues stored alerts; if SQS fails, the sweeper queues them later.
    pub(crate) async fn enqueue_alerts(&self, alerts: &[Notification]) {
        let messages: Vec<DeliveryMessage> = alerts.iter().map(DeliveryMessage::of).collect();
        if let Err(err) = self.queue.enqueue(&self.queue_url, &messages).await {
            tracing::warn!(%err, "alerts stored but not queued; the sweeper will queue them");
        }
    }
}
