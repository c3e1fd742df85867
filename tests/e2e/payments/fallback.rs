//! A second SMS gateway (contract section 10): after the primary failed
//! twice in a row with a 5xx, the next attempt goes to the fallback, and
//! every attempt names the gateway it used.

use std::collections::BTreeMap;

use inc_tests::{PATIENCE, Sink, TestStack, eventually, json};

use super::shop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_gateway_sends_after_the_primary_failed_twice() {
    // Three attempts with no wait between them.
    let t = TestStack::start().await;
    let s = shop(&t, &[500, 503]).await;
    let key = &s.acct.key;
    let fallback = Sink::start().await;

    let (status, body) = t
        .patch_settings(
            key,
            json!({"channels": {"sms": {"fallback": {"url": "ftp://x", "api_key": "fb-key-9999"}}}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("channels.sms.fallback.url")),
        "{body}"
    );
    let (status, body) = t
        .patch_settings(
            key,
            json!({"channels": {"sms": {"fallback": {"url": format!("http://{}/sms", fallback.addr),
                "api_key": "fb-key-9999", "sender": "SHOP2"}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channels"]["sms"]["fallback"]["api_key"], "****9999");

    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "fb-1", "channel": "sms", "to": "+393331234567", "text": "Your car is ready."}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let nid = body["notification_id"].as_str().unwrap().to_owned();
    let n = eventually("the message delivered", PATIENCE, || async {
        let (_, n) = t.get(key, &format!("/v1/notifications/{nid}")).await;
        (n["status"] == "delivered").then_some(n)
    })
    .await;
    let attempts: Vec<(u64, &str)> = n["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status_code"].as_u64().unwrap_or(0),
                a["provider"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(500, "primary"), (503, "primary"), (200, "fallback")],
        "{n}"
    );
    let got = fallback.wait_for(1).await;
    let fields: BTreeMap<String, String> = serde_urlencoded::from_str(&got[0].body).expect("form");
    assert_eq!(
        (
            fields["api"].as_str(),
            fields["from"].as_str(),
            fields["custom"].as_str()
        ),
        ("fb-key-9999", "SHOP2", nid.as_str())
    );
    assert_eq!(s.sms.received().len(), 2, "the primary was tried twice");
}
