//! Mobile push (contract section 14), as pure rules: what FCM's HTTP v1
//! API and APNs are sent, the credentials INC signs for each, how long
//! those are kept, and what each provider's answer means — including the
//! answers that say a device is gone for good.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::delivery::outcome::AttemptOutcome;

/// The OAuth 2.0 scope of FCM's send API.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long an FCM access token is used: until this long before Google
/// says it expires.
pub const FCM_TOKEN_MARGIN_SECS: u64 = 300;
/// How long an APNs provider token is used: Apple wants one renewed no
/// more often than every 20 minutes and no later than every 60
/// (`TooManyProviderTokenUpdates`, `ExpiredProviderToken`); INC renews at
/// 40, inside 20–50.
pub const APNS_TOKEN_LIFE_SECS: u64 = 40 * 60;

/// The claims of the JWT a service account exchanges for an access token
/// (RFC 7523).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FcmAssertion {
    pub iss: String,
    pub scope: &'static str,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

impl FcmAssertion {
    pub fn new(client_email: &str, token_uri: &str, now: i64) -> FcmAssertion {
        FcmAssertion {
            iss: client_email.to_owned(),
            scope: FCM_SCOPE,
            aud: token_uri.to_owned(),
            iat: now,
            exp: now + 3600,
        }
    }
}

/// The claims of an APNs provider token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApnsClaims {
    pub iss: String,
    pub iat: i64,
}

/// FCM's `messages:send` body for one device.
pub fn fcm_message(token: &str, title: &str, body: &str, data: &BTreeMap<String, String>) -> Value {
    let mut message = json!({
        "token": token,
        "notification": {"title": title, "body": body},
    });
    if !data.is_empty() {
        message["data"] = json!(data);
    }
    json!({ "message": message })
}

/// APNs' payload: the alert under `aps`, the data beside it.
pub fn apns_payload(title: &str, body: &str, data: &BTreeMap<String, String>) -> Value {
    let mut payload = json!({"aps": {"alert": {"title": title, "body": body}, "sound": "default"}});
    for (k, v) in data {
        if k != "aps" {
            payload[k] = json!(v);
        }
    }
    payload
}

/// What a push provider's answer means for the attempt, and whether the
/// device is gone for good (to be removed).
pub fn outcome(status: Option<u16>, answer: Option<&str>) -> (AttemptOutcome, bool) {
    let unregistered = match status {
        // APNs: the token is no longer active for the topic.
        Some(410) => true,
        // FCM: `UNREGISTERED` (404, sometimes 400 with the detail).
        Some(400 | 404) => answer.is_some_and(|a| a.contains("UNREGISTERED")),
        _ => false,
    };
    match unregistered {
        true => (AttemptOutcome::Stop, true),
        false => (AttemptOutcome::of_provider(status, false), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_alert_and_the_data() {
        let data = BTreeMap::from([("order".to_owned(), "A-17".to_owned())]);
        let fcm = fcm_message("tok", "Ready", "Your order is ready", &data);
        assert_eq!(fcm["message"]["notification"]["title"], "Ready");
        assert_eq!(fcm["message"]["data"]["order"], "A-17");
        let apns = apns_payload("Ready", "Your order is ready", &data);
        assert_eq!(apns["aps"]["alert"]["body"], "Your order is ready");
        assert_eq!(apns["order"], "A-17");
    }

    #[test]
    fn a_gone_device_is_told_from_a_failure() {
        assert_eq!(outcome(Some(410), None), (AttemptOutcome::Stop, true));
        let unregistered = r#"{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}"#;
        assert_eq!(
            outcome(Some(404), Some(unregistered)),
            (AttemptOutcome::Stop, true)
        );
        assert_eq!(
            outcome(Some(400), Some(r#"{"error": "INVALID_ARGUMENT"}"#)),
            (AttemptOutcome::Stop, false)
        );
        assert_eq!(outcome(Some(503), None), (AttemptOutcome::Retry, false));
        assert_eq!(outcome(Some(429), None), (AttemptOutcome::Retry, false));
        assert_eq!(outcome(Some(200), None), (AttemptOutcome::Delivered, false));
    }
}
