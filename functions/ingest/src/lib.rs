//! Ingest: `POST /v1/events`.
//!
//! Authenticates the account, validates the event (JSON or Genio's form),
//! decides from the account's settings (and, for a payment, from the
//! transaction it updates) which notifications it causes, and then,
//! idempotently by event id:
//!
//! 1. claims the id and stores the notifications (and the updated
//!    transaction) in one DynamoDB transaction (`pending`);
//! 2. sends one SQS message per notification;
//! 3. marks the event `completed`.
//!
//! If step 2 fails the claim is released and the client gets a 503, so a
//! retry starts afresh: an event is either accepted whole or not at all. A
//! request that dies between 1 and 3 leaves a `pending` claim, which a retry
//! of the same event takes over after [`PENDING_TIMEOUT`].

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::json;
use tracing::Instrument;

use inc_shared::api::{authenticate, media_type, not_found, read_body};
use inc_shared::domain::notification::{plan, plan_payment};
use inc_shared::domain::{Event, Notification, Transaction};
use inc_shared::metrics::Metrics;
use inc_shared::queue::{DeliveryMessage, Queue};
use inc_shared::store::{Claim, EVENT_RETENTION, EventRecord, EventStatus, PENDING_TIMEOUT, Store};
use inc_shared::{Config, Error, Result};

pub struct Ingest {
    store: Store,
    queue: Queue,
    queue_url: String,
    metrics: Metrics,
}

impl Ingest {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Ingest> {
        Ok(Ingest {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), config.tables.clone()),
            queue: Queue::new(aws_sdk_sqs::Client::new(sdk)),
            queue_url: config.delivery_queue()?.to_owned(),
            metrics: Metrics::stdout(),
        })
    }

    /// The same, with its metrics going to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Ingest {
        self.metrics = metrics;
        self
    }

    /// Queues the event's notifications and completes it; on failure undoes
    /// the claim so that nothing half-accepted remains.
    async fn publish(&self, record: &EventRecord) -> Result<()> {
        let messages: Vec<DeliveryMessage> = record
            .notification_ids
            .iter()
            .map(|id| DeliveryMessage {
                account_id: record.account_id.clone(),
                notification_id: id.clone(),
            })
            .collect();
        if let Err(err) = self.queue.enqueue(&self.queue_url, &messages).await {
            if let Err(undo) = self.store.release_event(record).await {
                // The claim stays pending; a retry takes it over later.
                tracing::error!(event_id = %record.event_id, %undo, "could not release the claim");
            }
            return Err(err);
        }
        if let Err(err) = self
            .store
            .complete_event(&record.account_id, &record.event_id)
            .await
        {
            // Everything is queued; only the marker is missing. A retry after
            // the pending timeout re-queues, and deliver skips what is done.
            tracing::warn!(event_id = %record.event_id, %err, "could not mark the event completed");
        }
        Ok(())
    }
}

pub fn router(app: Arc<Ingest>) -> Router {
    Router::new()
        .route("/v1/events", post(post_event))
        .fallback(not_found)
        .with_state(app)
}

fn accepted(status: StatusCode, record: &EventRecord) -> Response {
    (
        status,
        axum::Json(json!({ "id": record.event_id, "notifications": record.notification_ids })),
    )
        .into_response()
}

async fn post_event(
    State(app): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_body(body).await?;
    let event = match media_type(&headers).as_deref() {
        Some("application/json") => Event::from_json(&bytes)?,
        Some("application/x-www-form-urlencoded") => Event::from_form(&bytes)?,
        _ => {
            return Err(Error::UnsupportedMediaType {
                expected: "application/json, application/x-www-form-urlencoded",
            });
        }
    };
    // Every log line about this event names its account and id.
    let span = tracing::info_span!("event", account_id = %account.account_id, event_id = %event.id);
    accept(&app, account, event).instrument(span).await
}

/// Claims, stores and queues a valid event of `account`.
async fn accept(
    app: &Ingest,
    account: inc_shared::store::Account,
    event: Event,
) -> Result<Response> {
    let now = Utc::now();
    // A payment event upserts its transaction; what it causes is decided
    // from the transaction as it will be stored.
    let transaction = match event.payment() {
        Some(change) => {
            let previous = app
                .store
                .get_transaction(&account.account_id, &change.session_id)
                .await?;
            Some(Transaction::apply(
                previous,
                &account.account_id,
                &event.id,
                change,
                now,
            ))
        }
        None => None,
    };
    let drafts = match &transaction {
        Some(t) => plan_payment(&event, t, &account.settings, now)?,
        None => plan(&event, &account.settings, now),
    };
    let notifications: Vec<Notification> = drafts
        .into_iter()
        .map(|draft| Notification::new(&account.account_id, &event, draft, now))
        .collect();
    let record = EventRecord {
        account_id: account.account_id.clone(),
        event_id: event.id.clone(),
        event_type: event.type_name().to_owned(),
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
    let existing = match app
        .store
        .claim_event(&record, &notifications, transaction.as_ref())
        .await?
    {
        Claim::Claimed => {
            app.publish(&record).await?;
            tracing::info!(account_id = %record.account_id, event_id = %record.event_id,
                notifications = record.notification_ids.len(), "event accepted");
            app.metrics.event_accepted(&record.event_type);
            return Ok(accepted(StatusCode::ACCEPTED, &record));
        }
        Claim::Taken(existing) => existing,
    };
    if existing.fingerprint != record.fingerprint {
        return Err(Error::Conflict {
            code: "event_id_conflict",
            message: "an event with this id but a different body was already accepted".into(),
        });
    }
    match existing.status {
        EventStatus::Completed => Ok(accepted(StatusCode::OK, &existing)),
        EventStatus::Pending
            if now - existing.claimed_at >= PENDING_TIMEOUT
                && app.store.renew_claim(&existing, now).await? =>
        {
            app.publish(&existing).await?;
            app.metrics.event_accepted(&existing.event_type);
            Ok(accepted(StatusCode::ACCEPTED, &existing))
        }
        EventStatus::Pending => Err(Error::Conflict {
            code: "request_in_progress",
            message: "this event is still being processed; retry shortly".into(),
        }),
    }
}
