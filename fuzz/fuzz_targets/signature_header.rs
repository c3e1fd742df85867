//! The `webhook-signature` header as a receiver parses it, with the
//! verifier INC's README recommends: no header value made up by an attacker
//! verifies, and none panics. A readable value that carries INC's real
//! signature verifies whatever surrounds it.
#![no_main]

use http::{HeaderMap, HeaderValue};
use inc_shared::domain::endpoints::signing;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|input: (&[u8], &[u8])| {
    let (header, body) = input;
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    // A receiver reads the header as visible ASCII; one it cannot read is
    // refused whatever it carries (found by this target: a genuine
    // signature beside non-ASCII bytes). Refusing is the safe side.
    let readable = value.to_str().is_ok();
    let now = chrono::Utc::now().timestamp();
    let mut headers = HeaderMap::new();
    headers.insert(
        "webhook-id",
        HeaderValue::from_static("ntf_01JJ0000000000000000000000"),
    );
    headers.insert("webhook-timestamp", HeaderValue::from(now));
    headers.insert("webhook-signature", value);
    let verifier = standardwebhooks::Webhook::new(SECRET).expect("secret");
    let genuine = std::str::from_utf8(body)
        .ok()
        .and_then(|_| signing::sign(SECRET, "ntf_01JJ0000000000000000000000", now, body).ok());
    let verified = verifier.verify(body, &headers).is_ok();
    let carries_genuine = readable
        && genuine.is_some_and(|sig| {
            std::str::from_utf8(header).is_ok_and(|h| h.split(' ').any(|part| part == sig))
        });
    assert_eq!(
        verified,
        carries_genuine,
        "{:?}",
        String::from_utf8_lossy(header)
    );
});
