//! INC's own events (`campaign.started`, `campaign.finished`,
//! `message.replied`): made as a merchant's event is made — claimed by an
//! id fixed by what they report, with a webhook to every endpoint whose
//! filter wants the type, in one transaction — then queued. Emitting one
//! twice (a retry, two workers) claims it once; a claim whose messages
//! could not be queued is queued again by the next emit of the same id,
//! or by the sweeper.

use chrono::Utc;
use serde_json::Value;

use crate::domain::Notification;
use crate::domain::events::event::{CustomEvent, Event, EventKind};
use crate::domain::payments::plan::plan;
use crate::error::{Error, Result};
use crate::queue::{DeliveryMessage, Queue};
use crate::store::{Claim, EVENT_RETENTION, EventRecord, EventStatus, Store};

/// What emits INC's own events: the store, and the delivery queue.
#[derive(Clone, Debug)]
pub struct Emitter {
    store: Store,
    queue: Queue,
    queue_url: String,
}

impl Emitter {
    pub fn new(store: Store, queue: Queue, queue_url: String) -> Emitter {
        Emitter {
            store,
            queue,
            queue_url,
        }
    }

    /// Emits the event `event_id` of `type_name` with `data` for the
    /// account: once, whatever calls it again.
    pub async fn emit(
        &self,
        account_id: &str,
        event_id: &str,
        type_name: &str,
        data: Value,
    ) -> Result<()> {
        let Some(account) = self.store.get_account(account_id).await? else {
            return Ok(());
        };
        let endpoints: Vec<_> = account
            .default_endpoint()
            .map(|e| e.route())
            .into_iter()
            .chain(self.store.routes_of(&account).await?.iter().cloned())
            .collect();
        let now = Utc::now();
        let event = Event {
            id: event_id.to_owned(),
            kind: EventKind::Custom(CustomEvent {
                type_name: type_name.to_owned(),
                raw: data.to_string(),
                data,
            }),
        };
        let notifications: Vec<Notification> = plan(&event, &account.settings, &endpoints, now)
            .into_iter()
            .map(|draft| Notification::new(account_id, &event, draft, now))
            .collect();
        let record = EventRecord {
            account_id: account_id.to_owned(),
            event_id: event.id.clone(),
            event_type: type_name.to_owned(),
            fingerprint: event.fingerprint(),
            status: EventStatus::Pending,
            notification_ids: notifications
                .iter()
                .map(|n| n.notification_id.clone())
                .collect(),
            received_at: now,
            claimed_at: now,
            expires_at: (now + EVENT_RETENTION).timestamp(),
        };
        match self
            .store
            .claim_event(&record, &notifications, None)
            .await?
        {
            Claim::Claimed => {
                publish(
                    &self.store,
                    &self.queue,
                    &self.queue_url,
                    &record,
                    &notifications,
                )
                .await
            }
            Claim::Taken(existing) if existing.status == EventStatus::Pending => {
                publish(&self.store, &self.queue, &self.queue_url, &existing, &[]).await
            }
            Claim::Taken(_) => Ok(()),
            Claim::Contended => Err(Error::Dependency(
                "the event's claim met a concurrent write".into(),
            )),
        }
    }
}

/// Queues a claimed event's notifications and marks it completed. With
/// `notifications` (this request stored them), their messages name their
/// endpoints; without, the record's ids are queued. A failed send leaves
/// the event pending: the caller says so, and the sweeper queues what is
/// still without a message.
pub async fn publish(
    store: &Store,
    queue: &Queue,
    queue_url: &str,
    record: &EventRecord,
    notifications: &[Notification],
) -> Result<()> {
    let messages: Vec<DeliveryMessage> = match notifications.is_empty() {
        // One that failed before sending (its template) needs no message.
        false => notifications
            .iter()
            .filter(|n| !n.status.is_final())
            .map(DeliveryMessage::of)
            .collect(),
        true => record
            .notification_ids
            .iter()
            .map(|id| DeliveryMessage::new(&record.account_id, id))
            .collect(),
    };
    queue.enqueue_fan_out(queue_url, messages).await?;
    if let Err(err) = store
        .complete_event(&record.account_id, &record.event_id)
        .await
    {
        // Everything is queued; only the marker is missing. A retry
        // queues again, and deliver sends each notification once.
        tracing::warn!(event_id = %record.event_id, %err, "could not mark the event completed");
    }
    Ok(())
}
