//! Endpoint transformations (contract section 15): compiled when an
//! endpoint is saved — a program that does not compile is a `422` naming
//! `transformation` — and tried on an event before any is sent:
//! `POST /v1/endpoints/{id}/transformation/test {"event"}` runs the
//! endpoint's program (or a draft given as `transformation`, which is what
//! the panel's editor does as one types) bounded as deliver runs it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::destinations::transformation;
use inc_shared::jq::{Program, RunError};
use inc_shared::{Error, Result};

use crate::Api;

/// The webhook JSON a test runs on: the event as given, with an `id` and
/// a `created_at` when it has none, as a delivered webhook would.
fn webhook_json(event: Value) -> Result<Value> {
    let Value::Object(mut event) = event else {
        return Err(Error::bad_request(
            "invalid_field",
            "event: must be an object: the webhook's JSON {\"id\", \"type\", \"created_at\", \"data\"}",
            Some("event"),
        ));
    };
    event.entry("id").or_insert_with(|| "evt_test".into());
    event.entry("created_at").or_insert_with(|| {
        Utc::now()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into()
    });
    Ok(Value::Object(event))
}

pub async fn test(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let endpoint = crate::endpoints::find(&app, &account, &id).await?;
    let bytes = read_json_body(&headers, body).await?;
    let mut event = None;
    let mut draft = None;
    for (key, value) in inc_shared::domain::json_object(&bytes)? {
        match key.as_str() {
            "event" => event = Some(webhook_json(value)?),
            "transformation" => draft = Some(transformation::parse(&value)?),
            other => {
                return Err(Error::bad_request(
                    "unknown_field",
                    format!("unknown field `{other}`; expected `event` and `transformation`"),
                    Some(other),
                ));
            }
        }
    }
    let event = event
        .ok_or_else(|| Error::bad_request("missing_field", "event: is required", Some("event")))?;
    let code = match draft {
        Some(Some(code)) => code,
        Some(None) | None => endpoint.transformation.clone().ok_or_else(|| {
            Error::unprocessable(
                "no_transformation",
                "transformation: this endpoint has none; give one to try",
                Some("transformation"),
            )
        })?,
    };
    let program = Program::compile_for_save(&code)?;
    let input = event.to_string();
    let ran = tokio::task::spawn_blocking(move || program.run(&input))
        .await
        .map_err(|e| Error::Dependency(format!("the run was lost: {e}")))?;
    match ran {
        Ok(output) => Ok(axum::Json(json!({ "output": output.to_value() })).into_response()),
        Err(RunError::Program(error)) => Err(Error::unprocessable(
            "transformation_failed",
            transformation::failure(&error),
            Some("transformation"),
        )),
        Err(RunError::Unavailable(error)) => Err(Error::Dependency(error)),
    }
}
