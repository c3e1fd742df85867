//! Lists (`account_id`, `list_id`) and their members (`shard_key` =
//! `account#list#NN`, `recipient_id`), spread over `SHARDS` partition keys
//! (the reasoning is in `domain::recipients::lists`).
//!
//! `member_count` is exact under any concurrency: every member is added by
//! a conditional put and removed by a conditional delete in the same
//! transaction as the count's change, so a count moves only with a member
//! that really came or went. A batch of 1,000 is written as transactions of
//! up to 99 members and their count; if one fails, the request is a `503`
//! and its retry adds only the members still missing (none twice, no count
//! twice).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, ReturnValue, TransactWriteItem, Update,
    WriteRequest,
};
use chrono::{DateTime, Utc};

use super::{Store, db_err, de, encode_id_cursor, s, ts};
use crate::domain::recipients::lists::{List, MAX_MEMBERS, SHARDS, shard_key, shard_of};
use crate::error::{Error, Result};

/// Members written per transaction (beside the count's update).
const PER_TRANSACTION: usize = 99;
/// How often a chunk is tried again after a concurrent write of one of its
/// members refused it.
const MAX_TRIES: u32 = 5;

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Store {
    /// Creates a list or renames it; its members and count are kept.
    pub async fn put_list(
        &self,
        account_id: &str,
        list_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(List, bool)> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.lists)
            .key("account_id", s(account_id))
            .key("list_id", s(list_id))
            .update_expression(
                "SET #name = :name, updated_at = :now, created_at = if_not_exists(created_at, :now), \
                 member_count = if_not_exists(member_count, :zero)",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(name))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(db_err)?;
        let list: List = de(out.attributes.unwrap_or_default())?;
        let created = list.created_at == now;
        Ok((list, created))
    }

    pub async fn get_list(&self, account_id: &str, list_id: &str) -> Result<Option<List>> {
        self.get(
            &self.tables.lists,
            &[("account_id", account_id), ("list_id", list_id)],
        )
        .await
    }

    /// Every list of the account, by id.
    pub async fn all_lists(&self, account_id: &str) -> Result<Vec<List>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.tables.lists)
                .key_condition_expression("account_id = :a")
                .expression_attribute_values(":a", s(account_id))
                .consistent_read(true),
        )
        .await
    }

    /// Deletes a list and every membership of it, shard by shard; false if
    /// there was no list.
    pub async fn delete_list(&self, account_id: &str, list_id: &str) -> Result<bool> {
        if self.get_list(account_id, list_id).await?.is_none() {
            return Ok(false);
        }
        for shard in 0..SHARDS {
            let key = shard_key(account_id, list_id, shard);
            let items = self
                .query_items(
                    self.client
                        .query()
                        .table_name(&self.tables.list_members)
                        .key_condition_expression("shard_key = :k")
                        .expression_attribute_values(":k", s(&key))
                        .projection_expression("shard_key, recipient_id"),
                )
                .await?;
            for chunk in items.chunks(25) {
                let mut requests = chunk
                    .iter()
                    .map(|item| {
                        let delete = DeleteRequest::builder()
                            .set_key(Some(item.clone()))
                            .build()
                            .map_err(db_err)?;
                        Ok(WriteRequest::builder().delete_request(delete).build())
                    })
                    .collect::<Result<Vec<WriteRequest>>>()?;
                for _ in 0..8 {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.tables.list_members, requests)
                        .send()
                        .await
                        .map_err(db_err)?;
                    requests = out
                        .unprocessed_items
                        .unwrap_or_default()
                        .remove(&self.tables.list_members)
                        .unwrap_or_default();
                    if requests.is_empty() {
                        break;
                    }
                }
                if !requests.is_empty() {
                    return Err(Error::Dependency("DynamoDB left members undeleted".into()));
                }
            }
        }
        self.client
            .delete_item()
            .table_name(&self.tables.lists)
            .key("account_id", s(account_id))
            .key("list_id", s(list_id))
            .send()
            .await
            .map_err(db_err)?;
        Ok(true)
    }

    /// Which of `ids` are members of the list already.
    async fn members_among(
        &self,
        account_id: &str,
        list_id: &str,
        ids: &[String],
    ) -> Result<HashSet<String>> {
        let keys = ids
            .iter()
            .map(|id| {
                HashMap::from([
                    (
                        "shard_key".to_owned(),
                        s(&shard_key(account_id, list_id, shard_of(id))),
                    ),
                    ("recipient_id".to_owned(), s(id)),
                ])
            })
            .collect();
        let items = self
            .batch_get_items(&self.tables.list_members, keys, Some("recipient_id"))
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|mut item| match item.remove("recipient_id") {
                Some(AttributeValue::S(id)) => Some(id),
                _ => None,
            })
            .collect())
    }

    /// Adds `ids` to the list, which the caller has found (one deleted
    /// meanwhile refuses the transaction: `422`); answers how many were new
    /// members. Members already there are left as they are.
    pub async fn add_members(
        &self,
        account_id: &str,
        list_id: &str,
        ids: &[String],
    ) -> Result<usize> {
        let now = Utc::now();
        let mut added = 0;
        for chunk in ids.chunks(PER_TRANSACTION) {
            let mut tries = 0;
            loop {
                let existing = self.members_among(account_id, list_id, chunk).await?;
                let new: Vec<&String> = chunk.iter().filter(|id| !existing.contains(*id)).collect();
                if new.is_empty() {
                    break;
                }
                match self.add_chunk(account_id, list_id, &new, now).await {
                    Ok(()) => {
                        added += new.len();
                        break;
                    }
                    Err(ChunkRefused::Full) => {
                        return Err(Error::unprocessable(
                            "list_full",
                            format!(
                                "a list holds at most {MAX_MEMBERS} members (or this one was deleted meanwhile)"
                            ),
                            Some("recipients"),
                        ));
                    }
                    Err(ChunkRefused::Raced) if tries + 1 < MAX_TRIES => tries += 1,
                    Err(ChunkRefused::Raced) => {
                        return Err(Error::Dependency(
                            "these members are being changed concurrently; retry shortly".into(),
                        ));
                    }
                    Err(ChunkRefused::Failed(e)) => return Err(e),
                }
            }
        }
        Ok(added)
    }

    /// One transaction: the new members' puts and the count's increase.
    async fn add_chunk(
        &self,
        account_id: &str,
        list_id: &str,
        new: &[&String],
        now: DateTime<Utc>,
    ) -> std::result::Result<(), ChunkRefused> {
        let count = u64::try_from(new.len()).unwrap_or(u64::MAX);
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.tables.lists)
                        .key("account_id", s(account_id))
                        .key("list_id", s(list_id))
                        .update_expression("ADD member_count :n")
                        .condition_expression("attribute_exists(list_id) AND member_count <= :room")
                        .expression_attribute_values(":n", n(count))
                        .expression_attribute_values(":room", n(MAX_MEMBERS.saturating_sub(count)))
                        .build()
                        .map_err(|e| ChunkRefused::Failed(db_err(e)))?,
                )
                .build(),
        );
        for id in new {
            let put = Put::builder()
                .table_name(&self.tables.list_members)
                .item(
                    "shard_key",
                    s(&shard_key(account_id, list_id, shard_of(id))),
                )
                .item("recipient_id", s(id))
                .item("account_id", s(account_id))
                .item("list_id", s(list_id))
                .item("added_at", ts(now))
                .condition_expression("attribute_not_exists(recipient_id)")
                .build()
                .map_err(|e| ChunkRefused::Failed(db_err(e)))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    let reasons = cancel.cancellation_reasons();
                    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
                    if code(0) == "ConditionalCheckFailed" {
                        Err(ChunkRefused::Full)
                    } else if (0..reasons.len()).any(|i| {
                        matches!(code(i), "ConditionalCheckFailed" | "TransactionConflict")
                    }) {
                        Err(ChunkRefused::Raced)
                    } else {
                        Err(ChunkRefused::Failed(db_err(e)))
                    }
                }
                _ => Err(ChunkRefused::Failed(db_err(e))),
            },
        }
    }

    /// Removes a member with the count's decrease; false if it was none.
    pub async fn remove_member(&self, account_id: &str, list_id: &str, id: &str) -> Result<bool> {
        let delete = Delete::builder()
            .table_name(&self.tables.list_members)
            .key(
                "shard_key",
                s(&shard_key(account_id, list_id, shard_of(id))),
            )
            .key("recipient_id", s(id))
            .condition_expression("attribute_exists(recipient_id)")
            .build()
            .map_err(db_err)?;
        let count = Update::builder()
            .table_name(&self.tables.lists)
            .key("account_id", s(account_id))
            .key("list_id", s(list_id))
            .update_expression("ADD member_count :minus")
            .condition_expression("attribute_exists(list_id)")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .build()
            .map_err(db_err)?;
        for _ in 0..MAX_TRIES {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete.clone()).build())
                .transact_items(TransactWriteItem::builder().update(count.clone()).build())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) => {
                    let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                        e.as_service_error()
                    else {
                        return Err(db_err(e));
                    };
                    let codes: Vec<&str> = cancel
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None"))
                        .collect();
                    if codes.contains(&"ConditionalCheckFailed") {
                        // Not a member (or no list): nothing to remove.
                        return Ok(false);
                    }
                    if !codes.contains(&"TransactionConflict") {
                        return Err(db_err(e));
                    }
                }
            }
        }
        Err(Error::Dependency(
            "this member is being changed concurrently; retry shortly".into(),
        ))
    }

    /// Up to `limit` member ids of one shard of a list, by id, after
    /// `after`; and whether the shard holds more. One query by key: what a
    /// campaign's fan-out reads, a page at a time.
    pub async fn shard_page(
        &self,
        account_id: &str,
        list_id: &str,
        shard: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool)> {
        let key = shard_key(account_id, list_id, shard);
        let start = after.map(|last| {
            HashMap::from([
                ("shard_key".to_owned(), s(&key)),
                ("recipient_id".to_owned(), s(last)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.list_members)
            .key_condition_expression("shard_key = :k")
            .expression_attribute_values(":k", s(&key))
            .projection_expression("recipient_id")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(100))
            .send()
            .await
            .map_err(db_err)?;
        let ids = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut item| match item.remove("recipient_id") {
                Some(AttributeValue::S(id)) => Some(id),
                _ => None,
            })
            .collect();
        Ok((ids, out.last_evaluated_key.is_some()))
    }

    /// A page of a list's member ids: shard by shard, each by id, after
    /// `cursor` (`NN:last id` inside, opaque outside).
    pub async fn list_member_ids(
        &self,
        account_id: &str,
        list_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>)> {
        let (mut shard, mut after) = match cursor {
            None => (0, None),
            Some(c) => decode_member_cursor(c)?,
        };
        let mut ids = Vec::new();
        while shard < SHARDS && ids.len() < limit {
            let start = after.take().map(|last: String| {
                HashMap::from([
                    (
                        "shard_key".to_owned(),
                        s(&shard_key(account_id, list_id, shard)),
                    ),
                    ("recipient_id".to_owned(), s(&last)),
                ])
            });
            let out = self
                .client
                .query()
                .table_name(&self.tables.list_members)
                .key_condition_expression("shard_key = :k")
                .expression_attribute_values(":k", s(&shard_key(account_id, list_id, shard)))
                .projection_expression("recipient_id")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .limit(i32::try_from(limit - ids.len()).unwrap_or(100))
                .send()
                .await
                .map_err(db_err)?;
            for item in out.items.unwrap_or_default() {
                if let Some(AttributeValue::S(id)) = item.get("recipient_id") {
                    ids.push(id.clone());
                }
            }
            match out.last_evaluated_key {
                Some(_) => after = ids.last().cloned(),
                None => shard += 1,
            }
        }
        let next = match (&after, shard < SHARDS) {
            (Some(last), _) => Some(encode_member_cursor(shard, Some(last))),
            (None, true) if !ids.is_empty() => Some(encode_member_cursor(shard, None)),
            _ => None,
        };
        Ok((ids, next))
    }
}

/// Why a chunk of new members was not written.
enum ChunkRefused {
    /// The list would pass its limit (or is gone).
    Full,
    /// A concurrent write of one of its members came first: read again.
    Raced,
    Failed(Error),
}

fn encode_member_cursor(shard: u32, after: Option<&str>) -> String {
    encode_id_cursor(&format!("{shard:02}:{}", after.unwrap_or("")))
}

fn decode_member_cursor(cursor: &str) -> Result<(u32, Option<String>)> {
    use base64::Engine;
    let bad = || {
        Error::bad_request(
            "invalid_cursor",
            "cursor: not a cursor this API returned",
            Some("cursor"),
        )
    };
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (shard, last) = text.split_once(':').ok_or_else(bad)?;
    let shard: u32 = shard.parse().ok().filter(|s| *s < SHARDS).ok_or_else(bad)?;
    if last.is_empty() {
        return Ok((shard, None));
    }
    crate::domain::recipients::recipient::check_id(last, "cursor").map_err(|_| bad())?;
    Ok((shard, Some(last.to_owned())))
}
