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
use chrono::Utc;
use serde_json::json;

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::destinations::transformation::{self, Trial};
use inc_shared::jq::{Program, RunError};
use inc_shared::{Error, Result};

use crate::Api;

pub async fn test(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let endpoint = crate::endpoints::find(&app, &account, &id).await?;
    let bytes = read_json_body(&headers, body).await?;
    let trial = Trial::from_json(&bytes, Utc::now())?;
    let code = trial.program(endpoint.transformation.as_deref())?;
    let program = Program::compile_for_save(code)?;
    let input = trial.event.to_string();
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
