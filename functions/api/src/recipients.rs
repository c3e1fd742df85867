//! `/v1/recipients` and `/v1/lists` (contract section 12): the people a
//! merchant talks to, their preferences, and the lists campaigns reach.
//! Another account's recipients and lists answer `404`, as unknown ones do.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::recipients::lists::{self, List};
use inc_shared::domain::recipients::preferences::Preferences;
use inc_shared::domain::recipients::recipient::{Recipient, RecipientSpec, check_id};
use inc_shared::{Error, Result};

use crate::{Api, page_limit, page_of, query_params};

/// `id` from a path, or `404` when it names no recipient (nor list) at all.
fn path_id(id: &str, what: &'static str) -> Result<()> {
    check_id(id, "id").map_err(|_| Error::NotFound(what))
}

pub async fn put(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    check_id(&id, "id")?;
    let bytes = read_json_body(&headers, body).await?;
    let spec = RecipientSpec::from_json(&bytes)?;
    let (recipient, created) = app
        .store
        .put_recipient(&account.account_id, &id, &spec, Utc::now())
        .await?;
    if created {
        tracing::info!(account_id = %account.account_id, "recipient created");
    }
    Ok(axum::Json(recipient.view()).into_response())
}

pub async fn get(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "recipient")?;
    let recipient = app
        .store
        .get_recipient(&account.account_id, &id)
        .await?
        .ok_or(Error::NotFound("recipient"))?;
    Ok(axum::Json(recipient.view()).into_response())
}

pub async fn delete(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "recipient")?;
    if !app.store.erase_recipient(&account.account_id, &id).await? {
        return Err(Error::NotFound("recipient"));
    }
    tracing::info!(account_id = %account.account_id, "recipient erased");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn put_preferences(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "recipient")?;
    let bytes = read_json_body(&headers, body).await?;
    let preferences = Preferences::from_json(&bytes)?;
    let recipient = app
        .store
        .set_preferences(&account.account_id, &id, &preferences)
        .await?
        .ok_or(Error::NotFound("recipient"))?;
    Ok(axum::Json(recipient.view()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientPage {
    list: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/recipients?list=&limit=&cursor=`: the account's recipients by
/// id, or one list's members.
pub async fn list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let params: RecipientPage = query_params(raw.as_deref())?;
    let limit = page_limit(params.limit.as_deref())?;
    match params.list {
        Some(list) => {
            check_id(&list, "list")?;
            members_page(&app, &account.account_id, &list, limit, params.cursor).await
        }
        None => {
            let (items, next) = app
                .store
                .list_recipients(&account.account_id, limit, params.cursor.as_deref())
                .await?;
            Ok(page_of(items.iter().map(Recipient::view).collect(), next))
        }
    }
}

async fn members_page(
    app: &Api,
    account_id: &str,
    list_id: &str,
    limit: i32,
    cursor: Option<String>,
) -> Result<Response> {
    if app.store.get_list(account_id, list_id).await?.is_none() {
        return Err(Error::NotFound("list"));
    }
    let limit = usize::try_from(limit).unwrap_or(1);
    let (ids, next) = app
        .store
        .list_member_ids(account_id, list_id, limit, cursor.as_deref())
        .await?;
    let found = app.store.recipients_of(account_id, &ids).await?;
    Ok(page_of(found.iter().map(Recipient::view).collect(), next))
}

pub async fn put_list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    check_id(&id, "id")?;
    let bytes = read_json_body(&headers, body).await?;
    let name = lists::name_from_json(&bytes)?;
    let (list, _) = app
        .store
        .put_list(&account.account_id, &id, &name, Utc::now())
        .await?;
    Ok(axum::Json(list.view()).into_response())
}

pub async fn get_list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "list")?;
    let list = app
        .store
        .get_list(&account.account_id, &id)
        .await?
        .ok_or(Error::NotFound("list"))?;
    Ok(axum::Json(list.view()).into_response())
}

pub async fn lists(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let all = app.store.all_lists(&account.account_id).await?;
    Ok(page_of(all.iter().map(List::view).collect(), None))
}

pub async fn delete_list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "list")?;
    if !app.store.delete_list(&account.account_id, &id).await? {
        return Err(Error::NotFound("list"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/lists/{id}/members`: the whole batch is checked first (a bad
/// row is a `400` naming it, nothing written); each recipient is upserted
/// as by `PUT`, then the new members are added with the list's count.
pub async fn add_members(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "list")?;
    let bytes = read_json_body(&headers, body).await?;
    let rows = lists::members_from_json(&bytes)?;
    let account_id = &account.account_id;
    if app.store.get_list(account_id, &id).await?.is_none() {
        return Err(Error::NotFound("list"));
    }
    app.store
        .put_recipients(account_id, &rows, Utc::now())
        .await?;
    let ids: Vec<String> = rows.into_iter().map(|(rid, _)| rid).collect();
    let added = app.store.add_members(account_id, &id, &ids).await?;
    let list = app
        .store
        .get_list(account_id, &id)
        .await?
        .ok_or(Error::NotFound("list"))?;
    tracing::info!(account_id = %account_id, added, "list members added");
    Ok(axum::Json(json!({
        "added": added,
        "updated": ids.len() - added,
        "member_count": list.member_count,
    }))
    .into_response())
}

pub async fn members(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "list")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<String>,
        cursor: Option<String>,
    }
    let page: Page = query_params(raw.as_deref())?;
    let limit = page_limit(page.limit.as_deref())?;
    members_page(&app, &account.account_id, &id, limit, page.cursor).await
}

pub async fn remove_member(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((id, recipient)): Path<(String, String)>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    path_id(&id, "list")?;
    path_id(&recipient, "member")?;
    if !app
        .store
        .remove_member(&account.account_id, &id, &recipient)
        .await?
    {
        return Err(Error::NotFound("member"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
