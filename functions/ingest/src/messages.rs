//! `/v1/messages`: a customer message a merchant sends directly, now or at
//! `send_at` (contract section 9; rules in
//! `inc_shared::domain::messages::direct`).
//!
//! A message is one notification like any other (history, timeline by its
//! `reference`, retries, resend, recover). Its id is claimed with its
//! notification in one DynamoDB transaction; then its message goes on the
//! delivery queue — at once, or, for a scheduled one whose send is within
//! the lead, with an SQS delay that ends at `send_at`. A send further
//! ahead is put on the queue by the sweeper when its lead begins. If the
//! queue fails after the write, the answer is a 503 whose retry (same id)
//! queues again, and the sweeper queues it meanwhile; deliver's lease lets
//! only one copy send, and never before `send_at`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::delivery::outbox::{release_delay, release_now};
use inc_shared::domain::events::event::MAX_ID_LEN;
use inc_shared::domain::messages::direct::{MESSAGE_EVENT_TYPE, MessageRecord, MessageRequest};
use inc_shared::domain::recipients::preferences::TRANSACTIONAL;
use inc_shared::domain::{CustomerChannel, Notification, NotificationDraft, Status};
use inc_shared::queue::DeliveryMessage;
use inc_shared::store::MessageClaim;
use inc_shared::{Error, Result};

use crate::Ingest;

/// `POST /v1/messages`.
pub async fn send(
    State(app): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_json_body(&headers, body).await?;
    let now = Utc::now();
    let mut request = MessageRequest::from_json(&bytes, now)?;
    let fingerprint =
        MessageRequest::fingerprint(&serde_json::from_slice::<Value>(&bytes).unwrap_or_default());
    let account_id = account.account_id.as_str();
    // A retry needs no template or list read: answer it at once.
    if let Some(existing) = app.store.get_message(account_id, &request.id).await? {
        return replay(&app, existing, &fingerprint).await;
    }
    // By recipient (contract 12): its address, language and time zone.
    let recipient = match request.to_recipient.clone() {
        Some(id) => {
            let recipient = app.store.get_recipient(account_id, &id).await?.ok_or_else(|| {
                Error::unprocessable(
                    "recipient_not_found",
                    format!("to_recipient: there is no recipient `{id}`; create it with PUT /v1/recipients/{id}"),
                    Some("to_recipient"),
                )
            })?;
            request.address_to(&recipient)?;
            Some(recipient)
        }
        None => None,
    };
    let template = match request.template_name() {
        Some(name) => Some(
            app.store
                .get_template(account_id, request.channel, name)
                .await?
                .ok_or_else(|| {
                    Error::unprocessable(
                        "template_not_found",
                        format!(
                            "template: there is no {} template `{name}`; create it with PUT /v1/templates/{}/{name}",
                            request.channel.as_str(),
                            request.channel.as_str()
                        ),
                        Some("template"),
                    )
                })?,
        ),
        None => None,
    };
    // A push goes to each of the recipient's devices, one notification
    // each (contract 14); every other channel to its one address.
    let addresses = match (&recipient, request.channel) {
        (Some(r), CustomerChannel::Push) => {
            let devices = app.store.devices_of(account_id, &r.recipient_id).await?;
            if devices.is_empty() {
                return Err(Error::unprocessable(
                    "recipient_without_devices",
                    format!(
                        "to_recipient: the recipient `{}` has no devices; add one with POST /v1/recipients/{}/devices",
                        r.recipient_id, r.recipient_id
                    ),
                    Some("to_recipient"),
                ));
            }
            devices.iter().map(|d| d.address()).collect()
        }
        _ => vec![request.to.clone()],
    };
    // A WhatsApp message that fails for good goes by SMS where the account
    // asked for it: the SMS template of the same name, with the same data
    // (contract 10). Without one, it has no fallback.
    let sms_fallback = match request.template_name() {
        Some(name)
            if request.channel == CustomerChannel::Whatsapp
                && account.settings.channels.whatsapp_falls_back_to_sms() =>
        {
            app.store
                .get_template(account_id, CustomerChannel::Sms, name)
                .await?
        }
        _ => None,
    };
    let notifications: Vec<Notification> = addresses
        .into_iter()
        .map(|to| {
            request.to = to;
            // A template the data does not fill goes its way like any
            // message and fails when it comes due, naming the variable
            // (deliver also checks the opt-out list then).
            let mut draft = NotificationDraft::rendered(
                request.channel,
                &request.to,
                request.draft(template.as_ref()),
            );
            if let Some(sms) = &sms_fallback {
                draft.fallback = request.fallback_draft(sms).ok();
            }
            let mut n = Notification::create(
                account_id,
                &request.id,
                MESSAGE_EVENT_TYPE,
                draft,
                None,
                now,
            );
            n.reference = request.reference.clone();
            if let Some(r) = &recipient {
                n.recipient_id = Some(r.recipient_id.clone());
                n.timezone = r.timezone.clone();
            }
            n.category = (request.category != TRANSACTIONAL).then(|| request.category.clone());
            n.status = request.initial_status();
            if let Some(send_at) = request.send_at {
                // Its chain (and the retry schedule's clock) starts at its send.
                n.next_attempt_at = Some(send_at);
                n.chain_started_at = Some(send_at);
            }
            n
        })
        .collect();
    let first = &notifications[0];
    let record = MessageRecord {
        account_id: account_id.to_owned(),
        message_id: request.id.clone(),
        notification_id: first.notification_id.clone(),
        others: notifications[1..]
            .iter()
            .map(|n| n.notification_id.clone())
            .collect(),
        fingerprint,
        status: first.status,
        send_at: request.send_at,
        created_at: now,
    };
    match app.store.claim_message(&record, &notifications).await? {
        MessageClaim::Taken(existing) => replay(&app, existing, &record.fingerprint).await,
        MessageClaim::Claimed => {
            publish(&app, &notifications, now).await?;
            tracing::info!(account_id, message_id = %record.message_id, status = record.status.as_str(),
                channel = request.channel.as_str(), notifications = notifications.len(), "message accepted");
            Ok(answer(StatusCode::ACCEPTED, &record))
        }
    }
}

/// Puts each of `notifications` on the queue if it is due within the
/// lead: at once if queued, delayed until its send if scheduled. Nothing
/// for a failed one, or one the sweeper releases later.
async fn publish(app: &Ingest, notifications: &[Notification], now: DateTime<Utc>) -> Result<()> {
    let messages: Vec<_> = notifications
        .iter()
        .filter_map(|n| {
            let delay = match (n.status, n.next_attempt_at) {
                (Status::Queued, _) if n.attempts.is_empty() => 0,
                (Status::Scheduled, Some(send_at))
                    if release_now(send_at, now, app.store.timing()) =>
                {
                    release_delay(send_at, now)
                }
                _ => return None,
            };
            Some((DeliveryMessage::of(n), delay))
        })
        .collect();
    if messages.is_empty() {
        return Ok(());
    }
    if let Err(err) = app.queue.enqueue_delayed(&app.queue_url, &messages).await {
        tracing::warn!(message_id = %notifications[0].event_id, %err,
            "stored, but its message could not be queued; the sweeper will queue it");
        return Err(Error::NotYetQueued(
            "the message was stored, but could not be queued yet; it will be sent, \
             and retrying with the same id is safe",
        ));
    }
    Ok(())
}

/// The same id again: the first answer if the body is the same (queuing
/// again what may not be queued yet — a duplicate is harmless), `409` if
/// not.
async fn replay(app: &Ingest, existing: MessageRecord, fingerprint: &str) -> Result<Response> {
    if existing.fingerprint != fingerprint {
        return Err(Error::Conflict {
            code: "message_id_conflict",
            message: "a message with this id but a different body was already accepted".into(),
        });
    }
    let mut notifications = Vec::new();
    for id in existing.notification_ids() {
        if let Some(n) = app.store.get_notification(&existing.account_id, id).await? {
            notifications.push(n);
        }
    }
    publish(app, &notifications, Utc::now()).await?;
    Ok(answer(StatusCode::OK, &existing))
}

fn answer(status: StatusCode, record: &MessageRecord) -> Response {
    let mut body = json!({
        "id": record.message_id,
        "notification_id": record.notification_id,
        "status": record.status,
    });
    if !record.others.is_empty() {
        body["notification_ids"] = json!(record.notification_ids().collect::<Vec<_>>());
    }
    if let Some(at) = record.send_at {
        body["send_at"] = json!(at);
    }
    (status, axum::Json(body)).into_response()
}

/// The message under `id`, and its notification.
async fn find(app: &Ingest, account_id: &str, id: &str) -> Result<(MessageRecord, Notification)> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN {
        return Err(Error::NotFound("message"));
    }
    let record = app
        .store
        .get_message(account_id, id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    let n = app
        .store
        .get_notification(account_id, &record.notification_id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    Ok((record, n))
}

fn view(record: &MessageRecord, n: &Notification) -> Value {
    let mut view = json!({
        "id": record.message_id,
        "notification_id": n.notification_id,
        "status": n.status,
        "send_at": record.send_at,
        "channel": n.channel,
        "reference": n.reference,
        "created_at": record.created_at,
        "updated_at": n.updated_at,
        "last_error": n.last_error,
        "attempts": n.attempts.len(),
    });
    // A push to several devices: the first one's state, and every one's id.
    if !record.others.is_empty() {
        view["notification_ids"] = json!(record.notification_ids().collect::<Vec<_>>());
    }
    view
}

/// `GET /v1/messages/{id}`: where the message stands now.
pub async fn get(
    State(app): State<Arc<Ingest>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let (record, n) = find(&app, &account.account_id, &id).await?;
    Ok(axum::Json(view(&record, &n)).into_response())
}

/// `DELETE /v1/messages/{id}`: cancels a scheduled message; once it is
/// queued for sending (or sent) it is `409`. Canceling twice is the same.
pub async fn cancel(
    State(app): State<Arc<Ingest>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let account_id = account.account_id.as_str();
    let (record, n) = find(&app, account_id, &id).await?;
    let canceled = n.status == Status::Scheduled
        && app
            .store
            .cancel_scheduled(account_id, &n.notification_id, Utc::now())
            .await?;
    // A push's other devices: each one that is still scheduled.
    for other in &record.others {
        app.store
            .cancel_scheduled(account_id, other, Utc::now())
            .await?;
    }
    let n = match canceled {
        true => {
            tracing::info!(account_id, message_id = %id, "message canceled");
            app.store
                .get_notification(account_id, &n.notification_id)
                .await?
                .ok_or(Error::NotFound("message"))?
        }
        // Changed since it was read: read it again to say why.
        false if n.status == Status::Scheduled => find(&app, account_id, &id).await?.1,
        false => n,
    };
    if n.status != Status::Canceled {
        return Err(Error::Conflict {
            code: "message_not_scheduled",
            message: format!(
                "this message is {} already; only a scheduled message can be canceled",
                n.status.as_str()
            )
            .into(),
        });
    }
    Ok(axum::Json(view(&record, &n)).into_response())
}
