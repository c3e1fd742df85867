//! Accounts a warm deliver instance has read, kept for a few seconds so
//! that a batch need not read and decode its account again. Each batch
//! still asks DynamoDB for the account's `settings_version` (a projected
//! read, in the same `BatchGetItem`): a cached account is used only while
//! its version is the stored one, so a settings change or a secret
//! rotation (both bump the version) takes effect at the next batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Account;

/// How long a cached account may be used (each batch checks its version).
pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct AccountCache {
    accounts: Mutex<HashMap<String, (Arc<Account>, Instant)>>,
}

impl AccountCache {
    /// The cached account, if it was read less than the TTL ago.
    pub fn fresh(&self, account_id: &str) -> Option<Arc<Account>> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let (account, read_at) = accounts.get(account_id)?;
        (read_at.elapsed() < ACCOUNT_CACHE_TTL).then(|| account.clone())
    }

    pub fn put(&self, account: Arc<Account>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.retain(|_, (_, at)| at.elapsed() < ACCOUNT_CACHE_TTL);
        accounts.insert(account.account_id.clone(), (account, Instant::now()));
    }

    pub fn forget(&self, account_id: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.remove(account_id);
    }
}
