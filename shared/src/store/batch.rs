//! What one deliver batch reads: its notifications, their accounts, their
//! endpoints and their campaigns, in one strongly consistent `BatchGetItem` across the
//! tables, instead of a `GetItem` per item. An endpoint the batch's
//! messages did not name (a message queued before they named it) is read
//! in a second call, once the notifications say which it is.
//!
//! An account the instance read a moment ago ([`AccountCache`]) is asked
//! for only by its version; it is read again, in that second call, only if
//! the version moved.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::account_cache::AccountCache;
use super::{Account, Store, db_err, de, s};
use crate::domain::campaigns::campaign::Campaign;
use crate::domain::delivery::message::DeliveryMessage;
use crate::domain::{DEFAULT_ENDPOINT_ID, Endpoint, Notification};
use crate::error::{Error, Result};

/// How many times keys DynamoDB left unprocessed (throttling) are asked
/// for again before the batch is failed back to SQS.
const UNPROCESSED_TRIES: u32 = 5;

/// A deliver batch's reads, by id. What is missing does not exist.
#[derive(Debug, Default, Clone)]
pub struct BatchRead {
    pub notifications: HashMap<String, Notification>,
    pub accounts: HashMap<String, Arc<Account>>,
    /// By `(account_id, endpoint_id)`; each account's default endpoint too.
    pub endpoints: HashMap<(String, String), Endpoint>,
    /// The campaigns of the batch's campaign messages, by `(account_id, campaign_id)`.
    pub campaigns: HashMap<(String, String), Campaign>,
    /// The stored `settings_version` of accounts asked for by version only.
    versions: HashMap<String, u64>,
}

/// What a version-only read of an account answers.
#[derive(serde::Deserialize)]
struct AccountVersion {
    account_id: String,
    #[serde(default)]
    settings_version: u64,
}

impl BatchRead {
    /// The endpoint a webhook goes to, the default one included (`None` for
    /// a customer message, or an endpoint that no longer exists).
    pub fn endpoint_of(&self, n: &Notification) -> Option<&Endpoint> {
        let id = n.endpoint()?;
        self.endpoints.get(&(n.account_id.clone(), id.to_owned()))
    }
}

type Key = HashMap<String, AttributeValue>;

impl Store {
    /// Reads the notifications these messages name, each of their accounts
    /// once (by version only when `cache` holds it), and their endpoints
    /// (at most 50 messages: a batch).
    pub async fn read_batch(
        &self,
        messages: &[DeliveryMessage],
        cache: &AccountCache,
    ) -> Result<BatchRead> {
        // DynamoDB refuses a read that names one key twice, and a batch may
        // hold two copies of one message.
        let mut notifications: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m.account_id.as_str(), m.notification_id.as_str()))
            .collect();
        notifications.sort_unstable();
        notifications.dedup();
        let mut accounts: Vec<&str> = notifications.iter().map(|(a, _)| *a).collect();
        accounts.sort_unstable();
        accounts.dedup();
        // One projection per table: by version only if every account is cached.
        let cached: HashMap<&str, Arc<Account>> = accounts
            .iter()
            .filter_map(|id| Some((*id, cache.fresh(id)?)))
            .collect();
        let by_version = cached.len() == accounts.len();
        let mut endpoints: Vec<(&str, &str)> = messages
            .iter()
            .filter_map(|m| Some((m.account_id.as_str(), m.endpoint_id.as_deref()?)))
            .collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        let mut campaigns: Vec<(&str, &str)> = messages
            .iter()
            .filter_map(|m| Some((m.account_id.as_str(), m.campaign_id.as_deref()?)))
            .collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        let mut wanted: HashMap<String, Vec<Key>> = HashMap::new();
        for (account_id, id) in campaigns {
            wanted
                .entry(self.tables.campaigns.clone())
                .or_default()
                .push(HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("campaign_id".to_owned(), s(id)),
                ]));
        }
        for (account_id, id) in notifications {
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
        for (account_id, id) in &endpoints {
            wanted
                .entry(self.tables.endpoints.clone())
                .or_default()
                .push(endpoint_key(account_id, id));
        }
        let mut read = BatchRead::default();
        self.batch_get(wanted, by_version, &mut read).await?;
        let mut stale: Vec<&str> = Vec::new();
        for (id, account) in &cached {
            match read.versions.get(*id) {
                Some(v) if *v == account.settings_version => {
                    read.accounts.insert((*id).to_owned(), account.clone());
                }
                Some(_) => stale.push(id),
                None => cache.forget(id),
            }
        }
        // Endpoints the messages did not name: read them now.
        let mut missing: Vec<(String, String)> = read
            .notifications
            .values()
            .filter_map(|n| {
                let id = n.endpoint().filter(|id| *id != DEFAULT_ENDPOINT_ID)?;
                let named = endpoints.contains(&(n.account_id.as_str(), id));
                (!named).then(|| (n.account_id.clone(), id.to_owned()))
            })
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let mut wanted: HashMap<String, Vec<Key>> = HashMap::new();
        if !missing.is_empty() {
            let keys = missing.iter().map(|(a, e)| endpoint_key(a, e)).collect();
            wanted.insert(self.tables.endpoints.clone(), keys);
        }
        if !stale.is_empty() {
            let keys = stale
                .iter()
                .map(|id| HashMap::from([("account_id".to_owned(), s(id))]))
                .collect();
            wanted.insert(self.tables.accounts.clone(), keys);
        }
        if !wanted.is_empty() {
            self.batch_get(wanted, false, &mut read).await?;
        }
        for account in read.accounts.values() {
            if let Some(e) = account.default_endpoint() {
                read.endpoints
                    .insert((e.account_id.clone(), e.endpoint_id.clone()), e);
            }
            if !cached.contains_key(account.account_id.as_str())
                || stale.contains(&account.account_id.as_str())
            {
                cache.put(account.clone());
            }
        }
        Ok(read)
    }

    /// Reads `wanted` into `read`, asking again for what DynamoDB left
    /// unprocessed; accounts by version only if `accounts_by_version`.
    async fn batch_get(
        &self,
        mut wanted: HashMap<String, Vec<Key>>,
        accounts_by_version: bool,
        read: &mut BatchRead,
    ) -> Result<()> {
        for round in 0..UNPROCESSED_TRIES {
            if wanted.is_empty() {
                return Ok(());
            }
            if round > 0 {
                // DynamoDB throttled part of the read: back off a little.
                tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
            }
            let mut request = self.client.batch_get_item();
            for (table, keys) in wanted.drain() {
                let by_version = accounts_by_version && table == self.tables.accounts;
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .set_projection_expression(
                        by_version.then(|| "account_id, settings_version".to_owned()),
                    )
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
                    } else if table == self.tables.campaigns {
                        let c: Campaign = de(item)?;
                        read.campaigns
                            .insert((c.account_id.clone(), c.campaign_id.clone()), c);
                    } else if table == self.tables.endpoints {
                        let e: Endpoint = de(item)?;
                        read.endpoints
                            .insert((e.account_id.clone(), e.endpoint_id.clone()), e);
                    } else if accounts_by_version {
                        let v: AccountVersion = de(item)?;
                        read.versions.insert(v.account_id, v.settings_version);
                    } else {
                        let a: Account = de(item)?;
                        read.accounts.insert(a.account_id.clone(), Arc::new(a));
                    }
                }
            }
            for (table, left) in out.unprocessed_keys.unwrap_or_default() {
                wanted.insert(table, left.keys);
            }
        }
        match wanted.is_empty() {
            true => Ok(()),
            false => Err(Error::Dependency(
                "DynamoDB left part of a batch read unprocessed; SQS will hand the batch out again"
                    .into(),
            )),
        }
    }
}

fn endpoint_key(account_id: &str, endpoint_id: &str) -> Key {
    HashMap::from([
        ("account_id".to_owned(), s(account_id)),
        ("endpoint_id".to_owned(), s(endpoint_id)),
    ])
}
