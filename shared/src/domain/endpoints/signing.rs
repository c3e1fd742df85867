//! Standard Webhooks signatures (<https://www.standardwebhooks.com>):
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! keyed with the account's `whsec_` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::error::{Error, Result};

pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` value for one attempt, made by the Standard
/// Webhooks reference library.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let signer = standardwebhooks::Webhook::new(secret)
        .map_err(|_| Error::Config("the account's signing secret is not valid base64".into()))?;
    signer
        .sign(msg_id, timestamp, body)
        .map_err(|e| Error::Config(format!("cannot sign the webhook: {e}")))
}

/// The `webhook-signature` value when several secrets sign: one `v1,…`
/// per secret, space-separated, so a receiver holding either verifies.
pub fn sign_all(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let signatures = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Result<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// The secrets that sign a webhook at `now`: the current one, and the one a
/// rotation replaced until its overlap ends (`previous_until`).
pub fn active_secrets<'a>(
    current: &'a str,
    previous: Option<&'a str>,
    previous_until: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<&'a str> {
    let mut secrets = vec![current];
    if let (Some(old), Some(until)) = (previous, previous_until)
        && now < until
    {
        secrets.push(old);
    }
    secrets
}

/// The hex SHA-256 of a webhook body, as the log keeps it (and `POST
/// /v1/ipn/verify` finds it by).
pub fn body_sha256(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification's libraries.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn several_secrets_sign_side_by_side() {
        let (a, b) = (new_secret(), new_secret());
        let both = sign_all(&[&a, &b], "m", 1, b"x").unwrap();
        assert_eq!(
            both,
            format!(
                "{} {}",
                sign(&a, "m", 1, b"x").unwrap(),
                sign(&b, "m", 1, b"x").unwrap()
            )
        );
    }

    #[test]
    fn new_secrets_are_distinct_and_usable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert!(sign(&a, "m", 1, b"x").is_ok());
    }

    /// Properties of what INC sends, checked by the Standard Webhooks
    /// library's own verifier (not by our code): a delivery verifies, and
    /// any tampering with it is rejected.
    mod properties {
        use super::*;
        use axum::http::{HeaderMap, HeaderValue};
        use proptest::prelude::*;
        use standardwebhooks::Webhook;

        fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
            let mut h = HeaderMap::new();
            h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
            h.insert("webhook-timestamp", HeaderValue::from(timestamp));
            h.insert(
                "webhook-signature",
                HeaderValue::from_str(signature).unwrap(),
            );
            h
        }

        fn now() -> i64 {
            chrono::Utc::now().timestamp()
        }

        fn delivery() -> impl Strategy<Value = (String, String, String)> {
            (
                Just(()).prop_map(|_| new_secret()),
                "ntf_[0-9A-Z]{26}",
                // Form and JSON bodies: any text, emoji and all.
                "\\PC{1,200}",
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn every_delivery_verifies((secret, id, body) in delivery()) {
                let ts = now();
                let sig = sign_all(&[&secret, &new_secret()], &id, ts, body.as_bytes()).unwrap();
                let verifier = Webhook::new(&secret).unwrap();
                prop_assert!(verifier.verify(body.as_bytes(), &headers(&id, ts, &sig)).is_ok());
            }

            #[test]
            fn any_bit_flip_in_the_body_is_rejected((secret, id, body) in delivery(), bit in any::<prop::sample::Index>()) {
                let ts = now();
                let sig = sign(&secret, &id, ts, body.as_bytes()).unwrap();
                let mut tampered = body.clone().into_bytes();
                let i = bit.index(tampered.len() * 8);
                tampered[i / 8] ^= 1 << (i % 8);
                let verifier = Webhook::new(&secret).unwrap();
                prop_assert!(verifier.verify(&tampered, &headers(&id, ts, &sig)).is_err());
            }

            #[test]
            fn any_bit_flip_in_the_signature_is_rejected((secret, id, body) in delivery(), bit in any::<prop::sample::Index>()) {
                let ts = now();
                let sig = sign(&secret, &id, ts, body.as_bytes()).unwrap();
                let (prefix, b64) = sig.split_at(3);
                let mut raw = STANDARD.decode(b64).unwrap();
                let i = bit.index(raw.len() * 8);
                raw[i / 8] ^= 1 << (i % 8);
                let tampered = format!("{prefix}{}", STANDARD.encode(raw));
                let verifier = Webhook::new(&secret).unwrap();
                prop_assert!(verifier.verify(body.as_bytes(), &headers(&id, ts, &tampered)).is_err());
            }

            #[test]
            fn truncations_are_rejected((secret, id, body) in delivery(), cut in any::<prop::sample::Index>()) {
                let ts = now();
                let sig = sign(&secret, &id, ts, body.as_bytes()).unwrap();
                let verifier = Webhook::new(&secret).unwrap();
                let short_body = &body.as_bytes()[..cut.index(body.len())];
                prop_assert!(verifier.verify(short_body, &headers(&id, ts, &sig)).is_err());
                let short_sig = &sig[..cut.index(sig.len())];
                prop_assert!(verifier.verify(body.as_bytes(), &headers(&id, ts, short_sig)).is_err());
                prop_assert!(verifier.verify(body.as_bytes(), &headers(&id, ts, "v1,")).is_err());
            }

            #[test]
            fn another_id_or_secret_is_rejected((secret, id, body) in delivery(), other in "ntf_[0-9A-Z]{26}") {
                prop_assume!(other != id);
                let ts = now();
                let sig = sign(&secret, &id, ts, body.as_bytes()).unwrap();
                prop_assert!(Webhook::new(&secret).unwrap().verify(body.as_bytes(), &headers(&other, ts, &sig)).is_err());
                prop_assert!(Webhook::new(&new_secret()).unwrap().verify(body.as_bytes(), &headers(&id, ts, &sig)).is_err());
            }

            #[test]
            fn a_timestamp_outside_five_minutes_is_rejected((secret, id, body) in delivery(), skew in 301i64..10_000_000, late in any::<bool>()) {
                // Signed honestly, but at a time more than 5 minutes away.
                let ts = if late { now() - skew } else { now() + skew };
                let sig = sign(&secret, &id, ts, body.as_bytes()).unwrap();
                prop_assert!(Webhook::new(&secret).unwrap().verify(body.as_bytes(), &headers(&id, ts, &sig)).is_err());
            }
        }
    }

    #[test]
    fn a_rotated_out_secret_signs_until_its_overlap_ends() {
        let now = chrono::Utc::now();
        let until = Some(now + SECRET_OVERLAP);
        assert_eq!(
            active_secrets("new", Some("old"), until, now),
            ["new", "old"]
        );
        assert_eq!(
            active_secrets("new", Some("old"), until, now + SECRET_OVERLAP),
            ["new"]
        );
        assert_eq!(active_secrets("new", None, None, now), ["new"]);
    }
}
