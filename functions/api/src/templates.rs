//! `/v1/templates`: the account's message templates per channel, name and
//! language (contract section 9), and their preview with sample data.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::CustomerChannel;
use inc_shared::domain::messages::templates::{
    Template, is_valid_language, is_valid_name, key, languages_from_json,
};
use inc_shared::{Error, Result};

use crate::{Api, ChannelPage, page_of};

/// The channel and name of a path, or `404`: a path that names no
/// template names none.
fn named(channel: &str, name: &str) -> Result<CustomerChannel> {
    let channel = CustomerChannel::any_from_field("channel", channel)
        .map_err(|_| Error::NotFound("template"))?;
    if !is_valid_name(name) {
        return Err(Error::NotFound("template"));
    }
    Ok(channel)
}

/// The account's template `name` on `channel`, or `404`.
async fn find(
    app: &Api,
    account_id: &str,
    channel: CustomerChannel,
    name: &str,
) -> Result<Template> {
    app.store
        .get_template(account_id, channel, name)
        .await?
        .ok_or(Error::NotFound("template"))
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
        .list_templates(&account.account_id, page.channel, page.limit, page.cursor)
        .await?;
    Ok(page_of(
        items.iter().map(Template::view).collect(),
        next_cursor,
    ))
}

pub async fn get(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((channel, name)): Path<(String, String)>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let channel = named(&channel, &name)?;
    let template = find(&app, &account.account_id, channel, &name).await?;
    Ok(axum::Json(template.view()).into_response())
}

pub async fn put(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((channel, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let channel = CustomerChannel::any_from_field("channel", &channel)?;
    if !is_valid_name(&name) {
        return Err(Error::bad_request(
            "invalid_field",
            "name: 1 to 64 of a-z, 0-9, _ . -, starting with a letter or digit",
            Some("name"),
        ));
    }
    let bytes = read_json_body(&headers, body).await?;
    let languages = languages_from_json(channel, &bytes)?;
    let now = Utc::now();
    let stored = app
        .store
        .put_template(&Template {
            account_id: account.account_id.clone(),
            template_key: key(channel, &name),
            channel,
            name: name.clone(),
            languages,
            created_at: now,
            updated_at: now,
        })
        .await?;
    tracing::info!(account_id = %account.account_id, channel = channel.as_str(), template = %name, "template saved");
    Ok(axum::Json(stored.view()).into_response())
}

pub async fn delete(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((channel, name)): Path<(String, String)>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let channel = named(&channel, &name)?;
    if !app
        .store
        .delete_template(&account.account_id, channel, &name)
        .await?
    {
        return Err(Error::NotFound("template"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"language"?, "data"}`: what the template says with this data.
pub async fn preview(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path((channel, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let channel = named(&channel, &name)?;
    let bytes = read_json_body(&headers, body).await?;
    let mut top = inc_shared::domain::json_object(&bytes)?;
    if let Some(key) = top
        .keys()
        .find(|k| !matches!(k.as_str(), "language" | "data"))
    {
        return Err(Error::bad_request(
            "unknown_field",
            format!("unknown field `{key}`; expected `language` and `data`"),
            Some(key),
        ));
    }
    let language = match top.remove("language") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if is_valid_language(&l) => Some(l),
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_field",
                "language: a language tag such as en, ar or pt-BR",
                Some("language"),
            ));
        }
    };
    let data = match top.remove("data") {
        None | Some(Value::Null) => json!({}),
        Some(data @ Value::Object(_)) => data,
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_field",
                "data: must be an object",
                Some("data"),
            ));
        }
    };
    let template = find(&app, &account.account_id, channel, &name).await?;
    let rendered = template.render(language.as_deref(), &data)?;
    Ok(axum::Json(rendered).into_response())
}
