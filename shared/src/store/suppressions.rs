//! The opt-out list: one item per account and recipient (`account_id`,
//! `recipient` = `channel#to`). Adding is a conditional put, so the first
//! reason and time stand however many times a recipient is added at once.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{KeyPage, Store, applied, db_err, s, ser};
use crate::domain::CustomerChannel;
use crate::domain::messages::suppression::{Suppression, key};
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

    /// Which of `recipients` (`channel#to` keys) are on the opt-out list:
    /// a batch read, a hundred keys a call.
    pub async fn suppressed_among(
        &self,
        account_id: &str,
        recipients: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let mut unique: Vec<&String> = recipients.iter().collect();
        unique.sort_unstable();
        unique.dedup();
        let keys = unique
            .into_iter()
            .map(|r| {
                std::collections::HashMap::from([
                    ("account_id".to_owned(), super::s(account_id)),
                    ("recipient".to_owned(), super::s(r)),
                ])
            })
            .collect();
        Ok(self
            .batch_get_items(&self.tables.suppressions, keys, Some("recipient"))
            .await?
            .into_iter()
            .filter_map(|mut item| match item.remove("recipient") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(r)) => Some(r),
                _ => None,
            })
            .collect())
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
        let page = KeyPage {
            table: &self.tables.suppressions,
            sort_key: "recipient",
            prefix: channel.map(|c| format!("{}#", c.as_str())),
        };
        self.key_page(account_id, &page, limit, cursor, |s: &Suppression| {
            &s.recipient
        })
        .await
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
