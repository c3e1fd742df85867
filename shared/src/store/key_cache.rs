//! The account each API key of the older shape (`inc_<64 hex>`, which does
//! not name its account) belongs to, as a warm instance has read it.
//! A key never moves to another account, so only the mapping is kept;
//! whether the key still exists is asked at every request, in the same
//! `BatchGetItem` as the account — one DynamoDB call per authenticated
//! request, and a revoked key refused at its next request all the same.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a mapping is kept (it never goes stale; this bounds memory).
const KEY_CACHE_TTL: Duration = Duration::from_secs(3600);
/// At most this many keys per instance.
const KEY_CACHE_MAX: usize = 10_000;

#[derive(Debug, Default)]
pub struct KeyCache {
    /// Key hash → account id, and when it was read.
    keys: Mutex<HashMap<String, (String, Instant)>>,
}

impl KeyCache {
    /// The account a key hash was last read to belong to.
    pub fn account_of(&self, key_hash: &str) -> Option<String> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let (account_id, read_at) = keys.get(key_hash)?;
        (read_at.elapsed() < KEY_CACHE_TTL).then(|| account_id.clone())
    }

    pub fn put(&self, key_hash: &str, account_id: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= KEY_CACHE_MAX {
            keys.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            if keys.len() >= KEY_CACHE_MAX {
                keys.clear();
            }
        }
        keys.insert(key_hash.to_owned(), (account_id.to_owned(), Instant::now()));
    }

    pub fn forget(&self, key_hash: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(key_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_kept_until_forgotten_and_the_cache_stays_bounded() {
        let cache = KeyCache::default();
        assert_eq!(cache.account_of("h1"), None);
        cache.put("h1", "acc_1");
        assert_eq!(cache.account_of("h1").as_deref(), Some("acc_1"));
        cache.forget("h1");
        assert_eq!(cache.account_of("h1"), None);
        for i in 0..=KEY_CACHE_MAX {
            cache.put(&format!("h{i}"), "acc");
        }
        let held = cache.keys.lock().expect("lock").len();
        assert!(held <= KEY_CACHE_MAX, "{held}");
        assert!(cache.account_of(&format!("h{KEY_CACHE_MAX}")).is_some());
    }
}
