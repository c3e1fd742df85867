//! A step of deliver's flow: a WhatsApp message that failed for good goes
//! by SMS (contract section 10), its fallback stored once
//! ([`Store::fall_back`]) and queued. Deliver takes it on a provider's 4xx;
//! the WhatsApp receipt route (the api function) on a `failed` receipt.

use inc_shared::Result;
use inc_shared::domain::Notification;
use inc_shared::queue::{DeliveryMessage, Queue};
use inc_shared::store::Store;

/// Stores and queues the SMS that stands in for `failed`, if it has none
/// yet; answers its id. If the queue fails, the SMS is stored, and the
/// sweeper queues it after the grace period.
pub async fn send_by_sms(
    store: &Store,
    queue: &Queue,
    queue_url: &str,
    failed: &Notification,
) -> Result<Option<String>> {
    let Some(sms) = store.fall_back(failed).await? else {
        return Ok(None);
    };
    tracing::info!(account_id = %failed.account_id, notification_id = %failed.notification_id,
        fallback = %sms.notification_id, "WhatsApp failed for good; falling back to SMS");
    if let Err(err) = queue.enqueue(queue_url, &[DeliveryMessage::of(&sms)]).await {
        tracing::warn!(%err, "the SMS fallback is stored; the sweeper will queue it");
    }
    Ok(Some(sms.notification_id))
}
