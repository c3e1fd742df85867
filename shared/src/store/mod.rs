//! The DynamoDB adapter, one module per concern:
//!
//! - [`accounts`]: accounts, API keys, settings and the signing secret;
//! - [`endpoints`]: an account's webhook endpoints, counted on the account;
//! - [`event_types`]: the catalog of declared event types;
//! - [`events`]: event claims (idempotency), written with what the event
//!   causes and the transaction it changes, in one transaction;
//! - [`notifications`]: the notification log and its lease, staged writes
//!   and their undo, the dead-letter flag;
//! - [`deferrals`]: a pending notification made to wait (quiet hours);
//! - [`fallbacks`]: a failed WhatsApp message's SMS, written once;
//! - [`batch`]: a deliver batch's notifications and accounts in one read;
//! - [`history`]: pages of the log through its indexes;
//! - [`receipts`]: providers' receipts on the messages they report;
//! - [`messages`]: direct messages by id, claimed with their notification,
//!   and their cancel;
//! - [`transactions`]: payments as ingest keeps them;
//! - [`suppressions`]: the opt-out list;
//! - [`recipients`]: recipients and their preferences, and their erasure;
//! - [`lists`]: lists and their members, sharded, counted exactly;
//! - [`campaigns`], [`campaign_runs`]: campaigns, their runs, fan-out
//!   shards and sharded counters; [`replies`]: replies to their messages;
//! - [`devices`], [`feed`], [`connections`]: a recipient's devices, its
//!   in-app feed with its exact unread count, its open feed sockets;
//! - [`sweep`]: the due index the sweeper reads;
//! - [`templates`]: message templates;
//! - `conflicts`: a transaction another one held an item of, tried again
//!   a bounded number of times (every write of a shared count uses it).
//!
//! Every read and write names the account in its key, so one account can
//! never reach another's items.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_dynamo::{from_item, to_attribute_value, to_item};

use crate::config::Tables;
use crate::error::{Error, Result};

pub mod account_cache;
pub mod accounts;
pub mod batch;
pub mod campaign_runs;
pub mod campaigns;
mod conflicts;
pub mod connections;
pub mod deferrals;
pub mod devices;
pub mod endpoint_health;
pub mod endpoint_stats;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod fallbacks;
pub mod feed;
pub mod history;
pub mod key_cache;
pub mod lists;
pub mod messages;
pub mod notifications;
pub mod receipts;
pub mod recipients;
pub mod replies;
pub mod routes_cache;
pub mod staging;
pub mod suppressions;
pub mod sweep;
pub mod templates;
pub mod transactions;

pub use account_cache::AccountCache;
pub use accounts::{Account, KeyInfo};
pub use batch::BatchRead;
pub use events::{Claim, EVENT_RETENTION, EventRecord, EventStatus};
pub use history::{Backfill, LogQuery};
pub use messages::MessageClaim;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
    /// The sweeper's clocks (see `domain::delivery::outbox`): the grace past a due
    /// time before a message counts as lost, and a schedule's lead.
    timing: crate::domain::delivery::outbox::Timing,
    /// The account of each API key this instance has authenticated.
    keys: std::sync::Arc<key_cache::KeyCache>,
    /// The routes of each account this instance has sent events for.
    routes: std::sync::Arc<routes_cache::RoutesCache>,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A DynamoDB failure, with the SDK's whole chain of causes.
fn db_err<E: std::error::Error + 'static>(e: E) -> Error {
    Error::dependency(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

/// Whether a conditional write was applied: `false` when its condition
/// did not hold, an error for anything else.
fn applied<O, E>(
    result: std::result::Result<
        O,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
) -> Result<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(db_err(e)),
    }
}

/// A time as serde writes it, so conditions compare equal to stored values.
/// Whether a transaction was refused for its first item: its condition did
/// not hold, or a concurrent write of it came first (a claim taken, a link
/// made).
fn first_item_refused(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => cancel
            .cancellation_reasons()
            .first()
            .and_then(|r| r.code())
            .is_some_and(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict"),
        _ => false,
    }
}

/// The code of each item's reason a transaction was cancelled for
/// (`ConditionalCheckFailed`, `TransactionConflict`, `None`), in the
/// order of its items; `None` if it failed otherwise.
pub(super) fn canceled_reason(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel)) => Some(
            cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn ts(t: DateTime<Utc>) -> AttributeValue {
    to_attribute_value(t).unwrap_or_else(|_| s(&t.to_rfc3339()))
}

fn ser<T: Serialize>(value: T) -> Result<HashMap<String, AttributeValue>> {
    to_item(value).map_err(|e| Error::Dependency(format!("cannot encode item: {e}")))
}

fn de<'a, T: Deserialize<'a>>(item: HashMap<String, AttributeValue>) -> Result<T> {
    from_item(item).map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))
}

/// A listing of one account's items by their sort key: all of them, or
/// those starting with `prefix`.
pub(crate) struct KeyPage<'a> {
    pub table: &'a str,
    pub sort_key: &'static str,
    pub prefix: Option<String>,
}

/// The opaque cursor that resumes a [`KeyPage`] after the sort key `after`.
fn encode_cursor(after: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

/// The sort key a cursor resumes after, if this API could have returned it
/// for `page`; otherwise a `400` naming `cursor`.
fn decode_cursor(cursor: &str, page: &KeyPage) -> Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|k| {
            k.len() <= 300
                && k.contains('#')
                && page.prefix.as_deref().is_none_or(|p| k.starts_with(p))
        })
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}

/// The opaque cursor after the id `last`.
fn encode_id_cursor(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// The id a cursor resumes after, or a `400` naming `cursor`.
fn decode_id_cursor(cursor: &str) -> Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| crate::domain::recipients::recipient::check_id(id, "cursor").is_ok())
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}

impl Store {
    /// One page of a [`KeyPage`] listing, in sort-key order, after
    /// `cursor`, and the cursor of the next page (`sort_key_of` an item).
    pub(crate) async fn key_page<T: serde::de::DeserializeOwned>(
        &self,
        account_id: &str,
        page: &KeyPage<'_>,
        limit: i32,
        cursor: Option<String>,
        sort_key_of: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>)> {
        let start = match cursor {
            Some(c) => Some(HashMap::from([
                ("account_id".to_owned(), s(account_id)),
                (page.sort_key.to_owned(), s(&decode_cursor(&c, page)?)),
            ])),
            None => None,
        };
        let mut query = self
            .client
            .query()
            .table_name(page.table)
            .expression_attribute_values(":a", s(account_id))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(limit.max(1));
        query = match &page.prefix {
            Some(prefix) => query
                .key_condition_expression("account_id = :a AND begins_with(#k, :p)")
                .expression_attribute_names("#k", page.sort_key)
                .expression_attribute_values(":p", s(prefix)),
            None => query.key_condition_expression("account_id = :a"),
        };
        let out = query.send().await.map_err(db_err)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(de)
            .collect::<Result<Vec<T>>>()?;
        let next = match (out.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(sort_key_of(last))),
            _ => None,
        };
        Ok((items, next))
    }

    pub fn new(client: Client, tables: Tables) -> Store {
        Store {
            client,
            tables,
            timing: crate::domain::delivery::outbox::Timing::default(),
            keys: std::sync::Arc::default(),
            routes: std::sync::Arc::default(),
        }
    }

    /// The store a function's configuration names.
    pub fn for_config(client: Client, config: &crate::Config) -> Store {
        let mut store = Store::new(client, config.tables.clone());
        let default = store.timing;
        store.timing = crate::domain::delivery::outbox::Timing {
            grace: chrono::Duration::from_std(config.sweep_grace).unwrap_or(default.grace),
            lead: chrono::Duration::from_std(config.schedule_lead).unwrap_or(default.lead),
        };
        store
    }

    /// The sweeper's clocks this store writes by.
    pub fn timing(&self) -> crate::domain::delivery::outbox::Timing {
        self.timing
    }

    /// A strongly consistent read of one item by its whole key.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> Result<Option<T>> {
        let mut request = self
            .client
            .get_item()
            .table_name(table)
            .consistent_read(true);
        for (name, value) in key {
            request = request.key(*name, s(value));
        }
        let found = request.send().await.map_err(db_err)?;
        found.item.map(de).transpose()
    }

    /// Every item `query` finds, page after page.
    async fn query_all<T: serde::de::DeserializeOwned>(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<T>> {
        self.query_items(query).await?.into_iter().map(de).collect()
    }

    /// The same, as DynamoDB's own items.
    async fn query_items(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(db_err)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(out),
            }
        }
    }

    /// Every item of `table` among `keys` that exists, a hundred keys to a
    /// call; keys DynamoDB leaves unprocessed (throttled) are asked again
    /// after a short back-off, a bounded number of times, then a `503`.
    async fn batch_get_items(
        &self,
        table: &str,
        keys: Vec<HashMap<String, AttributeValue>>,
        projection: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut wanted = chunk.to_vec();
            for round in 0..8 {
                if wanted.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
                    .set_projection_expression(projection.map(str::to_owned))
                    .build()
                    .map_err(db_err)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(db_err)?;
                found.extend(
                    out.responses
                        .unwrap_or_default()
                        .remove(table)
                        .unwrap_or_default(),
                );
                wanted = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !wanted.is_empty() {
                return Err(Error::Dependency("DynamoDB left keys unread".into()));
            }
        }
        Ok(found)
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}

/// The partition key of the history indexes: one partition per account
/// and value, sorted by `notification_id`.
fn index_key(account_id: &str, value: &str) -> String {
    format!("{account_id}#{value}")
}
