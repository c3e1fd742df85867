//! Apps (contract section 14): a recipient's devices, the token its app
//! reads its feed with, and the feed itself — the merchant's view by API
//! key, the app's by recipient token (`Authorization: Bearer …`), which
//! names one recipient of one account and reads nothing else.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, authenticate_recipient, bearer_token, read_body};
use inc_shared::domain::apps::devices::{Device, DeviceSpec};
use inc_shared::domain::apps::feed::read_frame;
use inc_shared::domain::apps::token::{self, Bearer};
use inc_shared::domain::recipients::recipient::check_id;
use inc_shared::store::Account;
use inc_shared::{Error, Result};

use crate::{Api, page_limit, query_params};

/// The recipient `id` of the caller's account, or `404`.
async fn recipient_of(app: &Api, account: &Account, id: &str) -> Result<()> {
    check_id(id, "id").map_err(|_| Error::NotFound("recipient"))?;
    app.store
        .get_recipient(&account.account_id, id)
        .await?
        .map(|_| ())
        .ok_or(Error::NotFound("recipient"))
}

/// `POST /v1/recipients/{id}/devices`: adds (or renews) a device; `201`.
pub async fn add_device(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = inc_shared::api::read_json_body(&headers, body).await?;
    let spec = DeviceSpec::from_json(&bytes)?;
    recipient_of(&app, &account, &id).await?;
    let device = Device {
        account_id: account.account_id.clone(),
        recipient_id: id,
        token: spec.token,
        platform: spec.platform,
        app: spec.app,
        created_at: Utc::now(),
    };
    if !app.store.put_device(&device).await? {
        return Err(Error::unprocessable(
            "too_many_devices",
            format!(
                "token: the recipient has {} devices already; remove one first",
                inc_shared::domain::apps::devices::MAX_DEVICES
            ),
            Some("token"),
        ));
    }
    tracing::info!(account_id = %account.account_id, platform = device.platform.as_str(), "device added");
    Ok((StatusCode::CREATED, axum::Json(device.view())).into_response())
}

/// `GET /v1/recipients/{id}/devices`: every device, tokens masked.
pub async fn list_devices(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    recipient_of(&app, &account, &id).await?;
    let devices = app.store.devices_of(&account.account_id, &id).await?;
    let items: Vec<Value> = devices.iter().map(Device::view).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// `DELETE /v1/recipients/{id}/devices/{token}`: `204`, `404` if unknown.
pub async fn delete_device(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((id, token)): Path<(String, String)>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    check_id(&id, "id").map_err(|_| Error::NotFound("device"))?;
    let max = inc_shared::domain::apps::devices::MAX_TOKEN_LEN;
    if token.is_empty() || token.len() > max {
        return Err(Error::NotFound("device"));
    }
    if !app
        .store
        .delete_device(&account.account_id, &id, &token)
        .await?
    {
        return Err(Error::NotFound("device"));
    }
    tracing::info!(account_id = %account.account_id, "device removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    ttl_seconds: Option<i64>,
}

/// `POST /v1/recipients/{id}/token` `{"ttl_seconds"?}` (default an hour,
/// at most 24 h): a token the recipient's app reads its feed with.
pub async fn issue_token(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_body(body).await?;
    let request: TokenRequest = match bytes.iter().all(u8::is_ascii_whitespace) {
        true => TokenRequest { ttl_seconds: None },
        false => serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_request(
                "invalid_field",
                format!("ttl_seconds: {e}"),
                Some("ttl_seconds"),
            )
        })?,
    };
    let ttl = match request.ttl_seconds {
        None => token::DEFAULT_TTL,
        Some(s) if (60..=token::MAX_TTL.num_seconds()).contains(&s) => Duration::seconds(s),
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_field",
                "ttl_seconds: must be 60 to 86400 (24 h)",
                Some("ttl_seconds"),
            ));
        }
    };
    recipient_of(&app, &account, &id).await?;
    let (token, expires_at) = token::issue(
        &account.account_id,
        &id,
        &account.signing_secret,
        ttl,
        Utc::now(),
    )?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "token": token, "expires_at": expires_at })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// A page of a feed with its unread count.
async fn feed_page(
    app: &Api,
    account_id: &str,
    recipient_id: &str,
    raw: Option<&str>,
) -> Result<(Vec<inc_shared::domain::apps::feed::FeedItem>, Value)> {
    let q: FeedQuery = query_params(raw)?;
    let limit = page_limit(q.limit.as_deref())?;
    let (items, next_cursor) = app
        .store
        .feed_page(account_id, recipient_id, limit, q.cursor.as_deref())
        .await?;
    let unread_count = app.store.unread_count(account_id, recipient_id).await?;
    let views: Vec<Value> = items.iter().map(|i| i.view()).collect();
    let body = json!({
        "items": views,
        "unread_count": unread_count,
        "next_cursor": next_cursor,
    });
    Ok((items, body))
}

/// `GET /v1/recipients/{id}/feed`: the merchant's view of a feed.
pub async fn recipient_feed(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    recipient_of(&app, &account, &id).await?;
    let (_, body) = feed_page(&app, &account.account_id, &id, raw.as_deref()).await?;
    Ok(axum::Json(body).into_response())
}

/// The recipient the request's token names, or `401`.
async fn app_caller(app: &Api, headers: &HeaderMap) -> Result<Bearer> {
    let token = bearer_token(headers).ok_or(Error::NotRecipient)?;
    authenticate_recipient(&app.store, token).await
}

/// `GET /v1/feed`: the app's own feed; what it returns is seen now.
pub async fn my_feed(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let me = app_caller(&app, &headers).await?;
    let (items, mut body) =
        feed_page(&app, &me.account_id, &me.recipient_id, raw.as_deref()).await?;
    let now = Utc::now();
    let unseen: Vec<String> = items
        .iter()
        .filter(|i| i.seen_at.is_none())
        .map(|i| i.item_id.clone())
        .collect();
    if !unseen.is_empty() {
        app.store
            .mark_feed_seen(&me.account_id, &me.recipient_id, &unseen, now)
            .await?;
        for view in body["items"].as_array_mut().into_iter().flatten() {
            if view["seen_at"].is_null() {
                view["seen_at"] = json!(now);
            }
        }
    }
    Ok(axum::Json(body).into_response())
}

/// `POST /v1/feed/{item}/read`: `404` for an item not in the caller's
/// feed; reading twice is the same.
pub async fn read_item(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(item): Path<String>,
) -> Result<Response> {
    let me = app_caller(&app, &headers).await?;
    if !item.starts_with("ntf_") || item.len() > 64 {
        return Err(Error::NotFound("feed item"));
    }
    let read = app
        .store
        .read_feed_item(&me.account_id, &me.recipient_id, &item, Utc::now())
        .await?
        .ok_or(Error::NotFound("feed item"))?;
    let ids = if read { vec![item] } else { Vec::new() };
    answer_read(&app, &me, ids).await
}

/// `POST /v1/feed/read-all`.
pub async fn read_all(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let me = app_caller(&app, &headers).await?;
    let ids = app
        .store
        .read_all_feed(&me.account_id, &me.recipient_id, Utc::now())
        .await?;
    answer_read(&app, &me, ids).await
}

/// The answer to a read — the ids it read and the unread count — sent as
/// a `feed.read` frame to the recipient's sockets too when it read any.
async fn answer_read(app: &Api, me: &Bearer, ids: Vec<String>) -> Result<Response> {
    let unread_count = app
        .store
        .unread_count(&me.account_id, &me.recipient_id)
        .await?;
    if !ids.is_empty() {
        let frame = read_frame(&ids, unread_count);
        app.realtime
            .broadcast(&app.store, &me.account_id, &me.recipient_id, &frame)
            .await;
    }
    Ok(axum::Json(json!({ "ids": ids, "unread_count": unread_count })).into_response())
}
