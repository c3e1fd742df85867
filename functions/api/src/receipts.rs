//! Receipt routes (contract section 10): where providers tell INC what
//! became of a message after they took it. No API key: the path carries
//! the account's unguessable receipt token (`GET /v1/settings` shows the
//! URLs). Hostile input is answered like anywhere: an unknown token `404`,
//! a malformed body `400`, and a report of a message INC does not know
//! `200`, changing nothing (a provider retries what it is refused).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use inc_shared::api::{media_type, read_body};
use inc_shared::domain::receipts::{SmsInbound, sms_inbound};
use inc_shared::domain::suppression::{Suppression, key};
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
    json!({ "sms": format!("{base}/v1/receipts/sms/{token}") })
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
        SmsInbound::Ignored => "ignored",
    };
    Ok(axum::Json(json!({ "result": outcome })).into_response())
}
