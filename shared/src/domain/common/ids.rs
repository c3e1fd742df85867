//! Identifiers and API keys.
//!
//! Ids carry a prefix that says what they name and a ULID, so they sort by
//! creation time: the history reads newest first straight off the table.
//! API keys name their account and carry 32 random bytes; only their
//! SHA-256 is stored, which is enough for a key of that entropy (no slow
//! hash needed).

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "inc_";

pub fn new_account_id() -> String {
    format!("acc_{}", ulid::Ulid::new())
}

pub fn new_key_id() -> String {
    format!("key_{}", ulid::Ulid::new())
}

pub fn new_endpoint_id() -> String {
    format!("ep_{}", ulid::Ulid::new())
}

pub fn new_notification_id() -> String {
    format!("ntf_{}", ulid::Ulid::new())
}

/// A new API key, shown to its owner once: `inc_<account id>_<64 hex>`.
/// Naming the account lets a cold instance read the key and its account in
/// one call; the name is only a hint, since the stored key (its hash) must
/// belong to that account.
pub fn new_api_key(account_id: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{API_KEY_PREFIX}{account_id}_{}", hex::encode(bytes))
}

/// The account a key names, if it is shaped like one (keys issued before
/// keys named their account are `inc_<64 hex>` and name none).
pub fn api_key_account(key: &str) -> Option<&str> {
    let (account, secret) = key.strip_prefix(API_KEY_PREFIX)?.rsplit_once('_')?;
    (account.starts_with("acc_") && secret.len() == 64).then_some(account)
}

/// A new receipt token (contract section 10): it names its account and is
/// unguessable (32 random bytes), so a receipt route finds the account in
/// one read and a guess finds nothing.
pub fn new_receipt_token(account_id: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("rct_{account_id}_{}", hex::encode(bytes))
}

/// The account a receipt token names, if it is shaped like one.
pub fn receipt_token_account(token: &str) -> Option<&str> {
    let (account, secret) = token.strip_prefix("rct_")?.rsplit_once('_')?;
    (account.starts_with("acc_") && secret.len() == 64).then_some(account)
}

/// Whether two tokens are the same, in time that does not depend on where
/// they differ (their digests are compared).
pub fn same_token(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// What is stored of a key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The id under which the settings' `endpoint_url` is listed.
pub const DEFAULT_ENDPOINT_ID: &str = "ep_default";

/// The endpoint id alert notifications carry.
pub const ALERTS_ENDPOINT_ID: &str = "alerts";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed_stably() {
        let account = new_account_id();
        let (a, b) = (new_api_key(&account), new_api_key(&account));
        assert_ne!(a, b);
        assert_eq!(a.len(), API_KEY_PREFIX.len() + account.len() + 1 + 64);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        let secret = a.rsplit_once('_').unwrap().1;
        assert!(!hash_api_key(&a).contains(secret));
    }

    #[test]
    fn a_key_names_its_account_and_an_old_key_none() {
        let account = new_account_id();
        assert_eq!(
            api_key_account(&new_api_key(&account)),
            Some(account.as_str())
        );
        let old = format!("{API_KEY_PREFIX}{}", "ab".repeat(32));
        assert_eq!(api_key_account(&old), None);
        for not_a_key in [
            "",
            "inc_",
            "inc_acc_01_short",
            "rct_acc_01_0000000000000000000000000000000000000000000000000000000000000000",
            "inc_ep_01_0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(api_key_account(not_a_key), None, "{not_a_key}");
        }
    }
}
