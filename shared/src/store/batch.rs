//! What one deliver batch reads: its notifications and their accounts, in
//! one strongly consistent `BatchGetItem` across both tables, instead of
//! two `GetItem`s per webhook.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{Account, Store, db_err, de, s};
use crate::domain::Notification;
use crate::error::{Error, Result};

/// How many times keys DynamoDB left unprocessed (throttling) are asked
/// for again before the batch is failed back to SQS.
const UNPROCESSED_TRIES: u32 = 5;

/// A deliver batch's reads, by id. What is missing does not exist.
#[derive(Debug, Default, Clone)]
pub struct BatchRead {
    pub notifications: HashMap<String, Notification>,
    pub accounts: HashMap<String, Account>,
}

type Key = HashMap<String, AttributeValue>;

impl Store {
    /// Reads these notifications, given as `(account_id, notification_id)`,
    /// and each of their accounts once (at most 50 notifications: a batch).
    pub async fn read_batch(&self, notifications: &[(String, String)]) -> Result<BatchRead> {
        // DynamoDB refuses a read that names one key twice, and a batch may
        // hold two copies of one message.
        let mut keys: Vec<&(String, String)> = notifications.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut accounts: Vec<&str> = keys.iter().map(|(a, _)| a.as_str()).collect();
        accounts.dedup();
        let mut wanted: HashMap<String, Vec<Key>> = HashMap::new();
        for (account_id, id) in keys {
            wanted
                .entry(self.tables.notifications.clone())
                .or_default()
                .push(HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("notification_id".to_owned(), s(id)),
                ]));
        }
        for account_id in accounts {
            wanted
                .entry(self.tables.accounts.clone())
                .or_default()
                .push(HashMap::from([("account_id".to_owned(), s(account_id))]));
        }
        let mut read = BatchRead::default();
        for round in 0..UNPROCESSED_TRIES {
            if wanted.is_empty() {
                return Ok(read);
            }
            if round > 0 {
                // DynamoDB throttled part of the read: back off a little.
                tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
            }
            let mut request = self.client.batch_get_item();
            for (table, keys) in wanted.drain() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(Error::dependency)?;
                request = request.request_items(table, keys);
            }
            let out = request.send().await.map_err(db_err)?;
            for (table, items) in out.responses.unwrap_or_default() {
                for item in items {
                    if table == self.tables.notifications {
                        let n: Notification = de(item)?;
                        read.notifications.insert(n.notification_id.clone(), n);
                    } else {
                        let a: Account = de(item)?;
                        read.accounts.insert(a.account_id.clone(), a);
                    }
                }
            }
            for (table, left) in out.unprocessed_keys.unwrap_or_default() {
                wanted.insert(table, left.keys);
            }
        }
        match wanted.is_empty() {
            true => Ok(read),
            false => Err(Error::Dependency(
                "DynamoDB left part of a batch read unprocessed; SQS will hand the batch out again"
                    .into(),
            )),
        }
    }
}
