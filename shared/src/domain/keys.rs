//! Identifiers and API keys.
//!
//! Ids carry a prefix that says what they name and a ULID, so they sort by
//! creation time: the history reads newest first straight off the table.
//! API keys are 32 random bytes; only their SHA-256 is stored, which is
//! enough for a key of that entropy (no slow hash needed).

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

/// A new API key, shown to its owner once.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{API_KEY_PREFIX}{}", hex::encode(bytes))
}

/// What is stored of a key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed_stably() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 64);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert!(!hash_api_key(&a).contains(&a[4..]));
    }
}
