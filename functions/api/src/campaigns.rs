//! `/v1/campaigns` (contract section 13): a campaign is checked whole at
//! acceptance — its list and template exist, and the template renders
//! with the campaign's data for a member of the list (a variable neither
//! has is a `422` naming it, rather than a million failed messages) — then
//! stored under its id and, when due now, started (`inc_campaigns`).
//! Another account's campaigns answer `404`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use inc_campaigns::start::Created;
use inc_shared::api::{authenticate, read_json_body};
use inc_shared::domain::campaigns::campaign::{Campaign, CampaignRequest, Control};
use inc_shared::domain::campaigns::member::template_data;
use inc_shared::domain::campaigns::replies::Reply;
use inc_shared::domain::recipients::lists::SHARDS;
use inc_shared::domain::recipients::recipient::check_id;
use inc_shared::{Error, Result};

use crate::{Api, page_limit, page_of, query_params};

/// `id` from a path, or `404` when it names no campaign at all.
fn path_id(id: &str) -> Result<()> {
    check_id(id, "id").map_err(|_| Error::NotFound("campaign"))
}

pub async fn create(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_json_body(&headers, body).await?;
    let now = Utc::now();
    let request = CampaignRequest::from_json(&bytes, now)?;
    let account_id = account.account_id.as_str();
    // A retry needs no checks: answer it from what is stored.
    if let Some(existing) = app.store.get_campaign(account_id, &request.id).await? {
        return replay(&app, existing, &request).await;
    }
    check(&app, account_id, &request).await?;
    let (status, campaign) = match app.campaigns.create(account_id, &request, now).await? {
        Created::New(c) => (StatusCode::ACCEPTED, c),
        Created::Again(c) => (StatusCode::OK, c),
    };
    tracing::info!(account_id, campaign_id = %campaign.campaign_id, status = campaign.status.as_str(), "campaign accepted");
    Ok((
        status,
        axum::Json(json!({"id": campaign.campaign_id, "status": campaign.status})),
    )
        .into_response())
}

async fn replay(app: &Api, existing: Campaign, request: &CampaignRequest) -> Result<Response> {
    let created = app
        .campaigns
        .create(&existing.account_id, request, Utc::now())
        .await?;
    let campaign = match created {
        Created::New(c) | Created::Again(c) => c,
    };
    Ok(axum::Json(json!({"id": campaign.campaign_id, "status": campaign.status})).into_response())
}

/// The list and template exist, and the template renders for a member.
async fn check(app: &Api, account_id: &str, request: &CampaignRequest) -> Result<()> {
    if app
        .store
        .get_list(account_id, &request.list)
        .await?
        .is_none()
    {
        return Err(Error::unprocessable(
            "list_not_found",
            format!(
                "list: there is no list `{}`; create it with PUT /v1/lists/{}",
                request.list, request.list
            ),
            Some("list"),
        ));
    }
    let template = app
        .store
        .get_template(account_id, request.channel, &request.template)
        .await?
        .ok_or_else(|| {
            Error::unprocessable(
                "template_not_found",
                format!(
                    "template: there is no {} template `{}`; create it with PUT /v1/templates/{}/{}",
                    request.channel.as_str(),
                    request.template,
                    request.channel.as_str(),
                    request.template
                ),
                Some("template"),
            )
        })?;
    let Some(member) = first_member(app, account_id, &request.list).await? else {
        return Ok(());
    };
    let probe = Campaign::create(account_id, request, Utc::now());
    let data = template_data(&probe, &member.template_value());
    for language in template.languages.keys() {
        template.render(Some(language), &data).map_err(|e| {
            // A field of the campaign's `data` is named as the request's; a
            // member's (`recipient.…`) through the template that uses it.
            let field = match e.field() {
                Some(f) if !f.starts_with("data.recipient") => f.to_owned(),
                _ => "template".to_owned(),
            };
            Error::unprocessable(
                "template_error",
                format!(
                    "{e} (checked with the list's member `{}`)",
                    member.recipient_id
                ),
                Some(&field),
            )
        })?;
    }
    Ok(())
}

/// A member of the list, to check the template with: the first found.
async fn first_member(
    app: &Api,
    account_id: &str,
    list_id: &str,
) -> Result<Option<inc_shared::domain::recipients::recipient::Recipient>> {
    for shard in 0..SHARDS {
        let (ids, _) = app
            .store
            .shard_page(account_id, list_id, shard, None, 1)
            .await?;
        if let Some(found) = app
            .store
            .recipients_of(account_id, &ids)
            .await?
            .into_iter()
            .next()
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// A campaign with its current run's counts.
async fn view(app: &Api, campaign: &Campaign) -> Result<Value> {
    let run = match campaign.run {
        0 => None,
        run => {
            app.store
                .get_run(&campaign.account_id, &campaign.campaign_id, run)
                .await?
        }
    };
    Ok(campaign.view(run.as_ref()))
}

async fn find(app: &Api, account_id: &str, id: &str) -> Result<Campaign> {
    path_id(id)?;
    app.store
        .get_campaign(account_id, id)
        .await?
        .ok_or(Error::NotFound("campaign"))
}

pub async fn get(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let campaign = find(&app, &account.account_id, &id).await?;
    Ok(axum::Json(view(&app, &campaign).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let page: Page = query_params(raw.as_deref())?;
    let limit = page_limit(page.limit.as_deref())?;
    let (campaigns, next) = app
        .store
        .list_campaigns(&account.account_id, limit, page.cursor.as_deref())
        .await?;
    let items: Vec<Value> = stream::iter(campaigns.into_iter().map(|c| {
        let app = app.clone();
        async move { view(&app, &c).await }
    }))
    .buffered(8)
    .try_collect()
    .await?;
    Ok(page_of(items, next))
}

async fn control(
    app: Arc<Api>,
    headers: HeaderMap,
    id: String,
    control: Control,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    find(&app, &account.account_id, &id).await?;
    let campaign = app
        .campaigns
        .control(&account.account_id, &id, control)
        .await?;
    Ok(axum::Json(view(&app, &campaign).await?).into_response())
}

pub async fn pause(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    control(app, headers, id, Control::Pause).await
}

pub async fn resume(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    control(app, headers, id, Control::Resume).await
}

pub async fn cancel(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    control(app, headers, id, Control::Cancel).await
}

pub async fn runs(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let campaign = find(&app, &account.account_id, &id).await?;
    let runs = app
        .store
        .list_runs(&account.account_id, &campaign.campaign_id)
        .await?;
    Ok(page_of(runs.iter().map(|r| r.view()).collect(), None))
}

pub async fn replies(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let campaign = find(&app, &account.account_id, &id).await?;
    let page: Page = query_params(raw.as_deref())?;
    let limit = page_limit(page.limit.as_deref())?;
    let (replies, next) = app
        .store
        .list_replies(
            &account.account_id,
            &campaign.campaign_id,
            limit,
            page.cursor.as_deref(),
        )
        .await?;
    Ok(page_of(replies.iter().map(Reply::view).collect(), next))
}
