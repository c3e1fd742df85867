//! The control panel's API: health, settings (Genio's INC switches and the
//! endpoint), the signing secret, and the notification history.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use inc_shared::api::{authenticate, not_found, read_body, read_json_body};
use inc_shared::domain::payments::timeline::timeline;
use inc_shared::domain::{EndpointPolicy, Notification, SettingsPatch, Transaction};
use inc_shared::queue::Queue;
use inc_shared::store::Store;
use inc_shared::{Config, Error, Result};

mod apps;
mod campaigns;
mod endpoint_stats;
mod endpoints;
mod event_types;
mod history;
mod panel;
mod receipts;
mod recipients;
mod suppressions;
mod templates;
mod transformations;

/// Most notifications one page of the history returns.
pub const MAX_PAGE: i32 = 100;
const DEFAULT_PAGE: i32 = 50;

pub struct Api {
    store: Store,
    /// Campaigns' starts and controls, and the replies to their messages.
    campaigns: inc_campaigns::Campaigns,
    policy: EndpointPolicy,
    /// Where a receipt's SMS fallback is queued (contract section 10).
    queue: Queue,
    queue_url: String,
    /// Frames to the in-app feed's sockets (a read, contract 14).
    realtime: inc_shared::realtime::Realtime,
    /// Where apps open those sockets: what the feed demo page connects to.
    feed_socket_url: Option<String>,
}

impl Api {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Api> {
        // One DynamoDB and one SQS client, shared with the campaigns it runs.
        let store = Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config);
        let queue = Queue::new(aws_sdk_sqs::Client::new(sdk));
        Ok(Api {
            store: store.clone(),
            campaigns: inc_campaigns::Campaigns::with(store.clone(), queue.clone(), config)?,
            policy: config.endpoint_policy,
            queue: queue.clone(),
            queue_url: config.delivery_queue_url.clone().unwrap_or_default(),
            realtime: inc_shared::realtime::Realtime::new(
                sdk,
                config.websocket_management_url.as_deref(),
            ),
            feed_socket_url: config.websocket_url.clone(),
        })
    }
}

pub fn router(app: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/settings", get(get_settings).patch(patch_settings))
        .route("/v1/settings/secret", get(get_secret))
        .route("/v1/settings/secret/rotate", post(rotate_secret))
        .route(
            "/v1/endpoints",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/v1/endpoints/{id}",
            get(endpoints::get)
                .patch(endpoints::patch)
                .delete(endpoints::delete),
        )
        .route("/v1/endpoints/{id}/secret", get(endpoints::secret))
        .route("/v1/endpoints/{id}/secret/rotate", post(endpoints::rotate))
        .route("/v1/endpoints/{id}/stats", get(endpoint_stats::stats))
        .route(
            "/v1/endpoints/{id}/transformation/test",
            post(transformations::test),
        )
        .route("/v1/event-types", get(event_types::list))
        .route(
            "/v1/event-types/{type}",
            get(event_types::get)
                .put(event_types::put)
                .delete(event_types::delete),
        )
        .route("/v1/templates", get(templates::list))
        .route(
            "/v1/templates/{channel}/{name}",
            get(templates::get)
                .put(templates::put)
                .delete(templates::delete),
        )
        .route(
            "/v1/templates/{channel}/{name}/preview",
            post(templates::preview),
        )
        .route(
            "/v1/suppressions",
            get(suppressions::list).post(suppressions::add),
        )
        .route(
            "/v1/suppressions/{channel}/{to}",
            axum::routing::delete(suppressions::remove),
        )
        .route("/v1/recipients", get(recipients::list))
        .route(
            "/v1/recipients/{id}",
            get(recipients::get)
                .put(recipients::put)
                .delete(recipients::delete),
        )
        .route(
            "/v1/recipients/{id}/preferences",
            axum::routing::put(recipients::put_preferences),
        )
        .route(
            "/v1/recipients/{id}/devices",
            get(apps::list_devices).post(apps::add_device),
        )
        .route(
            "/v1/recipients/{id}/devices/{token}",
            axum::routing::delete(apps::delete_device),
        )
        .route("/v1/recipients/{id}/token", post(apps::issue_token))
        .route("/v1/recipients/{id}/feed", get(apps::recipient_feed))
        .route("/v1/feed", get(apps::my_feed))
        .route("/v1/feed/read-all", post(apps::read_all))
        .route("/v1/feed/{item}/read", post(apps::read_item))
        .route("/v1/lists", get(recipients::lists))
        .route(
            "/v1/lists/{id}",
            get(recipients::get_list)
                .put(recipients::put_list)
                .delete(recipients::delete_list),
        )
        .route(
            "/v1/lists/{id}/members",
            get(recipients::members).post(recipients::add_members),
        )
        .route(
            "/v1/lists/{id}/members/{recipient}",
            axum::routing::delete(recipients::remove_member),
        )
        .route(
            "/v1/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route("/v1/campaigns/{id}", get(campaigns::get))
        .route("/v1/campaigns/{id}/pause", post(campaigns::pause))
        .route("/v1/campaigns/{id}/resume", post(campaigns::resume))
        .route("/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/v1/campaigns/{id}/runs", get(campaigns::runs))
        .route("/v1/campaigns/{id}/replies", get(campaigns::replies))
        .route("/v1/receipts/sms/{token}", post(receipts::sms))
        .route(
            "/v1/receipts/whatsapp/{token}",
            get(receipts::whatsapp_verify).post(receipts::whatsapp),
        )
        .route("/v1/notifications", get(history::list_notifications))
        .route("/v1/notifications/{id}", get(history::get_notification))
        .route("/v1/ipn/verify", post(verify_ipn))
        .route("/v1/transactions", get(find_transaction))
        .route("/v1/transactions/{session_id}", get(get_transaction))
        .route("/panel", get(panel::index))
        .route("/panel/feed-demo", get(panel::feed_demo))
        .route("/panel/{asset}", get(panel::asset))
        .fallback(not_found)
        .with_state(app)
}

async fn health(State(app): State<Arc<Api>>) -> Result<Response> {
    app.store.ping().await?;
    Ok(axum::Json(json!({ "status": "ok" })).into_response())
}

async fn get_settings(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let token = app.store.receipt_token(&account).await?;
    settings_view(&headers, &account.settings, &token)
}

/// The settings as the API shows them: secrets masked, and the account's
/// receipt URLs (contract section 10) beside them.
fn settings_view(
    headers: &HeaderMap,
    settings: &inc_shared::domain::Settings,
    token: &str,
) -> Result<Response> {
    let mut view = serde_json::to_value(settings.masked()).map_err(Error::dependency)?;
    view["receipt_urls"] = receipts::urls(headers, token);
    Ok(axum::Json(view).into_response())
}

/// How many times a settings patch is re-applied over a concurrent one
/// before answering 503.
const MAX_SETTINGS_TRIES: u32 = 10;

async fn patch_settings(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let bytes = read_json_body(&headers, body).await?;
    let patch = SettingsPatch::from_json(&bytes)?;
    let mut account = account;
    let mut tries = 0;
    let settings = loop {
        let settings = patch.clone().apply(account.settings.clone(), &app.policy)?;
        if app.store.put_settings(&account, &settings).await? {
            break settings;
        }
        // Another patch landed first: apply this one over it.
        tries += 1;
        if tries >= MAX_SETTINGS_TRIES {
            return Err(Error::Dependency(
                "too many concurrent changes of these settings; retry shortly".into(),
            ));
        }
        account = app
            .store
            .get_account(&account.account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
    };
    tracing::info!(account_id = %account.account_id, "settings changed");
    let token = app.store.receipt_token(&account).await?;
    settings_view(&headers, &settings, &token)
}

async fn get_secret(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    Ok(axum::Json(json!({ "secret": account.signing_secret })).into_response())
}

async fn rotate_secret(State(app): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let secret = app.store.rotate_secret(&account, Utc::now()).await?;
    tracing::info!(account_id = %account.account_id, "signing secret rotated");
    Ok(axum::Json(json!({ "secret": secret })).into_response())
}

/// PayPal's IPN postback for receivers that cannot check an HMAC: the body
/// they received, posted back byte for byte, answers `VERIFIED` if INC sent
/// exactly that body to the caller's account, else `INVALID` — both `200`,
/// as PayPal does.
async fn verify_ipn(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let body = read_body(body).await?;
    if body.is_empty() {
        return Err(Error::bad_request(
            "empty_body",
            "post back the exact body of the IPN you received",
            None,
        ));
    }
    let verdict = match app.store.sent_body(&account.account_id, &body).await? {
        true => "VERIFIED",
        false => "INVALID",
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        verdict,
    )
        .into_response())
}

/// One order's timeline: the transaction, then its state changes and every
/// notification on every channel with each attempt, oldest first.
async fn get_transaction(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let transaction = match session_id.chars().count() <= 128 {
        true => {
            app.store
                .get_transaction(&account.account_id, &session_id)
                .await?
        }
        false => None,
    };
    timeline_of(&app, transaction).await
}

/// `GET /v1/transactions?order_no=…`: the same, found by order number.
async fn find_transaction(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        order_no: String,
    }
    let params: Params = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| invalid("order_no", &format!("required, and nothing else: {e}")))?;
    if params.order_no.is_empty() || params.order_no.chars().count() > 128 {
        return Err(invalid("order_no", "1 to 128 characters"));
    }
    // The payment, and the direct messages whose reference is this order
    // number (section 9), side by side.
    let (transaction, messages) = tokio::try_join!(
        app.store
            .find_transaction_by_order(&account.account_id, &params.order_no),
        app.store
            .notifications_of_order(&account.account_id, &params.order_no),
    )?;
    let messages = messages
        .into_iter()
        .filter(|n| n.reference.is_some())
        .collect();
    order_timeline(&app, transaction, messages).await
}

async fn timeline_of(app: &Api, transaction: Option<Transaction>) -> Result<Response> {
    let messages = match &transaction {
        Some(t) => match &t.order_no {
            Some(order_no) => app
                .store
                .notifications_of_order(&t.account_id, order_no)
                .await?
                .into_iter()
                .filter(|n| n.reference.is_some())
                .collect(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    order_timeline(app, transaction, messages).await
}

/// The timeline of a payment and of the direct messages about its order;
/// `404` when there is neither.
async fn order_timeline(
    app: &Api,
    transaction: Option<Transaction>,
    messages: Vec<Notification>,
) -> Result<Response> {
    let mut notifications = match &transaction {
        Some(t) => {
            app.store
                .notifications_of_session(&t.account_id, &t.session_id)
                .await?
        }
        None if messages.is_empty() => return Err(Error::NotFound("transaction")),
        None => Vec::new(),
    };
    notifications.extend(messages);
    notifications.sort_by(|a, b| a.notification_id.cmp(&b.notification_id));
    let entries = timeline(transaction.as_ref(), &notifications);
    Ok(axum::Json(json!({
        "transaction": transaction.map(|t| json!({
            "session_id": t.session_id,
            "order_no": t.order_no,
            "state": t.state,
            "sequence": t.history.len(),
            "amount": t.amount,
            "currency_code": t.currency_code,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
        })),
        "timeline": entries,
        "notifications": notifications.into_iter().map(history::view).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// A page's `limit` parameter: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] if absent.
pub(crate) fn page_limit(raw: Option<&str>) -> Result<i32> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| invalid("limit", "must be a whole number from 1 to 100")),
    }
}

/// The query of a listing by channel (templates, opt-outs): `channel`,
/// `limit` and `cursor`, checked.
pub(crate) struct ChannelPage {
    pub channel: Option<inc_shared::domain::CustomerChannel>,
    pub limit: i32,
    pub cursor: Option<String>,
}

impl ChannelPage {
    pub(crate) fn parse(raw: Option<&str>) -> Result<ChannelPage> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            channel: Option<String>,
            limit: Option<String>,
            cursor: Option<String>,
        }
        let params: Params = query_params(raw)?;
        Ok(ChannelPage {
            channel: params
                .channel
                .as_deref()
                .map(|c| inc_shared::domain::CustomerChannel::any_from_field("channel", c))
                .transpose()?,
            limit: page_limit(params.limit.as_deref())?,
            cursor: params.cursor,
        })
    }
}

/// `{"items", "next_cursor"}`: one page of a listing.
pub(crate) fn page_of(items: Vec<Value>, next_cursor: Option<String>) -> Response {
    axum::Json(json!({ "items": items, "next_cursor": next_cursor })).into_response()
}

/// A route's query string as `T`, or a `400` saying what is wrong with it.
pub(crate) fn query_params<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| Error::bad_request("invalid_parameter", e.to_string(), None))
}

pub(crate) fn invalid(field: &'static str, why: &str) -> Error {
    Error::bad_request("invalid_parameter", format!("{field}: {why}"), Some(field))
}
