//! The opt-out list: one item per account and recipient (`account_id`,
//! `recipient` = `channel#to`). Adding is a conditional put, so the first
//! reason and time stand however many times a recipient is added at once.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_dynamo::from_items;

use super::{Store, applied, db_err, s, ser};
use crate::domain::CustomerChannel;
use crate::domain::suppression::{Suppression, key};
use crate::error::{Error, Result};

/// How many times an add races a concurrent removal before answering 503.
const MAX_ADD_TRIES: u32 = 5;

impl Store {
    /// Adds `suppression` unless its recipient is listed already; answers
    /// whether it was added, and the item as it stands.
    pub async fn add_suppression(&self, suppression: &Suppression) -> Result<(bool, Suppression)> {
        // Listed already (perhaps a moment ago, by a concurrent add): the
        // first one stands. Removed again in between? Then this add tries
        // once more, a bounded number of times.
        for _ in 0..MAX_ADD_TRIES {
            let put = self
                .client
                .put_item()
                .table_name(&self.tables.suppressions)
                .set_item(Some(ser(suppression)?))
                .condition_expression("attribute_not_exists(recipient)")
                .send()
                .await;
            if applied(put)? {
                return Ok((true, suppression.clone()));
            }
            if let Some(existing) = self
                .get_suppression(&suppression.account_id, &suppression.recipient)
                .await?
            {
                return Ok((false, existing));
            }
        }
        Err(Error::Dependency(
            "this recipient is being added and removed concurrently; retry shortly".into(),
        ))
    }

    async fn get_suppression(
        &self,
        account_id: &str,
        recipient: &str,
    ) -> Result<Option<Suppression>> {
        self.get(
            &self.tables.suppressions,
            &[("account_id", account_id), ("recipient", recipient)],
        )
        .await
    }

    /// Whether the list key `recipient` (see [`key`]) is suppressed.
    pub async fn is_suppressed(&self, account_id: &str, recipient: &str) -> Result<bool> {
        Ok(self.get_suppression(account_id, recipient).await?.is_some())
    }

    /// A page of the list, by channel then recipient, after `cursor`;
    /// one channel's only when `channel` is given.
    pub async fn list_suppressions(
        &self,
        account_id: &str,
        channel: Option<CustomerChannel>,
        limit: i32,
        cursor: Option<String>,
    ) -> Result<(Vec<Suppression>, Option<String>)> {
        let start = match cursor {
            Some(c) => {
                let after = decode_cursor(&c, channel)?;
                Some(
                    [
                        ("account_id".to_owned(), s(account_id)),
                        ("recipient".to_owned(), s(&after)),
                    ]
                    .into(),
                )
            }
            None => None,
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.suppressions)
            .expression_attribute_values(":a", s(account_id))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(limit.max(1));
        query = match channel {
            Some(c) => query
                .key_condition_expression("account_id = :a AND begins_with(recipient, :c)")
                .expression_attribute_values(":c", s(&format!("{}#", c.as_str()))),
            None => query.key_condition_expression("account_id = :a"),
        };
        let page = query.send().await.map_err(db_err)?;
        let items: Vec<Suppression> = from_items(page.items.unwrap_or_default())
            .map_err(|e| Error::Dependency(format!("cannot decode stored suppression: {e}")))?;
        let next = match (page.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(URL_SAFE_NO_PAD.encode(&last.recipient)),
            _ => None,
        };
        Ok((items, next))
    }

    /// Removes `to` from the list of `channel`; false if it was not there.
    pub async fn remove_suppression(
        &self,
        account_id: &str,
        channel: CustomerChannel,
        to: &str,
    ) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.suppressions)
            .key("account_id", s(account_id))
            .key("recipient", AttributeValue::S(key(channel, to)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

/// The recipient a cursor names, if this API could have returned it for
/// this listing.
fn decode_cursor(cursor: &str, channel: Option<CustomerChannel>) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|r| {
            r.len() <= 300
                && r.split_once('#').is_some_and(|(c, _)| {
                    channel.map_or(CustomerChannel::ALL.iter().any(|a| a.as_str() == c), |w| {
                        w.as_str() == c
                    })
                })
        })
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}
