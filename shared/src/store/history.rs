//! The notification log as the history reads it: pages by any filter,
//! each served by an index, the timeline's notifications, and the
//! IPN postback's body lookup.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_dynamo::from_items;

use super::{Store, db_err, index_key, s};
use crate::domain::{Channel, Notification, Status};
use crate::error::{Error, Result};

/// A page of the notification log.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub limit: i32,
    pub cursor: Option<String>,
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub session_id: Option<String>,
    pub order_no: Option<String>,
    pub endpoint_id: Option<String>,
    pub event_type: Option<String>,
    pub recipient_id: Option<String>,
    pub campaign_id: Option<String>,
}

impl Store {
    /// Whether INC sent a webhook with exactly this body to this account
    /// (PayPal's IPN postback): a key condition on the sparse index
    /// `ByBodyHash`, scoped to the account.
    pub async fn sent_body(&self, account_id: &str, body: &[u8]) -> Result<bool> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.notifications)
            .index_name("ByBodyHash")
            .key_condition_expression("account_id = :a AND body_sha256 = :h")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(
                ":h",
                s(&crate::domain::endpoints::signing::body_sha256(body)),
            )
            .limit(1)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.count > 0)
    }

    /// The account's notifications, newest first, a page at a time.
    ///
    /// Every filter is served by a key condition: the most selective one
    /// picks the index (see [`LogIndex`]), the time window is a range on
    /// its sort key `notification_id` (a ULID, so it sorts by time), and
    /// only a second filter is left to a filter expression. Pages are read
    /// until `limit` entries match, so a page is short only at the end and
    /// the cursor (the last id returned) never skips or repeats an entry.
    pub async fn list_notifications(
        &self,
        account_id: &str,
        query: &LogQuery,
    ) -> Result<(Vec<Notification>, Option<String>)> {
        let index = LogIndex::pick(account_id, query);
        let lower = query
            .since
            .map_or_else(|| "ntf_".to_owned(), |t| bound(t, false));
        let upper = query
            .until
            .map_or_else(|| "ntf_~".to_owned(), |t| bound(t, true));
        let limit = usize::try_from(query.limit.max(1)).unwrap_or(1);
        let mut start = match &query.cursor {
            Some(cursor) => {
                let last = decode_cursor(cursor)?;
                let mut key = HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("notification_id".to_owned(), s(&last)),
                ]);
                if let Some((attribute, value)) = index.partition() {
                    key.insert(attribute.to_owned(), s(value));
                }
                Some(key)
            }
            None => None,
        };
        let mut found: Vec<Notification> = Vec::new();
        loop {
            let (key_attribute, key_value) =
                index.partition().unwrap_or(("account_id", account_id));
            let mut request = self
                .client
                .query()
                .table_name(&self.tables.notifications)
                .set_index_name(index.name().map(str::to_owned))
                .key_condition_expression("#pk = :pk AND notification_id BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", key_attribute)
                .expression_attribute_values(":pk", s(key_value))
                .expression_attribute_values(":lo", s(&lower))
                .expression_attribute_values(":hi", s(&upper))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(query.limit.max(1));
            let mut filters = Vec::new();
            if let Some(channel) = query.channel.filter(|_| !index.covers_channel()) {
                filters.push("channel = :ch");
                request = request.expression_attribute_values(":ch", s(channel.as_str()));
            }
            if let Some(status) = query.status.filter(|_| !index.covers_status()) {
                filters.push("#st = :st");
                request = request
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":st", s(status.as_str()));
            }
            if let Some(session_id) = query
                .session_id
                .as_ref()
                .filter(|_| !index.covers_session())
            {
                filters.push("session_id = :sid");
                request = request.expression_attribute_values(":sid", s(session_id));
            }
            if let Some(order_no) = query.order_no.as_ref().filter(|_| !index.covers_order()) {
                filters.push("order_no = :ono");
                request = request.expression_attribute_values(":ono", s(order_no));
            }
            if let Some(endpoint_id) = query
                .endpoint_id
                .as_ref()
                .filter(|_| !index.covers_endpoint())
            {
                filters.push("by_endpoint = :bep");
                request = request
                    .expression_attribute_values(":bep", s(&index_key(account_id, endpoint_id)));
            }
            if let Some(recipient_id) = query
                .recipient_id
                .as_ref()
                .filter(|_| !index.covers_recipient())
            {
                filters.push("recipient_id = :rid");
                request = request.expression_attribute_values(":rid", s(recipient_id));
            }
            if let Some(campaign_id) = query
                .campaign_id
                .as_ref()
                .filter(|_| !index.covers_campaign())
            {
                filters.push("campaign_id = :cid");
                request = request.expression_attribute_values(":cid", s(campaign_id));
            }
            if let Some(event_type) = query.event_type.as_ref().filter(|_| !index.covers_type()) {
                filters.push("event_type = :ety");
                request = request.expression_attribute_values(":ety", s(event_type));
            }
            if !filters.is_empty() {
                request = request.filter_expression(filters.join(" AND "));
            }
            let page = request.send().await.map_err(db_err)?;
            found.extend(
                from_items::<_, Notification>(page.items.unwrap_or_default())
                    .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?,
            );
            let more = page.last_evaluated_key.is_some();
            if found.len() >= limit || !more {
                // `more` implies at least `limit` entries were found.
                let next = (found.len() > limit || more)
                    .then(|| found.get(limit - 1))
                    .flatten()
                    .map(|n| URL_SAFE_NO_PAD.encode(&n.notification_id));
                found.truncate(limit);
                return Ok((found, next));
            }
            start = page.last_evaluated_key;
        }
    }

    /// Every notification about one transaction, through the index
    /// `BySession`: a key condition, no scan.
    pub async fn notifications_of_session(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> Result<Vec<Notification>> {
        self.notifications_by(LogIndex::Session(index_key(account_id, session_id)))
            .await
    }

    /// Every notification of an order number, through the index `ByOrder`:
    /// a payment's (when it has one) and the direct messages whose
    /// `reference` it is.
    pub async fn notifications_of_order(
        &self,
        account_id: &str,
        order_no: &str,
    ) -> Result<Vec<Notification>> {
        self.notifications_by(LogIndex::Order(index_key(account_id, order_no)))
            .await
    }

    /// Every notification under one key of a history index.
    async fn notifications_by(&self, index: LogIndex) -> Result<Vec<Notification>> {
        let (Some(name), Some((attribute, value))) = (index.name(), index.partition()) else {
            return Ok(Vec::new());
        };
        let query = self
            .client
            .query()
            .table_name(&self.tables.notifications)
            .index_name(name)
            .key_condition_expression(format!("{attribute} = :k"))
            .expression_attribute_values(":k", s(value));
        self.query_all(query).await
    }
}

/// Which key serves a history query: the most selective filter it has.
/// A session, an order or a recipient holds a handful of notifications, an endpoint or
/// an event type a share of them, a status (`failed` above all) is rarer
/// than a channel, and without any filter the table's own key, the
/// account, serves it.
enum LogIndex {
    Account,
    Session(String),
    Order(String),
    Recipient(String),
    Campaign(String),
    Endpoint(String),
    Type(String),
    Status(String),
    Channel(String),
}

impl LogIndex {
    fn pick(account_id: &str, query: &LogQuery) -> LogIndex {
        let key = |value: &str| index_key(account_id, value);
        if let Some(session_id) = &query.session_id {
            LogIndex::Session(key(session_id))
        } else if let Some(order_no) = &query.order_no {
            LogIndex::Order(key(order_no))
        } else if let Some(recipient_id) = &query.recipient_id {
            LogIndex::Recipient(key(recipient_id))
        } else if let Some(campaign_id) = &query.campaign_id {
            LogIndex::Campaign(key(campaign_id))
        } else if let Some(endpoint_id) = &query.endpoint_id {
            LogIndex::Endpoint(key(endpoint_id))
        } else if let Some(event_type) = &query.event_type {
            LogIndex::Type(key(event_type))
        } else if let Some(status) = query.status {
            LogIndex::Status(key(status.as_str()))
        } else if let Some(channel) = query.channel {
            LogIndex::Channel(key(channel.as_str()))
        } else {
            LogIndex::Account
        }
    }

    fn name(&self) -> Option<&'static str> {
        match self {
            LogIndex::Account => None,
            LogIndex::Session(_) => Some("BySession"),
            LogIndex::Order(_) => Some("ByOrder"),
            LogIndex::Recipient(_) => Some("ByRecipient"),
            LogIndex::Campaign(_) => Some("ByCampaign"),
            LogIndex::Endpoint(_) => Some("ByEndpoint"),
            LogIndex::Type(_) => Some("ByType"),
            LogIndex::Status(_) => Some("ByStatus"),
            LogIndex::Channel(_) => Some("ByChannel"),
        }
    }

    /// The index's partition key attribute and the value queried.
    fn partition(&self) -> Option<(&'static str, &str)> {
        match self {
            LogIndex::Account => None,
            LogIndex::Session(v) => Some(("by_session", v)),
            LogIndex::Order(v) => Some(("by_order", v)),
            LogIndex::Recipient(v) => Some(("by_recipient", v)),
            LogIndex::Campaign(v) => Some(("by_campaign", v)),
            LogIndex::Endpoint(v) => Some(("by_endpoint", v)),
            LogIndex::Type(v) => Some(("by_type", v)),
            LogIndex::Status(v) => Some(("by_status", v)),
            LogIndex::Channel(v) => Some(("by_channel", v)),
        }
    }

    fn covers_session(&self) -> bool {
        matches!(self, LogIndex::Session(_))
    }
    fn covers_order(&self) -> bool {
        matches!(self, LogIndex::Order(_))
    }
    fn covers_recipient(&self) -> bool {
        matches!(self, LogIndex::Recipient(_))
    }
    fn covers_campaign(&self) -> bool {
        matches!(self, LogIndex::Campaign(_))
    }
    fn covers_endpoint(&self) -> bool {
        matches!(self, LogIndex::Endpoint(_))
    }
    fn covers_type(&self) -> bool {
        matches!(self, LogIndex::Type(_))
    }
    fn covers_status(&self) -> bool {
        matches!(self, LogIndex::Status(_))
    }
    fn covers_channel(&self) -> bool {
        matches!(self, LogIndex::Channel(_))
    }
}

fn bound(t: DateTime<Utc>, upper: bool) -> String {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    let random = if upper { u128::MAX } else { 0 };
    format!("ntf_{}", ulid::Ulid::from_parts(ms, random))
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| id.starts_with("ntf_") && id.len() <= 64)
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}

/// What [`Store::backfill_history_keys`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    pub scanned: usize,
    pub updated: usize,
}

impl Store {
    /// The one-off upgrade for notifications stored before endpoints and
    /// event types existed: gives each its `by_type` key and, for a webhook,
    /// its endpoint (`ep_default`) and `by_endpoint` key, so the history's
    /// `event_type` and `endpoint_id` filters find it. Reads only what lacks
    /// `by_type`, writes each conditionally: safe to run twice, and beside
    /// live traffic.
    pub async fn backfill_history_keys(&self) -> Result<Backfill> {
        use crate::domain::DEFAULT_ENDPOINT_ID;
        let mut done = Backfill::default();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.notifications)
                .filter_expression("attribute_not_exists(by_type)")
                .projection_expression("account_id, notification_id, event_type, payload.#k")
                .expression_attribute_names("#k", "kind")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(db_err)?;
            done.scanned += page.items.as_ref().map_or(0, Vec::len);
            for item in page.items.unwrap_or_default() {
                let text = |name: &str| match item.get(name) {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => Some(v.clone()),
                    _ => None,
                };
                let (Some(account_id), Some(id), Some(event_type)) = (
                    text("account_id"),
                    text("notification_id"),
                    text("event_type"),
                ) else {
                    continue;
                };
                let webhook = matches!(
                    item.get("payload").and_then(|p| p.as_m().ok()).and_then(|m| m.get("kind")),
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(k)) if k == "webhook"
                );
                let mut request = self
                    .client
                    .update_item()
                    .table_name(&self.tables.notifications)
                    .key("account_id", s(&account_id))
                    .key("notification_id", s(&id))
                    .condition_expression(
                        "attribute_exists(notification_id) AND attribute_not_exists(by_type)",
                    )
                    .expression_attribute_values(":t", s(&index_key(&account_id, &event_type)));
                request = match webhook {
                    true => request
                        .update_expression(
                            "SET by_type = :t, by_endpoint = :be, \
                             endpoint_id = if_not_exists(endpoint_id, :e)",
                        )
                        .expression_attribute_values(
                            ":be",
                            s(&index_key(&account_id, DEFAULT_ENDPOINT_ID)),
                        )
                        .expression_attribute_values(":e", s(DEFAULT_ENDPOINT_ID)),
                    false => request.update_expression("SET by_type = :t"),
                };
                if super::applied(request.send().await)? {
                    done.updated += 1;
                }
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(done),
            }
        }
    }
}
