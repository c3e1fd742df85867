//! The recipient token (contract section 14): what a merchant's server asks
//! INC for and hands to its app, so the app can read its recipient's feed
//! and open the feed's socket — and nothing else. A JWT (HS256) naming one
//! recipient of one account, at most 24 hours long, signed with a key
//! derived from the account's signing secret (rotating the secret ends
//! every token). The account rides in the header's `kid`, so a token is
//! checked against its own account's key; an API key is never one.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The longest a token lives.
pub const MAX_TTL: Duration = Duration::hours(24);
/// How long a token lives unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::hours(1);
const TYPE: &str = "recipient";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    sub: String,
    acc: String,
    typ: String,
    iat: i64,
    exp: i64,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    pub account_id: String,
    pub recipient_id: String,
    pub expires_at: DateTime<Utc>,
}

/// The token key of an account: HMAC of a fixed label under its secret.
fn key(signing_secret: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("any key size");
    mac.update(b"inc recipient token v1");
    mac.finalize().into_bytes().to_vec()
}

/// A token for `recipient_id` of `account_id`, valid for `ttl` (at most
/// [`MAX_TTL`]) from `now`.
pub fn issue(
    account_id: &str,
    recipient_id: &str,
    signing_secret: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>)> {
    let expires_at = now + ttl.min(MAX_TTL);
    let claims = Claims {
        sub: recipient_id.to_owned(),
        acc: account_id.to_owned(),
        typ: TYPE.to_owned(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(account_id.to_owned());
    let signing_key = jsonwebtoken::EncodingKey::from_secret(&key(signing_secret))
        .map_err(|e| Error::Dependency(format!("cannot make a token key: {e}")))?;
    let token = jsonwebtoken::encode(&header, &claims, &signing_key)
        .map_err(|e| Error::Dependency(format!("cannot sign a token: {e}")))?;
    Ok((token, expires_at))
}

/// The account a token says it is from, unverified: which key to check it
/// with. `None` if it is no token of ours.
pub fn account_of(token: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    (header.alg == jsonwebtoken::Algorithm::HS256)
        .then_some(header.kid)
        .flatten()
        .filter(|kid| kid.starts_with("acc_") && kid.len() <= 64)
}

/// Checks a token with its account's secret at `now`: who it speaks for,
/// or `401` (forged, another account's, expired, not a recipient token).
pub fn verify(
    token: &str,
    account_id: &str,
    signing_secret: &str,
    now: DateTime<Utc>,
) -> Result<Bearer> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Checked below against `now`, so tests and clocks agree.
    validation.validate_exp = false;
    validation.required_spec_claims = ["sub", "exp"].iter().map(|s| (*s).to_owned()).collect();
    let checking_key = jsonwebtoken::DecodingKey::from_secret(&key(signing_secret))
        .map_err(|_| Error::Unauthorized)?;
    let data = jsonwebtoken::decode::<Claims>(token, &checking_key, &validation)
        .map_err(|_| Error::Unauthorized)?;
    let c = data.claims;
    let expires_at = DateTime::from_timestamp(c.exp, 0).ok_or(Error::Unauthorized)?;
    if c.typ != TYPE
        || c.acc != account_id
        || expires_at <= now
        || c.exp - c.iat > MAX_TTL.num_seconds()
    {
        return Err(Error::Unauthorized);
    }
    Ok(Bearer {
        account_id: c.acc,
        recipient_id: c.sub,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_speaks_for_one_recipient_of_one_account_until_it_expires() {
        let now = Utc::now();
        let (token, expires) =
            issue("acc_1", "ada", "whsec_one", Duration::hours(2), now).expect("signed");
        assert_eq!(expires, now + Duration::hours(2));
        assert_eq!(account_of(&token).as_deref(), Some("acc_1"));
        let bearer = verify(&token, "acc_1", "whsec_one", now).expect("valid");
        assert_eq!(bearer.recipient_id, "ada");
        // Another account's key, another secret, a later time, a forgery.
        assert!(verify(&token, "acc_2", "whsec_one", now).is_err());
        assert!(verify(&token, "acc_1", "whsec_two", now).is_err());
        assert!(verify(&token, "acc_1", "whsec_one", now + Duration::hours(3)).is_err());
        // One signature character changed: not the last, whose low bits
        // are padding, and never to itself (it was 'A' once in 16 runs).
        let mut forged: Vec<char> = token.chars().collect();
        let at = forged.len() - 5;
        forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        assert_ne!(forged, token);
        assert!(verify(&forged, "acc_1", "whsec_one", now).is_err());
        // At most a day, whatever is asked.
        let (_, long) =
            issue("acc_1", "ada", "whsec_one", Duration::days(30), now).expect("signed");
        assert_eq!(long, now + MAX_TTL);
        assert_eq!(account_of("inc_0123"), None, "an API key is no token");
    }
}
