//! Resend: send a transaction's customer messages again, by `session_id` or
//! `order_no` and a list of channels, for the transaction's current state.
//!
//! - `POST /b/pbl/v2/message-notification/` answers exactly as Ottu's
//!   Message Notifications API does: `{"message": "Customer notified."}`,
//!   DRF-style field errors, `{"channels": [...], "result": "failed"}`, and
//!   `{"detail": ...}` for 401 / 404.
//! - `POST /v1/notifications/resend` explains itself ([`explained`]): one
//!   result per channel (`queued`, `would_queue` on a `dry_run`, or
//!   `skipped` with the reason) and what became of the last message.
//!
//! - `POST /v1/notifications/{id}/resend` sends one logged notification
//!   again; `POST /v1/notifications/recover` does so for every `failed`
//!   one in a time window (Svix's "recover").
//!
//! Resends are notifications like any other: stored, queued on the delivery
//! queue, sent by deliver, logged with every attempt.

mod explained;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, media_type, not_found, read_body};
use inc_shared::domain::delivery::outbox::Staged;
use inc_shared::domain::events::payment::check_reference;
use inc_shared::domain::messages::suppression;
use inc_shared::domain::payments::plan::{customer_message, template_channels};
use inc_shared::domain::{
    Channel, CustomerChannel, Notification, Payload, Status, Transaction, parse_time,
};
use inc_shared::queue::{DeliveryMessage, Queue};
use inc_shared::store::{Account, LogQuery, Store};
use inc_shared::{Config, Error, Result};

/// The explained resend's reason when the account's `payment.<state>`
/// template cannot be rendered with the transaction's fields.
const TEMPLATE_ERROR: &str = "template_error";

pub struct Resend {
    store: Store,
    queue: Queue,
    queue_url: String,
}

impl Resend {
    /// Puts a delivered or failed notification back on the queue with a
    /// new chain of attempts (`409` while it is still pending). The requeue
    /// is staged until its message is on the queue; if SQS fails, it is
    /// undone exactly — status, chain, last error — and the client gets a
    /// 503. If even the undo fails, the 503's `Retry-After` reaches the
    /// stage's deadline, after which the client's retry takes the stage over
    /// (or the sweeper undoes it later): the retry is the one send.
    async fn send_again(&self, account_id: &str, id: &str) -> Result<()> {
        let staged = self.store.requeue_notification(account_id, id).await?;
        self.queue_staged(std::slice::from_ref(&staged)).await
    }

    /// Queues staged notifications, then confirms them; if queueing fails,
    /// undoes them and answers the failure (unless deliver already has one:
    /// then its message got through after all, and the resend stands).
    async fn queue_staged(&self, staged: &[Notification]) -> Result<()> {
        let messages: Vec<DeliveryMessage> = staged.iter().map(DeliveryMessage::of).collect();
        // Queueing stops at the stages' deadline: past it, a retry may take
        // them over (outbox::STAGE_DEADLINE), so this request must be done.
        let deadline = staged
            .iter()
            .filter_map(|n| n.staged.as_ref().map(Staged::deadline))
            .min()
            .unwrap_or_else(Utc::now);
        let budget = (deadline - Utc::now()).to_std().unwrap_or_default();
        let queued = match tokio::time::timeout(
            budget,
            self.queue.enqueue(&self.queue_url, &messages),
        )
        .await
        {
            Ok(queued) => queued,
            Err(_) => Err(Error::Dependency("SQS did not answer in time".into())),
        };
        if let Err(err) = queued {
            let mut undone = 0;
            let mut held = None;
            for n in staged {
                match self.store.undo_staged(n).await {
                    Ok(true) => undone += 1,
                    Ok(false) => {
                        tracing::info!(notification_id = %n.notification_id, "its message got through after all");
                    }
                    Err(undo) => {
                        undone += 1;
                        held = held.or(n.staged.as_ref());
                        tracing::error!(notification_id = %n.notification_id, %undo,
                            "could not undo an unqueued resend; a retry after its deadline or the sweeper will");
                    }
                }
            }
            if let Some(staged) = held {
                // Still staged: the retry is taken once the stage's
                // deadline has passed, which is what Retry-After says.
                return Err(Error::StagedNotQueued {
                    retry_after_secs: staged.retry_after_secs(Utc::now()),
                    cause: err.to_string(),
                });
            }
            if undone > 0 {
                return Err(err);
            }
            return Ok(());
        }
        for n in staged {
            if let Err(e) = self.store.confirm_staged(n).await {
                // Deliver clears the mark as well when it takes the lease.
                tracing::warn!(notification_id = %n.notification_id, %e, "could not confirm a queued resend");
            }
        }
        Ok(())
    }

    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Resend> {
        Ok(Resend {
            store: Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config),
            queue: Queue::new(aws_sdk_sqs::Client::new(sdk)),
            queue_url: config.delivery_queue()?.to_owned(),
        })
    }
}

pub fn router(app: Arc<Resend>) -> Router {
    Router::new()
        .route("/b/pbl/v2/message-notification/", post(ottu))
        .route("/v1/notifications/resend", post(explained::explained))
        .route("/v1/notifications/{id}/resend", post(resend_one))
        .route("/v1/notifications/recover", post(recover))
        .fallback(not_found)
        .with_state(app)
}

/// DRF-style field errors: field → messages.
type FieldErrors = BTreeMap<String, Vec<String>>;

/// A resend request, validated.
#[derive(Debug)]
struct Request {
    channels: Vec<CustomerChannel>,
    session_id: Option<String>,
    order_no: Option<String>,
    dry_run: bool,
}

fn field_error(errors: &mut FieldErrors, field: &str, message: impl Into<String>) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(message.into());
}

/// Reads the JSON or form body into loose fields, then validates them with
/// DRF's messages.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<std::result::Result<Request, FieldErrors>> {
    let mut channels: Option<Vec<Value>> = None;
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    let mut errors = FieldErrors::new();
    match media_type(headers).as_deref() {
        Some("application/json") => {
            let map = inc_shared::api::json_object(body)?;
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("channels", Value::Array(items)) => channels = Some(items),
                    ("channels", Value::Null) => {}
                    ("channels", other) => field_error(
                        &mut errors,
                        "channels",
                        format!(
                            "Expected a list of items but got type \"{}\".",
                            json_type(&other)
                        ),
                    ),
                    (_, v) => {
                        fields.insert(k, v);
                    }
                }
            }
        }
        Some("application/x-www-form-urlencoded") => {
            for (k, v) in form_urlencoded::parse(body) {
                if k == "channels" {
                    let list = channels.get_or_insert_with(Vec::new);
                    list.extend(
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| Value::from(s.to_owned())),
                    );
                } else {
                    let value = if k == "dry_run" {
                        Value::Bool(v == "true" || v == "1")
                    } else {
                        Value::from(v.into_owned())
                    };
                    fields.insert(k.into_owned(), value);
                }
            }
        }
        _ => {
            return Err(Error::UnsupportedMediaType {
                expected: "application/json, application/x-www-form-urlencoded",
            });
        }
    }
    let mut request = Request {
        channels: Vec::new(),
        session_id: None,
        order_no: None,
        dry_run: false,
    };
    match channels {
        None if !errors.contains_key("channels") => {
            field_error(&mut errors, "channels", "This field is required.")
        }
        None => {}
        Some(items) if items.is_empty() => {
            field_error(&mut errors, "channels", "This list may not be empty.")
        }
        Some(items) => {
            for item in items {
                match item.as_str().and_then(CustomerChannel::parse) {
                    Some(c) if !request.channels.contains(&c) => request.channels.push(c),
                    Some(_) => {}
                    None => field_error(
                        &mut errors,
                        "channels",
                        format!("\"{}\" is not a valid choice.", plain(&item)),
                    ),
                }
            }
        }
    }
    for (name, slot) in [
        ("session_id", &mut request.session_id),
        ("order_no", &mut request.order_no),
    ] {
        match fields.remove(name) {
            None => {}
            Some(Value::Null) => field_error(&mut errors, name, "This field may not be null."),
            Some(Value::String(s)) if check_reference(name, &s).is_ok() => *slot = Some(s),
            Some(Value::String(s)) if s.is_empty() => {
                field_error(&mut errors, name, "This field may not be blank.")
            }
            Some(Value::String(s)) if s.chars().count() > 128 => field_error(
                &mut errors,
                name,
                "Ensure this field has no more than 128 characters.",
            ),
            Some(Value::String(_)) => field_error(
                &mut errors,
                name,
                "This field may not contain control characters.",
            ),
            Some(_) => field_error(&mut errors, name, "Not a valid string."),
        }
    }
    match fields.remove("dry_run") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => request.dry_run = b,
        Some(_) => field_error(&mut errors, "dry_run", "Must be a valid boolean."),
    }
    for unknown in fields.keys() {
        field_error(&mut errors, unknown, "Unknown field.");
    }
    if request.session_id.is_none()
        && request.order_no.is_none()
        && !errors.contains_key("session_id")
        && !errors.contains_key("order_no")
    {
        field_error(&mut errors, "session_id", "This field is required.");
        field_error(&mut errors, "order_no", "This field is required.");
    }
    Ok(if errors.is_empty() {
        Ok(request)
    } else {
        Err(errors)
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Object(_) => "dict",
        _ => "list",
    }
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// One requested channel's result.
struct ChannelResult {
    channel: CustomerChannel,
    transaction: Transaction,
    result: std::result::Result<Option<String>, &'static str>,
}

/// The transaction a resend names, by `session_id` or else `order_no`.
async fn find_transaction(
    app: &Resend,
    account: &Account,
    request: &Request,
) -> Result<Transaction> {
    match (&request.session_id, &request.order_no) {
        (Some(session_id), _) => {
            app.store
                .get_transaction(&account.account_id, session_id)
                .await?
        }
        (None, Some(order_no)) => {
            app.store
                .find_transaction_by_order(&account.account_id, order_no)
                .await?
        }
        (None, None) => None,
    }
    .ok_or(Error::NotFound("transaction"))
}

/// Decides every requested channel and, unless it is a dry run, stores and
/// queues the messages; if queueing fails they are undone (503), and
/// nothing of the request is ever sent.
async fn resend(
    app: &Resend,
    account: &Account,
    request: &Request,
    transaction: &Transaction,
) -> Result<Vec<ChannelResult>> {
    let now = Utc::now();
    let staged = Staged {
        at: now,
        restore: None,
    };
    // One id for the whole request, as an event id is for an event.
    let cause = inc_shared::domain::common::ids::new_notification_id().replacen("ntf_", "rsd_", 1);
    let mut notifications = Vec::new();
    let mut outcomes = Vec::new();
    let stored = app
        .store
        .payment_templates(
            &account.account_id,
            transaction.state,
            &template_channels(&request.channels, &account.settings),
        )
        .await?;
    for &channel in &request.channels {
        let result = match customer_message(transaction, channel, &account.settings, &stored)? {
            // The account's template does not render for this transaction:
            // nothing is sent, and the answer says why.
            Ok(draft) if draft.failure.is_some() => Err(TEMPLATE_ERROR),
            Ok(draft) if opted_out(app, account, &draft.payload).await? => {
                Err(suppression::SUPPRESSED)
            }
            Ok(draft) => {
                let mut n = Notification::create(
                    &account.account_id,
                    &cause,
                    "payment.resend",
                    draft,
                    Some((transaction.session_id.clone(), transaction.order_no.clone())),
                    now,
                );
                n.staged = Some(staged.clone());
                let id = n.notification_id.clone();
                notifications.push(n);
                Ok(Some(id))
            }
            Err(reason) => Err(reason.as_str()),
        };
        outcomes.push(ChannelResult {
            channel,
            transaction: transaction.clone(),
            result,
        });
    }
    if request.dry_run || notifications.is_empty() {
        return Ok(outcomes);
    }
    app.store.put_notifications(&notifications).await?;
    app.queue_staged(&notifications).await?;
    tracing::info!(account_id = %account.account_id, session_id = %transaction.session_id, queued = notifications.len(), "resend queued");
    Ok(outcomes)
}

/// Whether the recipient of `payload` is on the account's opt-out list.
async fn opted_out(app: &Resend, account: &Account, payload: &Payload) -> Result<bool> {
    match suppression::key_of(payload) {
        Some(recipient) => {
            app.store
                .is_suppressed(&account.account_id, &recipient)
                .await
        }
        None => Ok(false),
    }
}

/// `POST /v1/notifications/{id}/resend`: the same notification again — the
/// same payload and `webhook-id`, the current endpoint or provider, a new
/// chain of attempts appended to its log.
async fn resend_one(
    State(app): State<Arc<Resend>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    if id.len() > 64 {
        return Err(Error::NotFound("notification"));
    }
    app.send_again(&account.account_id, &id).await?;
    tracing::info!(account_id = %account.account_id, notification_id = %id, "notification resent");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "notification_id": id })),
    )
        .into_response())
}

/// The body of `POST /v1/notifications/recover`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverRequest {
    since: String,
    until: Option<String>,
    channel: Option<String>,
    /// Only this endpoint's (contract section 8: after re-enabling it).
    endpoint_id: Option<String>,
}

/// Queues again every `failed` notification created in [since, until]
/// (until: now), on one channel or all: each gets a new chain of attempts
/// and keeps its `webhook-id`. Answers how many, and which.
async fn recover(
    State(app): State<Arc<Resend>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let body = read_body(body).await?;
    let body = serde_json::Value::Object(inc_shared::api::json_object(&body)?);
    let request: RecoverRequest = serde_json::from_value(body).map_err(|e| {
        Error::bad_request(
            "invalid_body",
            format!("expected {{\"since\", \"until\"?, \"channel\"?, \"endpoint_id\"?}}: {e}"),
            None,
        )
    })?;
    let since = parse_time("invalid_field", "since", &request.since)?;
    let until = request
        .until
        .as_deref()
        .map(|u| parse_time("invalid_field", "until", u))
        .transpose()?;
    if until.is_some_and(|u| u < since) {
        return Err(Error::bad_request(
            "invalid_field",
            "until: must not be before since",
            Some("until"),
        ));
    }
    let channel = request
        .channel
        .as_deref()
        .map(|c| {
            Channel::parse(c).ok_or_else(|| {
                Error::bad_request(
                    "invalid_field",
                    "channel: one of webhook, sms, email, whatsapp",
                    Some("channel"),
                )
            })
        })
        .transpose()?;
    let mut query = LogQuery {
        limit: 100,
        channel,
        status: Some(Status::Failed),
        since: Some(since),
        until,
        endpoint_id: request.endpoint_id,
        ..LogQuery::default()
    };
    let mut recovered = Vec::new();
    loop {
        let (page, next) = app
            .store
            .list_notifications(&account.account_id, &query)
            .await?;
        for n in page {
            match app
                .send_again(&account.account_id, &n.notification_id)
                .await
            {
                Ok(()) => recovered.push(n.notification_id),
                // Resent meanwhile: not ours to queue.
                Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        match next {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    tracing::info!(account_id = %account.account_id, recovered = recovered.len(), "failed notifications recovered");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "recovered": recovered.len(), "notification_ids": recovered })),
    )
        .into_response())
}

/// Ottu's error answers: `{"detail": …}`, or field errors for a 400.
fn ottu_error(err: Error) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let detail = match &err {
        Error::Unauthorized => {
            "Authentication credentials were not provided or are invalid.".to_owned()
        }
        Error::NotFound(_) => "Not found.".to_owned(),
        Error::Dependency(cause) | Error::Config(cause) => {
            tracing::error!(%cause, "dependency failure");
            "Service temporarily unavailable, try again later.".to_owned()
        }
        Error::BadRequest {
            field: Some(field),
            message,
            ..
        } => {
            return (status, axum::Json(json!({ field.clone(): [message] }))).into_response();
        }
        other => other.to_string(),
    };
    let mut response = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // As every other route's 503: when to try again.
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

async fn ottu(State(app): State<Arc<Resend>>, headers: HeaderMap, body: Body) -> Response {
    let run = async {
        let account = authenticate(&app.store, &headers).await?;
        let bytes = read_body(body).await?;
        let request = match parse(&headers, &bytes)? {
            Ok(mut r) => {
                r.dry_run = false;
                r
            }
            Err(errors) => return Ok((StatusCode::BAD_REQUEST, axum::Json(errors)).into_response()),
        };
        let transaction = find_transaction(&app, &account, &request).await?;
        let outcomes = resend(&app, &account, &request, &transaction).await?;
        if outcomes.iter().any(|o| matches!(o.result, Ok(Some(_)))) {
            return Ok(axum::Json(json!({ "message": "Customer notified." })).into_response());
        }
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| {
                o.result
                    .as_ref()
                    .err()
                    .map(|reason| format!("{}: {reason}", o.channel.as_str()))
            })
            .collect();
        Ok::<_, Error>(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "channels": failed, "result": "failed" })),
            )
                .into_response(),
        )
    };
    run.await.unwrap_or_else(ottu_error)
}
