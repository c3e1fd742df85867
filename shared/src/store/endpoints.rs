//! Endpoints, one item each (`account_id`, `endpoint_id`). How many an
//! account has is counted on its account item, in the same transaction as
//! each create and delete, so concurrent creates can never pass the limit.
//! Every change of an endpoint is conditional on the version read.

use std::sync::Arc;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_dynamo::from_items;

use super::LogQuery;
use super::conflicts::Refusal;
use super::notifications::number;
use super::{Store, applied, db_err, s, ser};
use crate::domain::endpoints::endpoint::{MAX_ENDPOINTS, Route};
use crate::domain::endpoints::signing::{self, SECRET_OVERLAP};
use crate::domain::{Endpoint, Status};
use crate::error::{Error, Result};

impl Store {
    /// Stores a new endpoint, if the account has fewer than
    /// [`MAX_ENDPOINTS`]; a `409` otherwise.
    pub async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let count = Update::builder()
            .table_name(&self.tables.accounts)
            .key("account_id", s(&endpoint.account_id))
            .update_expression(
                "SET endpoint_count = if_not_exists(endpoint_count, :zero) + :one \
                 ADD routes_version :one",
            )
            .condition_expression(
                "attribute_exists(account_id) AND \
                 (attribute_not_exists(endpoint_count) OR endpoint_count < :max)",
            )
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(MAX_ENDPOINTS))
            .build()
            .map_err(Error::dependency)?;
        let put = Put::builder()
            .table_name(&self.tables.endpoints)
            .set_item(Some(ser(endpoint)?))
            .condition_expression("attribute_not_exists(endpoint_id)")
            .build()
            .map_err(Error::dependency)?;
        let items = [
            TransactWriteItem::builder().update(count).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        if self.endpoint_write(&items).await? {
            return Ok(());
        }
        Err(Error::Conflict {
            code: "too_many_endpoints",
            message: format!(
                "an account has at most {MAX_ENDPOINTS} endpoints besides its default one; \
                     delete one first"
            )
            .into(),
        })
    }

    pub async fn get_endpoint(&self, account_id: &str, id: &str) -> Result<Option<Endpoint>> {
        self.get(
            &self.tables.endpoints,
            &[("account_id", account_id), ("endpoint_id", id)],
        )
        .await
    }

    /// Every endpoint of the account (at most [`MAX_ENDPOINTS`]), oldest
    /// first: what an event fans out over.
    pub async fn endpoints_of(&self, account_id: &str) -> Result<Vec<Endpoint>> {
        self.query_all(self.endpoints_query(account_id)).await
    }

    /// The read of one account's endpoints (its partition, consistent), which
    /// every listing of them starts from.
    fn endpoints_query(&self, account_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.endpoints)
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .consistent_read(true)
    }

    /// What an event's endpoints are decided by, for every stored endpoint
    /// of `account`: the same read as [`endpoints_of`](Store::endpoints_of),
    /// projected to [`Route`]'s fields, so an event to many endpoints does
    /// not read (and decode) their secrets, headers and transformations;
    /// and not read again while the account's `routes_version` (as just
    /// read with it) is the one they were read at (see `routes_cache`).
    pub async fn routes_of(&self, account: &super::Account) -> Result<Arc<[Route]>> {
        let (id, version) = (&account.account_id, account.routes_version);
        if let Some(routes) = self.routes.fresh(id, version) {
            return Ok(routes);
        }
        let mut query = self.endpoints_query(id);
        let mut projected = Vec::new();
        for (i, field) in Route::FIELDS.iter().enumerate() {
            projected.push(format!("#r{i}"));
            query = query.expression_attribute_names(format!("#r{i}"), *field);
        }
        let routes: Arc<[Route]> = self
            .query_all::<Route>(query.projection_expression(projected.join(", ")))
            .await?
            .into();
        self.routes.put(id, version, routes.clone());
        Ok(routes)
    }

    /// A page of the account's endpoints, oldest first, after `cursor`.
    pub async fn list_endpoints(
        &self,
        account_id: &str,
        limit: i32,
        cursor: Option<String>,
    ) -> Result<(Vec<Endpoint>, Option<String>)> {
        let start = match cursor {
            Some(c) => Some(
                [
                    ("account_id".to_owned(), s(account_id)),
                    ("endpoint_id".to_owned(), s(&decode_cursor(&c)?)),
                ]
                .into(),
            ),
            None => None,
        };
        let page = self
            .endpoints_query(account_id)
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(db_err)?;
        let items: Vec<Endpoint> = from_items(page.items.unwrap_or_default())
            .map_err(|e| Error::Dependency(format!("cannot decode stored endpoint: {e}")))?;
        let next = match (page.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(URL_SAFE_NO_PAD.encode(&last.endpoint_id)),
            _ => None,
        };
        Ok((items, next))
    }

    /// Writes `endpoint` over the version `read`; false (nothing written) if
    /// another write came first, or the endpoint is gone.
    pub async fn put_endpoint(&self, endpoint: &Endpoint, read: u64) -> Result<bool> {
        let put = Put::builder()
            .table_name(&self.tables.endpoints)
            .set_item(Some(ser(endpoint)?))
            .condition_expression("attribute_exists(endpoint_id) AND version = :read")
            .expression_attribute_values(":read", number(read))
            .build()
            .map_err(Error::dependency)?;
        let items = [
            TransactWriteItem::builder().put(put).build(),
            self.reroute(&endpoint.account_id)?,
        ];
        self.endpoint_write(&items).await
    }

    /// Deletes an endpoint; false if there was none.
    pub async fn delete_endpoint(&self, account_id: &str, id: &str) -> Result<bool> {
        let delete = Delete::builder()
            .table_name(&self.tables.endpoints)
            .key("account_id", s(account_id))
            .key("endpoint_id", s(id))
            .condition_expression("attribute_exists(endpoint_id)")
            .build()
            .map_err(Error::dependency)?;
        let count = Update::builder()
            .table_name(&self.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET endpoint_count = endpoint_count - :one ADD routes_version :one")
            .condition_expression("endpoint_count > :zero")
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(Error::dependency)?;
        let items = [
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        self.endpoint_write(&items).await
    }

    /// The account's `routes_version` bumped, for a transaction that
    /// changes one of its endpoints' routes (see `routes_cache`).
    pub(super) fn reroute(&self, account_id: &str) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("ADD routes_version :one")
            .condition_expression("attribute_exists(account_id)")
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(Error::dependency)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs the transaction of an endpoint's change, which also writes its
    /// account's item: true when it applied, false when one of its
    /// conditions did not hold. Another transaction on the account item at
    /// the same moment (a settings change, another endpoint's) is a
    /// conflict, not a refusal: tried again, a bounded number of times.
    pub(super) async fn endpoint_write(&self, items: &[TransactWriteItem]) -> Result<bool> {
        self.transact_retrying(items.to_vec(), Refusal::AnyItem, "this account's endpoints")
            .await
    }

    /// Replaces the endpoint's secret; the old one signs beside it for
    /// [`SECRET_OVERLAP`]. Conditional on the secret read.
    pub async fn rotate_endpoint_secret(
        &self,
        endpoint: &Endpoint,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let new = signing::new_secret();
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.endpoints)
            .key("account_id", s(&endpoint.account_id))
            .key("endpoint_id", s(&endpoint.endpoint_id))
            .update_expression(
                "SET secret = :new, previous_secret = :old, previous_secret_expires_at = :until, \
                 version = version + :one",
            )
            .condition_expression("secret = :old")
            .expression_attribute_values(":new", s(&new))
            .expression_attribute_values(":old", s(&endpoint.secret))
            .expression_attribute_values(":until", super::ts(now + SECRET_OVERLAP))
            .expression_attribute_values(":one", number(1));
        match applied(request.send().await)? {
            true => Ok(new),
            false => Err(Error::Conflict {
                code: "rotation_in_progress",
                message: "the secret was rotated meanwhile, or the endpoint deleted; read it again"
                    .into(),
            }),
        }
    }
}

impl Store {
    /// Fails every notification for a deleted or disabled endpoint that is
    /// not final yet, with `reason`, through the index `ByEndpoint` by status; answers how many.
    /// (Deliver fails any it misses when its message comes up.)
    pub async fn fail_pending_of_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
        reason: &str,
    ) -> Result<usize> {
        let mut failed = 0;
        for status in [Status::Queued, Status::Retrying] {
            let mut cursor = None;
            loop {
                let query = LogQuery {
                    limit: 100,
                    cursor,
                    status: Some(status),
                    endpoint_id: Some(endpoint_id.to_owned()),
                    ..LogQuery::default()
                };
                let (page, next) = self.list_notifications(account_id, &query).await?;
                for n in page {
                    if self
                        .fail_pending(account_id, &n.notification_id, reason)
                        .await?
                    {
                        failed += 1;
                    }
                }
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(failed)
    }
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| id.starts_with("ep_") && id.len() <= 64)
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}
