//! `/v1/endpoints`: an account's webhook endpoints (contract section 7).
//!
//! The default endpoint (`ep_default`, the settings' `endpoint_url`) is
//! listed and shown here, but changed only through `PATCH /v1/settings`,
//! where it has always lived.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::endpoints::endpoint::deleted_reason;
use inc_shared::domain::{DEFAULT_ENDPOINT_ID, Endpoint, EndpointPatch, EndpointSpec};
use inc_shared::store::Account;
use inc_shared::{Error, Result};

use crate::{Api, page_limit, query_params};

/// How many times a patch is re-applied over a concurrent one.
const MAX_PATCH_TRIES: u32 = 10;

fn default_endpoint_is_settings() -> Error {
    Error::Conflict {
        code: "default_endpoint",
        message: "ep_default is the account's endpoint_url: change or remove it with \
                  PATCH /v1/settings; only its `enabled` is patched here"
            .into(),
    }
}

/// `PATCH /v1/endpoints/ep_default`: only `enabled` — the rest is the
/// account's settings.
async fn patch_default(app: &Api, account: &Account, patch: EndpointPatch) -> Result<Response> {
    let Some(enabled) = patch.only_enabled() else {
        return Err(default_endpoint_is_settings());
    };
    let endpoint = app
        .store
        .set_default_enabled(&account.account_id, enabled, account.default_failing_since)
        .await?
        .ok_or(Error::NotFound("endpoint"))?;
    tracing::info!(account_id = %account.account_id, endpoint_id = DEFAULT_ENDPOINT_ID, enabled, "endpoint changed");
    Ok(axum::Json(endpoint.view()).into_response())
}

/// The endpoint `id` of the account (its default one too), or `404`.
pub(crate) async fn find(app: &Api, account: &Account, id: &str) -> Result<Endpoint> {
    if id == DEFAULT_ENDPOINT_ID {
        return account
            .default_endpoint()
            .ok_or(Error::NotFound("endpoint"));
    }
    if !id.starts_with("ep_") || id.len() > 64 {
        return Err(Error::NotFound("endpoint"));
    }
    app.store
        .get_endpoint(&account.account_id, id)
        .await?
        .ok_or(Error::NotFound("endpoint"))
}

pub async fn create(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_json_body(&headers, body).await?;
    let spec = EndpointSpec::from_json(&bytes, &app.policy)?;
    if let Some(code) = &spec.transformation {
        inc_shared::jq::Program::compile_for_save(code)?;
    }
    let endpoint = Endpoint::create(&account.account_id, spec, Utc::now());
    app.store.create_endpoint(&endpoint).await?;
    tracing::info!(account_id = %account.account_id, endpoint_id = %endpoint.endpoint_id, "endpoint created");
    let mut view = endpoint.view();
    view["secret"] = endpoint.secret.clone().into();
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

/// The cursor after a first page that held only the default endpoint.
const STORED_FROM_START: &str = "stored";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let params: ListParams = query_params(raw.as_deref())?;
    let limit = page_limit(params.limit.as_deref())?;
    // The default endpoint leads the first page; a first page it fills
    // (limit=1) goes on with a cursor that starts the stored ones.
    let from_start = params.cursor.as_deref() == Some(STORED_FROM_START);
    let cursor = params.cursor.filter(|_| !from_start);
    let mut items: Vec<Value> = Vec::new();
    if cursor.is_none()
        && !from_start
        && let Some(default) = account.default_endpoint()
    {
        items.push(default.view());
    }
    let room = limit - i32::try_from(items.len()).unwrap_or(0);
    let (stored, next_cursor) = match room {
        0 => {
            let (first, _) = app
                .store
                .list_endpoints(&account.account_id, 1, None)
                .await?;
            let next = (!first.is_empty()).then(|| STORED_FROM_START.to_owned());
            (Vec::new(), next)
        }
        _ => {
            app.store
                .list_endpoints(&account.account_id, room, cursor)
                .await?
        }
    };
    items.extend(stored.iter().map(Endpoint::view));
    Ok(axum::Json(json!({ "items": items, "next_cursor": next_cursor })).into_response())
}

pub async fn get(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let endpoint = find(&app, &account, &id).await?;
    Ok(axum::Json(endpoint.view()).into_response())
}

pub async fn patch(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let mut endpoint = find(&app, &account, &id).await?;
    let bytes = read_json_body(&headers, body).await?;
    let patch = EndpointPatch::from_json(&bytes, &app.policy)?;
    if let Some(Some(code)) = &patch.transformation {
        inc_shared::jq::Program::compile_for_save(code)?;
    }
    if id == DEFAULT_ENDPOINT_ID {
        return patch_default(&app, &account, patch).await;
    }
    let mut tries = 0;
    loop {
        let read = endpoint.version;
        let mut next = patch.clone().apply(endpoint, Utc::now())?;
        next.version = read + 1;
        if app.store.put_endpoint(&next, read).await? {
            tracing::info!(account_id = %account.account_id, endpoint_id = %id, "endpoint changed");
            return Ok(axum::Json(next.view()).into_response());
        }
        tries += 1;
        if tries >= MAX_PATCH_TRIES {
            return Err(Error::Dependency(
                "too many concurrent changes of this endpoint; retry shortly".into(),
            ));
        }
        // Another write came first (or a delete): apply over what is there.
        endpoint = find(&app, &account, &id).await?;
    }
}

pub async fn delete(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    if id == DEFAULT_ENDPOINT_ID {
        return Err(default_endpoint_is_settings());
    }
    find(&app, &account, &id).await?;
    if !app.store.delete_endpoint(&account.account_id, &id).await? {
        return Err(Error::NotFound("endpoint"));
    }
    tracing::info!(account_id = %account.account_id, endpoint_id = %id, "endpoint deleted");
    // What was still on its way to it ends failed now (deliver would fail
    // it too, when its message next comes up); the history keeps it all.
    let failed = app
        .store
        .fail_pending_of_endpoint(&account.account_id, &id, &deleted_reason(&id))
        .await?;
    if failed > 0 {
        tracing::info!(account_id = %account.account_id, endpoint_id = %id, failed, "pending notifications failed");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn secret(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let secret = find(&app, &account, &id).await?.secret;
    Ok(axum::Json(json!({ "secret": secret })).into_response())
}

pub async fn rotate(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let now = Utc::now();
    let secret = match id.as_str() {
        DEFAULT_ENDPOINT_ID if account.settings.endpoint_url.is_some() => {
            app.store.rotate_secret(&account, now).await?
        }
        _ => {
            let endpoint = find(&app, &account, &id).await?;
            app.store.rotate_endpoint_secret(&endpoint, now).await?
        }
    };
    tracing::info!(account_id = %account.account_id, endpoint_id = %id, "endpoint secret rotated");
    Ok(axum::Json(json!({ "secret": secret })).into_response())
}
