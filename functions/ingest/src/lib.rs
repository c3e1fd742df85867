//! Ingest: `POST /v1/events`, and the direct messages of `/v1/messages`
//! (module [`messages`]).
//!
//! Authenticates the account, validates the event (JSON or Genio's form),
//! decides from the account's settings (and, for a payment, from the
//! transaction it updates) which notifications it causes, and then,
//! idempotently by event id:
//!
//! 1. claims the id, stores the notifications and writes the updated
//!    transaction in one DynamoDB transaction (`pending`). The transaction's
//!    write is conditional on the version read: if another event of the
//!    same order got there first, ingest reads it again and re-plans, a
//!    bounded number of times — so concurrent events all land, each with
//!    its own `sequence`;
//! 2. queues one SQS message per notification, in one call (beyond ten,
//!    the rest go as one bundle that deliver splits);
//! 3. marks the event `completed`.
//!
//! Nothing is ever undone: once step 1 holds, the event is accepted. If
//! step 2 fails the client gets a 503 (its retry with the same id answers
//! the stored result and queues again), and the sweeper queues whatever
//! is still without a message after the grace period (`domain::delivery::outbox`).
//! A duplicate message is harmless: deliver sends each notification once.

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
use inc_shared::domain::endpoints::endpoint::Route;
use inc_shared::domain::payments::plan::{
    channels_notified, plan, plan_payment, template_channels,
};
use inc_shared::domain::{Event, Notification, Transaction};
use inc_shared::metrics::Metrics;
use inc_shared::queue::Queue;
use inc_shared::store::{Claim, EVENT_RETENTION, EventRecord, EventStatus, Store};
use inc_shared::{Config, Error, Result};

mod messages;
mod schemas;

pub struct Ingest {
    store: Store,
    queue: Queue,
    queue_url: String,
    metrics: Metrics,
    schemas: schemas::Schemas,
}

impl Ingest {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Ingest> {
        Ok(Ingest {
            store: Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config),
            queue: Queue::new(aws_sdk_sqs::Client::new(sdk)),
            queue_url: config.delivery_queue()?.to_owned(),
            metrics: Metrics::stdout(),
            schemas: schemas::Schemas::default(),
        })
    }

    /// The same, with its metrics going to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Ingest {
        self.metrics = metrics;
        self
    }

    /// Queues the event's notifications and completes it. If SQS fails the
    /// event stays stored and `pending`: the answer is a 503 whose retry is
    /// safe, and the sweeper queues the notifications meanwhile.
    /// `notifications` are the event's, when this request stored them (the
    /// messages then name their endpoints); a retry knows only their ids.
    async fn publish(&self, record: &EventRecord, notifications: &[Notification]) -> Result<()> {
        let published = inc_shared::emit::publish(
            &self.store,
            &self.queue,
            &self.queue_url,
            record,
            notifications,
        )
        .await;
        if let Err(err) = published {
            tracing::warn!(event_id = %record.event_id, %err,
                "stored, but its messages could not be queued; the sweeper will queue them");
            return Err(Error::NotYetQueued(
                "the event was stored, but its notifications could not be queued yet; \
                 they will be sent, and retrying with the same id is safe",
            ));
        }
        Ok(())
    }
}

/// How many times ingest re-reads a transaction that another event changed
/// under it before answering 503: each round lets at least one writer of
/// the order through, so this covers that many events of one order at once.
const MAX_CONTENDED_TRIES: u32 = 25;

pub fn router(app: Arc<Ingest>) -> Router {
    Router::new()
        .route("/v1/events", post(post_event))
        .route("/v1/messages", post(messages::send))
        .route(
            "/v1/messages/{id}",
            axum::routing::get(messages::get).delete(messages::cancel),
        )
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

/// Checks an event of a merchant's own type against the schema its type
/// declares, if any: a mismatch is a `400` naming the path, nothing stored.
async fn check_schema(app: &Ingest, account_id: &str, event: &Event) -> Result<()> {
    let Some(custom) = event.custom() else {
        return Ok(());
    };
    let Some(declared) = app
        .store
        .get_event_type(account_id, &custom.type_name)
        .await?
    else {
        return Ok(());
    };
    match app.schemas.of(&declared)? {
        Some(schema) => schema.check(&custom.data),
        None => Ok(()),
    }
}

/// Claims, stores and queues a valid event of `account`.
async fn accept(
    app: &Ingest,
    account: inc_shared::store::Account,
    event: Event,
) -> Result<Response> {
    // Two independent reads: side by side, not one after the other.
    let ((), stored) = tokio::try_join!(
        check_schema(app, &account.account_id, &event),
        app.store.routes_of(&account),
    )?;
    let endpoints: Vec<Route> = account
        .default_endpoint()
        .map(|e| e.route())
        .into_iter()
        .chain(stored.iter().cloned())
        .collect();
    let mut tries = 0;
    let (record, stored, existing) = loop {
        let (record, notifications, transaction) =
            prepare(app, &account, &endpoints, &event).await?;
        match app
            .store
            .claim_event(&record, &notifications, transaction.as_ref())
            .await?
        {
            Claim::Claimed => break (record, notifications, None),
            Claim::Taken(existing) => break (record, Vec::new(), Some(existing)),
            Claim::Contended if tries < MAX_CONTENDED_TRIES => {
                tries += 1;
                // Step aside for a moment, more each round, so that the
                // writers of one order do not keep colliding in lockstep.
                let jitter = rand::random_range(0..=5 * u64::from(tries));
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
            Claim::Contended => {
                return Err(Error::Dependency(
                    "too many concurrent changes of this transaction; retry shortly".into(),
                ));
            }
        }
    };
    let Some(existing) = existing else {
        app.publish(&record, &stored).await?;
        tracing::info!(account_id = %record.account_id, event_id = %record.event_id,
            notifications = record.notification_ids.len(), retries = tries, "event accepted");
        app.metrics.event_accepted(&record.event_type);
        return Ok(accepted(StatusCode::ACCEPTED, &record));
    };
    if existing.fingerprint != record.fingerprint {
        return Err(Error::Conflict {
            code: "event_id_conflict",
            message: "an event with this id but a different body was already accepted".into(),
        });
    }
    match existing.status {
        EventStatus::Completed => Ok(accepted(StatusCode::OK, &existing)),
        // Stored, but its request could not confirm its messages queued (or
        // is still doing so): queue them again — a duplicate is harmless —
        // and answer as the first request would have.
        EventStatus::Pending => {
            app.publish(&existing, &[]).await?;
            Ok(accepted(StatusCode::ACCEPTED, &existing))
        }
    }
}

/// The most an event's notifications may weigh together: they are written
/// in one DynamoDB transaction, which holds at most 4 MB (the rest of this
/// is left for the event, the transaction and the items' other fields).
const MAX_FAN_OUT_BYTES: usize = 3_500_000;

/// A large body fanned out to many endpoints cannot be written at once:
/// say so (`422`), rather than fail in DynamoDB and answer 503 for ever.
fn check_fan_out_size(notifications: &[Notification]) -> Result<()> {
    let bytes: usize = notifications
        .iter()
        .map(|n| match &n.payload {
            inc_shared::domain::Payload::Webhook(w) => w.body.len(),
            _ => 0,
        })
        .sum();
    if bytes <= MAX_FAN_OUT_BYTES {
        return Ok(());
    }
    Err(Error::unprocessable(
        "fan_out_too_large",
        format!(
            "data: this event goes to {} endpoints, {bytes} bytes in all, over the {MAX_FAN_OUT_BYTES} \
             one event can carry; send a smaller data, or narrow the endpoints' filters",
            notifications.len()
        ),
        Some("data"),
    ))
}

/// What the event would store now: its claim, its notifications and, for a
/// payment, the transaction as the event leaves it (from a fresh read).
async fn prepare(
    app: &Ingest,
    account: &inc_shared::store::Account,
    endpoints: &[Route],
    event: &Event,
) -> Result<(EventRecord, Vec<Notification>, Option<Transaction>)> {
    let previous = match event.payment() {
        Some(change) => {
            app.store
                .get_transaction(&account.account_id, &change.session_id)
                .await?
        }
        None => None,
    };
    // Taken after the read, so a change accepted now is never timed before
    // one the read already shows.
    let now = Utc::now();
    let transaction = event
        .payment()
        .map(|change| Transaction::apply(previous, &account.account_id, &event.id, change, now));
    let drafts = match &transaction {
        Some(t) => {
            let stored = app
                .store
                .payment_templates(
                    &account.account_id,
                    t.state,
                    &template_channels(&channels_notified(t), &account.settings),
                )
                .await?;
            plan_payment(event, t, &account.settings, endpoints, &stored, now)?
        }
        None => plan(event, &account.settings, endpoints, now),
    };
    let notifications: Vec<Notification> = drafts
        .into_iter()
        .map(|draft| Notification::new(&account.account_id, event, draft, now))
        .collect();
    check_fan_out_size(&notifications)?;
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
    Ok((record, notifications, transaction))
}
