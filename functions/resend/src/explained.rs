//! `POST /v1/notifications/resend`, explained: one entry per requested
//! channel — `queued`, `would_queue` on a `dry_run`, or `skipped` with the
//! reason — and beside it what became of the transaction's last message on
//! that channel (`last`: its status, its provider's receipt, the SMS it fell
//! back to or stands in for), so whoever resends sees why.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_body};
use inc_shared::domain::{Channel, Notification};
use inc_shared::store::{LogQuery, Store};
use inc_shared::{Error, Result};

use crate::{Resend, find_transaction, parse, resend};

/// The newest notifications of a transaction, one per customer channel.
async fn last_messages(
    store: &Store,
    account_id: &str,
    session_id: &str,
) -> Result<Vec<Notification>> {
    let query = LogQuery {
        limit: 100,
        session_id: Some(session_id.to_owned()),
        ..LogQuery::default()
    };
    let (newest_first, _) = store.list_notifications(account_id, &query).await?;
    let mut last: Vec<Notification> = Vec::new();
    for n in newest_first {
        if n.channel != Channel::Webhook && !last.iter().any(|l| l.channel == n.channel) {
            last.push(n);
        }
    }
    Ok(last)
}

/// What the explained resend shows of an earlier message.
fn summary(n: &Notification) -> Value {
    json!({
        "notification_id": n.notification_id,
        "status": n.status,
        "created_at": n.created_at,
        "receipt": n.receipt,
        "fallback": n.fallback,
        "fallback_of": n.fallback_of,
    })
}

pub(crate) async fn explained(
    State(app): State<Arc<Resend>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_body(body).await?;
    let request = parse(&headers, &bytes)?.map_err(|errors| {
        let (field, messages) = errors.into_iter().next().unwrap_or_default();
        Error::bad_request(
            "invalid_field",
            format!("{field}: {}", messages.join(" ")),
            Some(&field),
        )
    })?;
    let transaction = find_transaction(&app, &account, &request).await?;
    // Read before anything is sent: if this read fails, the answer is a
    // 503 and nothing was queued.
    let last = last_messages(&app.store, &account.account_id, &transaction.session_id).await?;
    let outcomes = resend(&app, &account, &request, &transaction).await?;
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut entry = json!({ "channel": o.channel, "state": o.transaction.state });
            match o.result {
                Ok(Some(_)) if request.dry_run => entry["status"] = "would_queue".into(),
                Ok(id) => {
                    entry["status"] = "queued".into();
                    entry["notification_id"] = id.into();
                }
                Err(reason) => {
                    entry["status"] = "skipped".into();
                    entry["reason"] = reason.into();
                }
            }
            entry["last"] = last
                .iter()
                .find(|n| n.channel == Channel::from(o.channel))
                .map_or(Value::Null, summary);
            entry
        })
        .collect();
    Ok(axum::Json(json!({ "results": results })).into_response())
}
