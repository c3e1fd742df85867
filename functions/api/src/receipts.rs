//! Receipt routes (contract section 10): where providers tell INC what
//! became of a message after they took it. No API key: the path carries
//! the account's unguessable receipt token (`GET /v1/settings` shows the
//! URLs). Hostile input is answered like anywhere: an unknown token `404`,
//! a malformed body `400`, and a report of a message INC does not know
//! `200`, changing nothing (a provider retries what it is refused).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use inc_deliver::fallback::send_by_sms;
use inc_shared::api::{media_type, read_body};
use inc_shared::domain::campaigns::replies::{Inbound, is_stop};
use inc_shared::domain::common::ids;
use inc_shared::domain::messages::receipts::{
    ReceiptStatus, SmsInbound, sms_inbound, whatsapp_messages, whatsapp_signature_ok,
    whatsapp_statuses,
};
use inc_shared::domain::messages::suppression::{Suppression, key};
use inc_shared::domain::{Channel, CustomerChannel};
use inc_shared::store::Account;
use inc_shared::{Error, Result};

use crate::Api;

/// The receipt URLs of an account, on the host this request reached.
pub fn urls(headers: &HeaderMap, token: &str) -> Value {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let base = match header("host") {
        Some(host) => format!("{}://{host}", header("x-forwarded-proto").unwrap_or("http")),
        None => String::new(),
    };
    json!({
        "sms": format!("{base}/v1/receipts/sms/{token}"),
        "whatsapp": format!("{base}/v1/receipts/whatsapp/{token}"),
    })
}

async fn account_of(app: &Api, token: &str) -> Result<Account> {
    app.store
        .account_for_receipt_token(token)
        .await?
        .ok_or(Error::NotFound("receipt URL"))
}

/// `POST /v1/receipts/sms/{token}`: Genio's DELIVERY and MO IPNs.
pub async fn sms(
    State(app): State<Arc<Api>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = account_of(&app, &token).await?;
    if media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(Error::UnsupportedMediaType {
            expected: "application/x-www-form-urlencoded",
        });
    }
    let bytes = read_body(body).await?;
    let account_id = account.account_id.as_str();
    let outcome = match sms_inbound(&bytes, Utc::now())? {
        SmsInbound::Receipt {
            notification_id,
            receipt,
        } => {
            let recorded = app
                .store
                .record_receipt(account_id, &notification_id, Channel::Sms, &receipt)
                .await?;
            tracing::info!(account_id, %notification_id, status = ?receipt.status, recorded, "SMS receipt");
            match recorded {
                true => "recorded",
                false => "ignored",
            }
        }
        SmsInbound::Stop { from } => {
            let suppression = Suppression {
                account_id: account_id.to_owned(),
                recipient: key(CustomerChannel::Sms, &from),
                channel: CustomerChannel::Sms,
                to: from,
                reason: Some("replied STOP".into()),
                source: "sms_stop".into(),
                created_at: Utc::now(),
            };
            app.store.add_suppression(&suppression).await?;
            tracing::info!(account_id, "recipient suppressed: replied STOP");
            "suppressed"
        }
        SmsInbound::Reply { from, text, id } => {
            let inbound = Inbound {
                channel: CustomerChannel::Sms,
                from,
                text,
                received_at: Utc::now(),
                provider_id: id,
            };
            app.campaigns.reply(account_id, &inbound).await?;
            "replied"
        }
        SmsInbound::Ignored => "ignored",
    };
    Ok(axum::Json(json!({ "result": outcome })).into_response())
}

/// `GET /v1/receipts/whatsapp/{token}`: Meta's verification of the URL —
/// its `hub.challenge` back when `hub.verify_token` is the account's
/// `channels.whatsapp.verify_token`, `403` otherwise.
pub async fn whatsapp_verify(
    State(app): State<Arc<Api>>,
    Path(token): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = account_of(&app, &token).await?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
            .map_err(|_| Error::bad_request("invalid_query", "the query is not a form", None))?;
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                Error::bad_request("invalid_field", format!("{name}: is required"), Some(name))
            })
    };
    let (mode, sent, challenge) = (
        param("hub.mode")?,
        param("hub.verify_token")?,
        param("hub.challenge")?,
    );
    let expected = account
        .settings
        .channels
        .whatsapp
        .as_ref()
        .and_then(|w| w.verify_token.as_deref());
    match expected {
        Some(expected) if mode == "subscribe" && ids::same_token(expected, sent) => {
            tracing::info!(account_id = %account.account_id, "WhatsApp receipt URL verified");
            Ok(([(header::CONTENT_TYPE, "text/plain")], challenge.to_owned()).into_response())
        }
        _ => Ok(refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "hub.verify_token is not this account's channels.whatsapp.verify_token",
        )),
    }
}

/// An error in the API's shape, for the answers `Error` has no kind for.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// `POST /v1/receipts/whatsapp/{token}`: Meta's status webhooks, signed
/// with the app's secret (`X-Hub-Signature-256`; a wrong or missing one is
/// `401`, nothing read), each status recorded on the message INC sent by
/// the id its send returned.
pub async fn whatsapp(
    State(app): State<Arc<Api>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = account_of(&app, &token).await?;
    let bytes = read_body(body).await?;
    let secret = account
        .settings
        .channels
        .whatsapp
        .as_ref()
        .and_then(|w| w.app_secret.as_deref());
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !secret.is_some_and(|s| whatsapp_signature_ok(s, &bytes, signature)) {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "X-Hub-Signature-256 is not the HMAC-SHA256 of the body with channels.whatsapp.app_secret",
        ));
    }
    let account_id = account.account_id.as_str();
    let (mut recorded, mut ignored) = (0, 0);
    for (provider_id, receipt) in whatsapp_statuses(&bytes)? {
        let found = app
            .store
            .notification_for_provider_id(account_id, &provider_id)
            .await?;
        let done = match &found {
            Some(id) => {
                app.store
                    .record_receipt(account_id, id, Channel::Whatsapp, &receipt)
                    .await?
            }
            None => false,
        };
        // A message that never reached the customer goes by SMS, where the
        // account asked for it (contract 10).
        if let (Some(id), ReceiptStatus::Undelivered) = (&found, receipt.status)
            && let Some(n) = app.store.get_notification(account_id, id).await?
            && n.fallback_payload.is_some()
        {
            send_by_sms(&app.store, &app.queue, &app.queue_url, &n).await?;
        }
        match done {
            true => recorded += 1,
            false => ignored += 1,
        }
    }
    // Inbound messages (contract 13): a STOP opts out of WhatsApp, anything
    // else is a reply.
    let mut replies = 0;
    for m in whatsapp_messages(&bytes)? {
        if is_stop(&m.text) {
            let suppression = Suppression {
                account_id: account_id.to_owned(),
                recipient: key(CustomerChannel::Whatsapp, &m.from),
                channel: CustomerChannel::Whatsapp,
                to: m.from,
                reason: Some("replied STOP".into()),
                source: "whatsapp_stop".into(),
                created_at: Utc::now(),
            };
            app.store.add_suppression(&suppression).await?;
            continue;
        }
        let inbound = Inbound {
            channel: CustomerChannel::Whatsapp,
            from: m.from,
            text: m.text,
            received_at: m.at,
            provider_id: m.id,
        };
        app.campaigns.reply(account_id, &inbound).await?;
        replies += 1;
    }
    tracing::info!(account_id, recorded, ignored, replies, "WhatsApp receipts");
    Ok(
        axum::Json(json!({ "recorded": recorded, "ignored": ignored, "replies": replies }))
            .into_response(),
    )
}
