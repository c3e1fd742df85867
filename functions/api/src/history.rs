//! The history (contract 3): `GET /v1/notifications` with its filters,
//! as JSON pages or Genio's log lines, and one notification with its
//! attempts.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use inc_shared::api::authenticate;
use inc_shared::domain::{Channel, Notification, Payload, Status};
use inc_shared::store::LogQuery;
use inc_shared::{Error, Result};

use crate::{Api, invalid, page_limit};

/// The query string of `GET /v1/notifications`; unknown parameters are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    limit: Option<String>,
    cursor: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
    session_id: Option<String>,
    order_no: Option<String>,
    endpoint_id: Option<String>,
    event_type: Option<String>,
    recipient_id: Option<String>,
    campaign_id: Option<String>,
}

fn time_param(field: &'static str, value: Option<String>) -> Result<Option<DateTime<Utc>>> {
    value
        .map(|v| inc_shared::domain::parse_time("invalid_parameter", field, &v))
        .transpose()
}

impl HistoryParams {
    fn parse(raw: Option<&str>) -> Result<HistoryParams> {
        serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|e| {
            let message = e.to_string();
            let field = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_owned);
            Error::bad_request("invalid_parameter", message, field.as_deref())
        })
    }

    fn query(self) -> Result<LogQuery> {
        let limit = page_limit(self.limit.as_deref())?;
        let channel = self
            .channel
            .map(|c| {
                Channel::parse(&c).ok_or_else(|| invalid("channel", "must be one of: webhook"))
            })
            .transpose()?;
        let status = self
            .status
            .map(|s| {
                Status::parse(&s).ok_or_else(|| {
                    invalid(
                        "status",
                        "must be one of: queued, retrying, delivered, failed",
                    )
                })
            })
            .transpose()?;
        if self
            .endpoint_id
            .as_ref()
            .is_some_and(|e| !e.starts_with("ep_") || e.len() > 64)
        {
            return Err(invalid("endpoint_id", "must be an endpoint id (ep_…)"));
        }
        if self
            .event_type
            .as_ref()
            .is_some_and(|t| !inc_shared::domain::events::catalog::is_valid_name(t))
        {
            return Err(invalid(
                "event_type",
                "must be an event type such as order.completed",
            ));
        }
        if let Some(id) = &self.recipient_id {
            inc_shared::domain::recipients::recipient::check_id(id, "recipient_id")?;
        }
        if let Some(id) = &self.campaign_id {
            inc_shared::domain::recipients::recipient::check_id(id, "campaign_id")?;
        }
        for (field, value) in [
            ("session_id", &self.session_id),
            ("order_no", &self.order_no),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.chars().count() > 128)
            {
                return Err(invalid(field, "must be 1 to 128 characters"));
            }
        }
        Ok(LogQuery {
            session_id: self.session_id,
            order_no: self.order_no,
            endpoint_id: self.endpoint_id,
            event_type: self.event_type,
            recipient_id: self.recipient_id,
            campaign_id: self.campaign_id,
            limit,
            cursor: self.cursor,
            channel,
            status,
            since: time_param("since", self.since)?,
            until: time_param("until", self.until)?,
        })
    }
}

/// A notification as the history shows it.
pub(crate) fn view(n: Notification) -> Value {
    json!({
        "id": n.notification_id,
        "event_id": n.event_id,
        "event_type": n.event_type,
        "channel": n.channel,
        "endpoint_id": n.endpoint(),
        "status": n.status,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "next_attempt_at": n.next_attempt_at,
        "last_error": n.last_error,
        "session_id": n.session_id,
        "order_no": n.order_no,
        "reference": n.reference,
        "recipient_id": n.recipient_id,
        "campaign_id": n.campaign_id,
        "run": n.run,
        "receipt": n.receipt,
        "fallback": n.fallback,
        "fallback_of": n.fallback_of,
        "request": match &n.payload {
            Payload::Webhook(w) => json!({ "content_type": w.content_type, "body": w.body }),
            // A device's token is a credential of sorts: shown masked.
            Payload::Push { to, .. } => {
                let mut shown = serde_json::to_value(&n.payload).unwrap_or_default();
                shown["to"] = json!(inc_shared::domain::apps::devices::mask_address(to));
                shown
            }
            other => serde_json::to_value(other).unwrap_or_default(),
        },
        "attempts": n.attempts,
    })
}

fn wants_text(headers: &HeaderMap, format: Option<&str>) -> Result<bool> {
    match format {
        Some("text") => return Ok(true),
        Some("json") => return Ok(false),
        Some(_) => return Err(invalid("format", "must be text or json")),
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(accept
        .split(',')
        .any(|t| t.trim().starts_with("text/plain")))
}

pub(crate) async fn list_notifications(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    let params = HistoryParams::parse(raw.as_deref())?;
    let text = wants_text(&headers, params.format.as_deref())?;
    let query = params.query()?;
    let (items, next_cursor) = app
        .store
        .list_notifications(&account.account_id, &query)
        .await?;
    if text {
        let mut out = String::new();
        for line in items.iter().filter_map(Notification::genio_log_line) {
            out.push_str(&line);
            out.push('\n');
        }
        let mut response = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            out,
        )
            .into_response();
        if let Some(cursor) = next_cursor.and_then(|c| c.parse().ok()) {
            response.headers_mut().insert("inc-next-cursor", cursor);
        }
        return Ok(response);
    }
    let items: Vec<Value> = items.into_iter().map(view).collect();
    Ok(axum::Json(json!({ "items": items, "next_cursor": next_cursor })).into_response())
}

pub(crate) async fn get_notification(
    State(app): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = authenticate(&app.store, &headers).await?;
    if id.len() > 64 {
        return Err(Error::NotFound("notification"));
    }
    let n = app
        .store
        .get_notification(&account.account_id, &id)
        .await?
        .ok_or(Error::NotFound("notification"))?;
    Ok(axum::Json(view(n)).into_response())
}
