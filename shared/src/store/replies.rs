//! Replies (`reply_key`, `reply_sort`): a campaign's under
//! `account#campaign`, sorted by when they came (`received_at#id`); and the
//! claim of each reply's id under `account#claim`, kept 30 days, written in
//! the same transaction as the entry and its run's count, so a report the
//! provider repeats is counted once. The latest message INC sent to an
//! address is found through the notifications' `ByAddress` index.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::Utc;

use super::conflicts::Refusal;
use super::notifications::number;
use super::{Store, db_err, de, s, ser};
use crate::domain::campaigns::replies::Reply;
use crate::domain::campaigns::run::Counts;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::Notification;
use crate::error::{Error, Result};

fn claim_key(account_id: &str) -> String {
    format!("{account_id}#claim")
}

fn entries_key(account_id: &str, campaign_id: &str) -> String {
    format!("{account_id}#{campaign_id}")
}

impl Store {
    /// The latest message INC sent to `address` on `channel`: one key
    /// condition on the index, newest first.
    pub async fn latest_message_to(
        &self,
        account_id: &str,
        channel: CustomerChannel,
        address: &str,
    ) -> Result<Option<Notification>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.notifications)
            .index_name("ByAddress")
            .key_condition_expression("by_address = :k")
            .expression_attribute_values(
                ":k",
                s(&super::index_key(
                    account_id,
                    &format!("{}#{address}", channel.as_str()),
                )),
            )
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(db_err)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(de)
            .transpose()
    }

    /// Records a reply once: its claim, and for a reply to a campaign's
    /// message its entry and its run's `replied`, in one transaction.
    /// False if this reply was recorded before.
    pub async fn record_reply(&self, reply: &Reply) -> Result<bool> {
        let mut claim = HashMap::from([
            ("reply_key".to_owned(), s(&claim_key(&reply.account_id))),
            ("reply_sort".to_owned(), s(&reply.reply_id)),
        ]);
        claim.insert(
            "expires_at".into(),
            number((Utc::now() + crate::domain::campaigns::replies::WINDOW).timestamp()),
        );
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.tables.replies)
                        .set_item(Some(claim))
                        .condition_expression("attribute_not_exists(reply_sort)")
                        .build()
                        .map_err(db_err)?,
                )
                .build(),
        ];
        if let (Some(campaign_id), Some(run)) = (&reply.campaign_id, reply.run) {
            let mut entry = ser(reply)?;
            entry.insert(
                "reply_key".into(),
                s(&entries_key(&reply.account_id, campaign_id)),
            );
            entry.insert(
                "reply_sort".into(),
                s(&format!(
                    "{}#{}",
                    reply.received_at.to_rfc3339(),
                    reply.reply_id
                )),
            );
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.replies)
                            .set_item(Some(entry))
                            .build()
                            .map_err(db_err)?,
                    )
                    .build(),
            );
            items.push(self.counter_update(
                &reply.account_id,
                campaign_id,
                run,
                crate::domain::recipients::lists::shard_of(
                    reply.recipient_id.as_deref().unwrap_or(&reply.from),
                ),
                &Counts {
                    replied: 1,
                    ..Counts::default()
                },
            )?);
        }
        self.transact_retrying(items, Refusal::FirstItem, "a reply")
            .await
    }

    /// A page of a campaign's replies, oldest first, after `cursor`.
    pub async fn list_replies(
        &self,
        account_id: &str,
        campaign_id: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Reply>, Option<String>)> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = entries_key(account_id, campaign_id);
        let start = match cursor {
            Some(c) => {
                let sort = engine
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| s.contains("#rpl_") && s.len() < 200)
                    .ok_or_else(|| {
                        Error::bad_request(
                            "invalid_cursor",
                            "cursor: not a cursor this API returned",
                            Some("cursor"),
                        )
                    })?;
                Some(HashMap::from([
                    ("reply_key".to_owned(), s(&key)),
                    ("reply_sort".to_owned(), s(&sort)),
                ]))
            }
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.tables.replies)
            .key_condition_expression("reply_key = :k")
            .expression_attribute_values(":k", s(&key))
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(db_err)?;
        let mut replies = Vec::new();
        let mut last = None;
        for item in out.items.unwrap_or_default() {
            if let Some(AttributeValue::S(sort)) = item.get("reply_sort") {
                last = Some(sort.clone());
            }
            replies.push(de::<Reply>(item)?);
        }
        let next = match (out.last_evaluated_key, last) {
            (Some(_), Some(sort)) => Some(engine.encode(sort)),
            _ => None,
        };
        Ok((replies, next))
    }
}
