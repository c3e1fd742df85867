//! Feeds (`feed_key` = `account#recipient`, `item_id`): each item under
//! its notification's id (a ULID, so by time), and beside them the feed's
//! unread count (`item_id` = `#unread`). An item is written with the
//! count's `+1` in one transaction, conditional on the item being new (a
//! deliver run twice writes it once); a read with the count's `-1`,
//! conditional on the item being unread (two reads at once count once).
//! So the count is exact whatever runs at the same moment.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::conflicts::Refusal;
use super::notifications::number;
use super::{Store, db_err, de, s, ser, ts};
use crate::domain::apps::feed::FeedItem;
use crate::error::{Error, Result};

const UNREAD: &str = "#unread";

fn feed_key(account_id: &str, recipient_id: &str) -> String {
    format!("{account_id}#{recipient_id}")
}

impl Store {
    fn unread_update(
        &self,
        account_id: &str,
        recipient_id: &str,
        delta: i64,
    ) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.tables.feed)
            .key("feed_key", s(&feed_key(account_id, recipient_id)))
            .key("item_id", s(UNREAD))
            .update_expression("ADD unread :d")
            .expression_attribute_values(":d", number(delta))
            .build()
            .map_err(db_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Adds an item with its unread count; false if it was added before.
    pub async fn add_feed_item(&self, item: &FeedItem) -> Result<bool> {
        let mut fields = ser(item)?;
        fields.insert(
            "feed_key".into(),
            s(&feed_key(&item.account_id, &item.recipient_id)),
        );
        let put = Put::builder()
            .table_name(&self.tables.feed)
            .set_item(Some(fields))
            .condition_expression("attribute_not_exists(item_id)")
            .build()
            .map_err(db_err)?;
        self.transact_retrying(
            vec![
                TransactWriteItem::builder().put(put).build(),
                self.unread_update(&item.account_id, &item.recipient_id, 1)?,
            ],
            Refusal::FirstItem,
            "the feed",
        )
        .await
    }

    /// The recipient's unread count.
    pub async fn unread_count(&self, account_id: &str, recipient_id: &str) -> Result<i64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.feed)
            .key("feed_key", s(&feed_key(account_id, recipient_id)))
            .key("item_id", s(UNREAD))
            .consistent_read(true)
            .send()
            .await
            .map_err(db_err)?;
        Ok(match out.item.as_ref().and_then(|i| i.get("unread")) {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// A page of the feed, newest first, after `cursor` (an item id).
    pub async fn feed_page(
        &self,
        account_id: &str,
        recipient_id: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<FeedItem>, Option<String>)> {
        let key = feed_key(account_id, recipient_id);
        let start = match cursor {
            Some(c) if c.starts_with("ntf_") && c.len() <= 64 => Some(HashMap::from([
                ("feed_key".to_owned(), s(&key)),
                ("item_id".to_owned(), s(c)),
            ])),
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_cursor",
                    "cursor: not a cursor this API returned",
                    Some("cursor"),
                ));
            }
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.tables.feed)
            .key_condition_expression("feed_key = :k AND begins_with(item_id, :p)")
            .expression_attribute_values(":k", s(&key))
            .expression_attribute_values(":p", s("ntf_"))
            .scan_index_forward(false)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(db_err)?;
        let items: Vec<FeedItem> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(de)
            .collect::<Result<_>>()?;
        let next = match (out.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(last.item_id.clone()),
            _ => None,
        };
        Ok((items, next))
    }

    /// Marks an item read with the count's `-1`; `None` if there is no such
    /// item, `Some(false)` if it was read already.
    pub async fn read_feed_item(
        &self,
        account_id: &str,
        recipient_id: &str,
        item_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let update = Update::builder()
            .table_name(&self.tables.feed)
            .key("feed_key", s(&feed_key(account_id, recipient_id)))
            .key("item_id", s(item_id))
            .condition_expression("attribute_exists(item_id) AND attribute_not_exists(read_at)")
            .update_expression("SET read_at = :now, seen_at = if_not_exists(seen_at, :now)")
            .expression_attribute_values(":now", ts(now))
            .build()
            .map_err(db_err)?;
        let read = self
            .transact_retrying(
                vec![
                    TransactWriteItem::builder().update(update).build(),
                    self.unread_update(account_id, recipient_id, -1)?,
                ],
                Refusal::FirstItem,
                "the feed",
            )
            .await?;
        if read {
            return Ok(Some(true));
        }
        let exists: Option<FeedItem> = self
            .get(
                &self.tables.feed,
                &[
                    ("feed_key", &feed_key(account_id, recipient_id)),
                    ("item_id", item_id),
                ],
            )
            .await?;
        Ok(exists.map(|_| false))
    }

    /// Marks every unread item read (each with its count), answering their ids.
    pub async fn read_all_feed(
        &self,
        account_id: &str,
        recipient_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let key = feed_key(account_id, recipient_id);
        let unread: Vec<FeedItem> = self
            .query_all(
                self.client
                    .query()
                    .table_name(&self.tables.feed)
                    .key_condition_expression("feed_key = :k AND begins_with(item_id, :p)")
                    .filter_expression("attribute_not_exists(read_at)")
                    .expression_attribute_values(":k", s(&key))
                    .expression_attribute_values(":p", s("ntf_"))
                    .consistent_read(true),
            )
            .await?;
        let mut read = Vec::new();
        for item in unread {
            if self
                .read_feed_item(account_id, recipient_id, &item.item_id, now)
                .await?
                == Some(true)
            {
                read.push(item.item_id);
            }
        }
        Ok(read)
    }

    /// Deletes a recipient's feed, its count included (its erasure).
    pub(super) async fn delete_feed(&self, account_id: &str, recipient_id: &str) -> Result<bool> {
        let key = feed_key(account_id, recipient_id);
        let items = self
            .query_items(
                self.client
                    .query()
                    .table_name(&self.tables.feed)
                    .key_condition_expression("feed_key = :k")
                    .expression_attribute_values(":k", s(&key))
                    .projection_expression("feed_key, item_id"),
            )
            .await?;
        let any = !items.is_empty();
        for item in items {
            self.client
                .delete_item()
                .table_name(&self.tables.feed)
                .set_key(Some(item))
                .send()
                .await
                .map_err(db_err)?;
        }
        Ok(any)
    }
}

impl Store {
    /// Marks the items an app was shown as seen (once each: a seen item
    /// keeps its first time); the unread count does not change.
    pub async fn mark_feed_seen(
        &self,
        account_id: &str,
        recipient_id: &str,
        item_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let key = feed_key(account_id, recipient_id);
        let marks = item_ids.iter().map(|id| {
            self.client
                .update_item()
                .table_name(&self.tables.feed)
                .key("feed_key", s(&key))
                .key("item_id", s(id))
                .condition_expression("attribute_exists(item_id) AND attribute_not_exists(seen_at)")
                .update_expression("SET seen_at = :now")
                .expression_attribute_values(":now", ts(now))
                .send()
        });
        for result in futures::future::join_all(marks).await {
            if let Err(err) = result {
                let refused = err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception());
                if !refused {
                    return Err(db_err(err));
                }
            }
        }
        Ok(())
    }
}
