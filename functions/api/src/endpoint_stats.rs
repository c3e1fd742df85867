//! `GET /v1/endpoints/{id}/stats`: an endpoint's delivery statistics by
//! hour (contract section 8), read from the counters deliver keeps.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use inc_shared::api::authenticate;
use inc_shared::domain::endpoints::stats::MAX_RANGE;
use inc_shared::domain::parse_time;
use inc_shared::{Error, Result};

use crate::endpoints::find;
use crate::{Api, query_params};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    since: Option<String>,
    until: Option<String>,
}

pub async fn stats(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let params: StatsParams = query_params(raw.as_deref())?;
    let until = match params.until.as_deref() {
        Some(u) => parse_time("invalid_parameter", "until", u)?,
        None => Utc::now(),
    };
    let since = match params.since.as_deref() {
        Some(s) => parse_time("invalid_parameter", "since", s)?,
        None => until - Duration::hours(23),
    };
    if until < since {
        return Err(Error::bad_request(
            "invalid_parameter",
            "until: must not be before since",
            Some("until"),
        ));
    }
    if until - since > MAX_RANGE {
        return Err(Error::bad_request(
            "invalid_parameter",
            "since: at most 31 days before until",
            Some("since"),
        ));
    }
    find(&app, &account, &id).await?;
    let view = app
        .store
        .endpoint_stats(&account.account_id, &id, since, until)
        .await?;
    Ok(axum::Json(view).into_response())
}
