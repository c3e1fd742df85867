//! The routes (what an event's endpoints are decided by) of the accounts a
//! warm instance has sent events for. Every write that changes them (an
//! endpoint created, changed, deleted or disabled by its health) bumps the
//! account's `routes_version` in the same transaction, and each event reads
//! its account anyway (the key is checked with it, consistently): cached
//! routes are used only while their version is the one just read, so a
//! change is seen by the next event, as a fresh query would see it. Routes
//! cached under a version are never older than it: the query that filled
//! them ran after the version was read.
//!
//! The TTL is not what keeps the routes right; it bounds how long a write
//! that did not bump the version (an instance of a release before this one,
//! during a deploy; a hand edit in the console) could go unseen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::endpoints::endpoint::Route;

/// How long cached routes may be used at the same version.
pub const ROUTES_CACHE_TTL: Duration = Duration::from_secs(10);
/// At most this many accounts per instance.
const ROUTES_CACHE_MAX: usize = 1_000;

#[derive(Debug, Default)]
pub struct RoutesCache {
    accounts: Mutex<HashMap<String, Cached>>,
}

/// An account's routes, the version they were read at, and when.
#[derive(Debug)]
struct Cached {
    version: u64,
    routes: Arc<[Route]>,
    read_at: Instant,
}

impl RoutesCache {
    /// The account's routes, if they were read at `version` less than the
    /// TTL ago.
    pub fn fresh(&self, account_id: &str, version: u64) -> Option<Arc<[Route]>> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let cached = accounts.get(account_id)?;
        (cached.version == version && cached.read_at.elapsed() < ROUTES_CACHE_TTL)
            .then(|| cached.routes.clone())
    }

    pub fn put(&self, account_id: &str, version: u64, routes: Arc<[Route]>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if accounts.len() >= ROUTES_CACHE_MAX && !accounts.contains_key(account_id) {
            accounts.retain(|_, cached| cached.read_at.elapsed() < ROUTES_CACHE_TTL);
            if accounts.len() >= ROUTES_CACHE_MAX {
                accounts.clear();
            }
        }
        let read_at = Instant::now();
        accounts.insert(
            account_id.to_owned(),
            Cached {
                version,
                routes,
                read_at,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WebhookFormat;

    fn routes(id: &str) -> Arc<[Route]> {
        Arc::from(vec![Route {
            endpoint_id: id.to_owned(),
            format: WebhookFormat::default(),
            enabled: true,
            filter_types: None,
        }])
    }

    #[test]
    fn routes_are_used_only_at_the_version_they_were_read_at() {
        let cache = RoutesCache::default();
        assert!(cache.fresh("acc_1", 0).is_none(), "nothing read yet");
        cache.put("acc_1", 3, routes("ep_a"));
        assert_eq!(cache.fresh("acc_1", 3).unwrap()[0].endpoint_id, "ep_a");
        assert!(cache.fresh("acc_1", 4).is_none(), "a newer version misses");
        assert!(cache.fresh("acc_2", 3).is_none(), "another account misses");
        cache.put("acc_1", 4, routes("ep_b"));
        assert!(
            cache.fresh("acc_1", 3).is_none(),
            "replaced by the newer read"
        );
        assert_eq!(cache.fresh("acc_1", 4).unwrap()[0].endpoint_id, "ep_b");
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_accounts() {
        let cache = RoutesCache::default();
        for i in 0..ROUTES_CACHE_MAX + 10 {
            cache.put(&format!("acc_{i}"), 1, routes("ep_a"));
        }
        let held = cache.accounts.lock().unwrap().len();
        assert!(held <= ROUTES_CACHE_MAX, "{held} accounts held");
        assert!(
            cache
                .fresh(&format!("acc_{}", ROUTES_CACHE_MAX + 9), 1)
                .is_some()
        );
    }
}
