//! `/v1/event-types`: the built-in types and the ones an account declares,
//! each with an optional JSON Schema its events' `data` must satisfy
//! (contract section 7).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::events::catalog::inc_types;
use inc_shared::domain::events::catalog::{self, BUILT_IN, built_in_view};
use inc_shared::domain::{EventType, EventTypeSpec};
use inc_shared::{Error, Result};

use crate::Api;

/// `name` as a type a merchant may declare: valid, and not INC's own.
fn declarable(name: &str) -> Result<()> {
    if !catalog::is_valid_name(name) {
        return Err(Error::NotFound("event type"));
    }
    if catalog::is_built_in(name) {
        return Err(Error::Conflict {
            code: "built_in_event_type",
            message: format!("`{name}` is INC's own type; its validation is built in").into(),
        });
    }
    Ok(())
}

pub async fn list(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let declared = app.store.event_types_of(&account.account_id).await?;
    let items: Vec<Value> = BUILT_IN
        .iter()
        .chain(inc_types())
        .map(|(name, description)| built_in_view(name, description))
        .chain(declared.iter().map(EventType::view))
        .collect();
    Ok(axum::Json(json!({ "items": items, "next_cursor": null })).into_response())
}

pub async fn get(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    if let Some((name, description)) = BUILT_IN.iter().chain(inc_types()).find(|(n, _)| *n == name)
    {
        return Ok(axum::Json(built_in_view(name, description)).into_response());
    }
    if !catalog::is_valid_name(&name) {
        return Err(Error::NotFound("event type"));
    }
    let declared = app
        .store
        .get_event_type(&account.account_id, &name)
        .await?
        .ok_or(Error::NotFound("event type"))?;
    Ok(axum::Json(declared.view()).into_response())
}

pub async fn put(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    if !catalog::is_valid_name(&name) {
        // The path names no type at all: say why, rather than 404.
        catalog::check_name(&name, "type")?;
    }
    declarable(&name)?;
    let bytes = read_json_body(&headers, body).await?;
    let spec = EventTypeSpec::from_json(&bytes)?;
    let now = Utc::now();
    let stored = app
        .store
        .put_event_type(&EventType {
            account_id: account.account_id.clone(),
            event_type: name.clone(),
            description: spec.description,
            schema: spec.schema.map(|s| s.to_string()),
            created_at: now,
            updated_at: now,
        })
        .await?;
    tracing::info!(account_id = %account.account_id, event_type = %name, "event type declared");
    Ok(axum::Json(stored.view()).into_response())
}

pub async fn delete(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    declarable(&name)?;
    if !app
        .store
        .delete_event_type(&account.account_id, &name)
        .await?
    {
        return Err(Error::NotFound("event type"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
