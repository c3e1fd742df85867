//! `/v1/suppressions`: the account's opt-out list (contract section 9). A
//! listed recipient is sent no customer message on that channel: deliver
//! checks the list at send, the explained resend when it plans.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::CustomerChannel;
use inc_shared::domain::messages::suppression::{
    Suppression, SuppressionSpec, check_recipient, key,
};
use inc_shared::{Error, Result};

use crate::{Api, ChannelPage, page_of};

pub async fn add(State(app): State<Arc<Api>>, headers: HeaderMap, body: Body) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_json_body(&headers, body).await?;
    let spec = SuppressionSpec::from_json(&bytes)?;
    let suppression = Suppression {
        account_id: account.account_id.clone(),
        recipient: key(spec.channel, &spec.to),
        channel: spec.channel,
        to: spec.to,
        reason: spec.reason,
        source: "api".into(),
        created_at: Utc::now(),
    };
    let (added, stored) = app.store.add_suppression(&suppression).await?;
    // Listed already: the first entry stands, and the answer says so.
    let status = match added {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    if added {
        tracing::info!(account_id = %account.account_id, channel = stored.channel.as_str(), "recipient suppressed");
    }
    Ok((status, axum::Json(stored.view())).into_response())
}

pub async fn list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let page = ChannelPage::parse(raw.as_deref())?;
    let (items, next_cursor) = app
        .store
        .list_suppressions(&account.account_id, page.channel, page.limit, page.cursor)
        .await?;
    Ok(page_of(
        items.iter().map(Suppression::view).collect(),
        next_cursor,
    ))
}

pub async fn remove(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((channel, to)): Path<(String, String)>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    // A path that names no channel or recipient names no suppression.
    let channel = CustomerChannel::from_field("channel", &channel)
        .map_err(|_| Error::NotFound("suppression"))?;
    let to = check_recipient(channel, "to", &to).map_err(|_| Error::NotFound("suppression"))?;
    if !app
        .store
        .remove_suppression(&account.account_id, channel, &to)
        .await?
    {
        return Err(Error::NotFound("suppression"));
    }
    tracing::info!(account_id = %account.account_id, channel = channel.as_str(), "suppression removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
