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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_messages_that_fail_for_good_go_by_sms_once() {
    use inc_shared::domain::messages::receipts::whatsapp_signature;
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    // A Cloud API that refuses every other message for good (not a
    // WhatsApp user), then a seventh.
    let wa = Sink::answering(&[400, 200, 400, 200, 400, 200, 400]).await;
    let whatsapp = |fallback: serde_json::Value| {
        json!({"channels": {"whatsapp": {"base_url": format!("http://{}/v21.0", wa.addr),
            "phone_number_id": "1234567890", "access_token": "wa-token-5678",
            "app_secret": "app-secret-1", "fallback": fallback}}})
    };
    let (status, body) = t.patch_settings(key, whatsapp(json!("email"))).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("channels.whatsapp.fallback")),
        "{body}"
    );
    let (status, body) = t.patch_settings(key, whatsapp(json!("sms"))).await;
    assert_eq!(status, 200, "{body}");
    for (path, languages) in [
        (
            "/v1/templates/whatsapp/pickup",
            json!({"en": {"template": "car_ready", "parameters": ["{{ name }}"]}}),
        ),
        (
            "/v1/templates/sms/pickup",
            json!({"en": {"body": "Hi {{ name }}, your car is ready for pickup."}}),
        ),
    ] {
        let (status, body) = t
            .call(
                reqwest::Method::PUT,
                path,
                key,
                Some(json!({ "languages": languages })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Six messages: three refused, each sent once by SMS instead.
    let mut sent = Vec::new();
    for i in 0..6 {
        let (status, body) = t
            .send_json(
                "/v1/messages",
                key,
                json!({"id": format!("wa-{i}"), "channel": "whatsapp", "to": "+393331234567",
                       "template": "pickup", "data": {"name": format!("Marco {i}")}, "reference": "pickups"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        sent.push(body["notification_id"].as_str().unwrap().to_owned());
    }
    let settled = |ids: Vec<String>| {
        let t = &t;
        async move {
            eventually("every message and fallback final", PATIENCE, || async {
                let mut all = Vec::new();
                for id in &ids {
                    let (_, n) = t.get(key, &format!("/v1/notifications/{id}")).await;
                    if !(n["status"] == "delivered" || n["status"] == "failed") {
                        return None;
                    }
                    if let Some(sms) = n["fallback"].as_str() {
                        let (_, f) = t.get(key, &format!("/v1/notifications/{sms}")).await;
                        if f["status"] != "delivered" {
                            return None;
                        }
                    }
                    all.push(n);
                }
                Some(all)
            })
            .await
        }
    };
    let whatsapps = settled(sent.clone()).await;
    let refused: Vec<&serde_json::Value> = whatsapps
        .iter()
        .filter(|n| n["status"] == "failed")
        .collect();
    let fallbacks: Vec<String> = refused
        .iter()
        .map(|n| n["fallback"].as_str().expect("a fallback").to_owned())
        .collect();
    assert!(
        whatsapps
            .iter()
            .filter(|n| n["status"] == "delivered")
            .all(|n| n["fallback"].is_null()),
        "only what failed falls back"
    );
    // The ledger: refused = fallbacks sent, none twice, each linked back.
    let gateway = sms_by_custom(&s.sms);
    println!(
        "whatsapp fallback ledger: sent={} refused={} fallbacks={} sms_requests={}",
        whatsapps.len(),
        refused.len(),
        fallbacks.len(),
        gateway.values().sum::<usize>()
    );
    assert_eq!(refused.len(), 3);
    assert_eq!(gateway.len(), 3, "{gateway:?}");
    for (wa_n, sms_id) in refused.iter().zip(&fallbacks) {
        assert_eq!(gateway.get(sms_id), Some(&1), "{sms_id} sent once");
        let (_, f) = t.get(key, &format!("/v1/notifications/{sms_id}")).await;
        assert_eq!(f["fallback_of"], wa_n["id"]);
        assert_eq!(f["reference"], "pickups");
        assert!(
            f["request"]["text"]
                .as_str()
                .is_some_and(|text| text.starts_with("Hi Marco ")),
            "{f}"
        );
    }

    // A delivered one whose receipt says it never arrived: by SMS too,
    // once however many times the receipt comes.
    let delivered = whatsapps
        .iter()
        .find(|n| n["status"] == "delivered")
        .expect("a delivered one");
    let wamid = delivered["attempts"][0]["provider_message_id"]
        .as_str()
        .expect("its id");
    let (_, settings) = t.get(key, "/v1/settings").await;
    let url = settings["receipt_urls"]["whatsapp"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed =
        json!({"entry": [{"changes": [{"value": {"statuses": [{"id": wamid, "status": "failed",
        "timestamp": chrono::Utc::now().timestamp().to_string(),
        "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}]})
        .to_string();
    let signature = whatsapp_signature("app-secret-1", failed.as_bytes());
    let posts = (0..3).map(|_| {
        t.http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", &signature)
            .body(failed.clone())
            .send()
    });
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.expect("answer").status().as_u16(), 200);
    }
    let after = settled(vec![delivered["id"].as_str().unwrap().to_owned()]).await;
    let sms_id = after[0]["fallback"]
        .as_str()
        .expect("a fallback")
        .to_owned();
    assert_eq!(after[0]["receipt"]["status"], "undelivered");
    assert_eq!(sms_by_custom(&s.sms).get(&sms_id), Some(&1));

    // A payment's WhatsApp message, refused: the state's SMS text instead,
    // and the order's timeline shows both.
    let (status, body) = t
        .post_event(
            key,
            &super::payment(
                "pay-fb",
                "s_fb",
                "paid",
                json!({"notifications": {"whatsapp": ["paid"]}}),
            ),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let items = eventually("the WhatsApp message and its SMS", PATIENCE, || async {
        let items = super::notifications_of(&t, key, "s_fb").await;
        let sms = items.iter().find(|i| i["channel"] == "sms")?;
        (sms["status"] == "delivered").then_some(items)
    })
    .await;
    let wa_n = super::of(&items, "whatsapp");
    let sms = super::of(&items, "sms");
    assert_eq!(
        (&wa_n["status"], &wa_n["fallback"]),
        (&json!("failed"), &sms["id"])
    );
    assert_eq!(sms["fallback_of"], wa_n["id"]);
    assert_eq!(
        sms["request"]["text"],
        "Hi Asha, we received your payment of 19.000 KWD for order order-s_fb. Thank you!"
    );
    let (_, order) = t.get(key, "/v1/transactions/s_fb").await;
    let channels: Vec<&str> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "attempt")
        .filter_map(|e| e["channel"].as_str())
        .collect();
    assert!(
        channels.contains(&"whatsapp") && channels.contains(&"sms"),
        "{order}"
    );
    assert!(
        order["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "notification"
                && e["notification_id"] == sms["id"]
                && e["fallback_of"] == wa_n["id"]),
        "the timeline links the SMS to the WhatsApp message: {order}"
    );

    // The SMS's receipt comes; whoever resends sees both messages, linked,
    // and what the customer's phone said.
    let sms_receipts = settings["receipt_urls"]["sms"].as_str().unwrap();
    let report = format!(
        "ipn_type=DELIVERY&status=RESULT_OK&status_code=-1&custom={}",
        sms["id"].as_str().unwrap()
    );
    let posted = t
        .http
        .post(sms_receipts)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(report)
        .send()
        .await
        .expect("answer");
    assert_eq!(posted.status().as_u16(), 200);
    let (status, body) = t
        .send_json(
            "/v1/notifications/resend",
            key,
            json!({"order_no": "order-s_fb", "channels": ["whatsapp", "sms"], "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let last = |i: usize| body["results"][i]["last"].clone();
    assert_eq!(
        (
            &last(0)["notification_id"],
            &last(0)["status"],
            &last(0)["fallback"]
        ),
        (&wa_n["id"], &json!("failed"), &sms["id"]),
        "{body}"
    );
    assert_eq!(
        (
            &last(1)["notification_id"],
            &last(1)["fallback_of"],
            &last(1)["receipt"]["status"]
        ),
        (&sms["id"], &wa_n["id"], &json!("delivered")),
        "{body}"
    );
}

/// The SMS gateway's requests per notification id (`custom`).
fn sms_by_custom(gateway: &Sink) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in gateway.received() {
        let fields: BTreeMap<String, String> = serde_urlencoded::from_str(&r.body).expect("form");
        *by.entry(fields["custom"].clone()).or_default() += 1;
    }
    by
}
