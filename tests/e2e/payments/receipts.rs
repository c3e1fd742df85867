//! SMS delivery receipts (contract section 10) end to end: the account's
//! receipt URL from its settings, Genio's DELIVERY IPN posted to it marks
//! the message INC sent (`custom`), a STOP reply opts its sender out — and
//! hostile posts change nothing: an unknown token `404`, a malformed body
//! `400`, a message INC does not know `200` and ignored.

use inc_tests::{PATIENCE, TestStack, eventually, json};
use serde_json::Value;

use super::shop;

/// Posts `form` to `url` (a receipt URL, absolute).
async fn post_form(t: &TestStack, url: &str, content_type: &str, form: &str) -> (u16, Value) {
    let response = t
        .http
        .post(url)
        .header("Content-Type", content_type)
        .body(form.to_owned())
        .send()
        .await
        .expect("the local stack answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn delivered_message(t: &TestStack, key: &str, id: &str, reference: &str) -> String {
    let n = t
        .delivered_message(
            key,
            json!({"id": id, "channel": "sms", "to": "+393331234567", "text": "Your car is ready.",
                   "reference": reference}),
        )
        .await;
    n["id"].as_str().expect("id").to_owned()
}

async fn receipt_of(t: &TestStack, key: &str, nid: &str) -> Value {
    t.get(key, &format!("/v1/notifications/{nid}")).await.1["receipt"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_receipts_mark_the_message_and_a_stop_reply_opts_out() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    let (status, settings) = t.get(key, "/v1/settings").await;
    assert_eq!(status, 200, "{settings}");
    let url = settings["receipt_urls"]["sms"]
        .as_str()
        .expect("an SMS receipt URL")
        .to_owned();
    assert!(url.starts_with(&t.url("/v1/receipts/sms/rct_")), "{url}");
    // The same URL every time.
    assert_eq!(
        t.get(key, "/v1/settings").await.1["receipt_urls"]["sms"],
        url.as_str()
    );
    let nid = delivered_message(&t, key, "r-1", "order-r1").await;
    assert_eq!(receipt_of(&t, key, &nid).await, Value::Null);

    // Hostile posts: nothing changes.
    let other = t.account(None).await;
    let (_, theirs) = t.get(&other.key, "/v1/settings").await;
    let report = |custom: &str, status: &str| {
        format!(
            "status={status}&status_code=-1&id_smsout=7&custom={custom}&ipn_type=DELIVERY&to=%2B393331234567"
        )
    };
    for wrong in [
        t.url("/v1/receipts/sms/rct_nope"),
        // The right account, its secret one digit off.
        format!(
            "{}{}",
            &url[..url.len() - 1],
            if url.ends_with('0') { '1' } else { '0' }
        ),
        // Another account's URL does not reach this account's messages.
        theirs["receipt_urls"]["sms"].as_str().unwrap().to_owned(),
    ] {
        let (status, body) = post_form(&t, &wrong, FORM, &report(&nid, "RESULT_OK")).await;
        if wrong.contains(&other.id) {
            assert_eq!(
                (status, &body["result"]),
                (200, &json!("ignored")),
                "{body}"
            );
        } else {
            assert_eq!(status, 404, "{wrong}: {body}");
        }
    }
    let (status, body) = post_form(&t, &url, FORM, "status=RESULT_OK&custom=x").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ipn_type")),
        "{body}"
    );
    let (status, _) = post_form(&t, &url, "application/json", "{}").await;
    assert_eq!(status, 415);
    let unknown = "ntf_01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let (status, body) = post_form(&t, &url, FORM, &report(unknown, "RESULT_OK")).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("ignored")),
        "{body}"
    );
    assert_eq!(receipt_of(&t, key, &nid).await, Value::Null);

    // Undelivered, then delivered: the later report stands.
    let (status, body) = post_form(&t, &url, FORM, &report(&nid, "RESULT_ERROR")).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("recorded")),
        "{body}"
    );
    let receipt = receipt_of(&t, key, &nid).await;
    assert_eq!(receipt["status"], "undelivered", "{receipt}");
    assert_eq!(receipt["detail"], "RESULT_ERROR -1");
    // Eight reports at once: each lands over an older one or not at all.
    let ok = report(&nid, "RESULT_OK");
    let posts = (0..8).map(|_| post_form(&t, &url, FORM, &ok));
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let receipt = receipt_of(&t, key, &nid).await;
    assert_eq!(receipt["status"], "delivered", "{receipt}");
    // The notification's own status keeps its meaning.
    let (_, n) = t.get(key, &format!("/v1/notifications/{nid}")).await;
    assert_eq!(n["status"], "delivered");
    // The order's timeline shows it.
    let (_, order) = t.get(key, "/v1/transactions?order_no=order-r1").await;
    let kinds: Vec<&str> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["notification", "attempt", "receipt"], "{order}");

    // A STOP reply: its sender is on the SMS opt-out list, and the next
    // message to it is not sent.
    let (status, body) = post_form(
        &t,
        &url,
        FORM,
        "ipn_type=MO&from=00393331234567&to=SHOP&msg=STOP",
    )
    .await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("suppressed")),
        "{body}"
    );
    let (_, list) = t.get(key, "/v1/suppressions?channel=sms").await;
    assert_eq!(list["items"][0]["to"], "+393331234567", "{list}");
    assert_eq!(list["items"][0]["source"], "sms_stop");
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "r-2", "channel": "sms", "to": "+393331234567", "text": "Offer!"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let sent_to_gateway = s.sms.received().len();
    let failed = eventually("the message failed", PATIENCE, || async {
        let (_, m) = t.get(key, "/v1/messages/r-2").await;
        (m["status"] == "failed").then_some(m)
    })
    .await;
    assert_eq!(failed["last_error"], "suppressed");
    assert_eq!(s.sms.received().len(), sent_to_gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_receipts_are_verified_signed_and_matched_by_message_id() {
    use inc_shared::domain::messages::receipts::whatsapp_signature;
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    let (status, settings) = t
        .patch_settings(
            key,
            json!({"channels": {"whatsapp": {"verify_token": "meta-verify-1", "app_secret": "app-secret-5678"}}}),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["channels"]["whatsapp"]["app_secret"], "****5678");
    let url = settings["receipt_urls"]["whatsapp"]
        .as_str()
        .expect("a WhatsApp receipt URL")
        .to_owned();

    // Meta's handshake: the challenge back for the right verify token only.
    let handshake = |token: &str| {
        format!("{url}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")
    };
    let response = t
        .http
        .get(handshake("meta-verify-1"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("text"), "1158201444");
    let response = t.http.get(handshake("guess")).send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 403);
    let response = t
        .http
        .get(t.url("/v1/receipts/whatsapp/rct_nope?hub.mode=subscribe&hub.verify_token=meta-verify-1&hub.challenge=1"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 404);

    // A WhatsApp message, sent: the Cloud API's answer named its id.
    let (status, body) = t
        .call(
            reqwest::Method::PUT,
            "/v1/templates/whatsapp/pickup",
            key,
            Some(json!({"languages": {"en": {"template": "car_ready", "parameters": ["{{ name }}"]}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "wa-1", "channel": "whatsapp", "to": "+393331234567", "template": "pickup",
                   "data": {"name": "Marco"}, "reference": "order-wa1"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let nid = body["notification_id"].as_str().unwrap().to_owned();
    let wamid = eventually("the message sent", PATIENCE, || async {
        let (_, n) = t.get(key, &format!("/v1/notifications/{nid}")).await;
        n["attempts"][0]["provider_message_id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert!(wamid.starts_with("wamid."), "{wamid}");

    let statuses = |id: &str, status: &str, at: i64| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp", "statuses": [
                {"id": id, "status": status, "timestamp": at.to_string(), "recipient_id": "393331234567"}]}}]}]})
        .to_string()
    };
    let post = |body: String, signature: Option<String>| {
        let mut request = t
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            request = request.header("X-Hub-Signature-256", sig);
        }
        async move {
            let response = request.send().await.expect("answer");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let now = chrono::Utc::now().timestamp();

    // Hostile posts change nothing.
    let delivered = statuses(&wamid, "delivered", now);
    let (status, _) = post(delivered.clone(), None).await;
    assert_eq!(status, 401);
    let (status, body) = post(
        delivered.clone(),
        Some(whatsapp_signature("wrong-secret", delivered.as_bytes())),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("invalid_signature"))
    );
    let (status, _) = post(
        "[1]".into(),
        Some(whatsapp_signature("app-secret-5678", b"[1]")),
    )
    .await;
    assert_eq!(status, 400);
    let unknown = statuses("wamid.unknown", "delivered", now);
    let signed = whatsapp_signature("app-secret-5678", unknown.as_bytes());
    let (status, body) = post(unknown, Some(signed)).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"recorded": 0, "ignored": 1, "replies": 0}))
    );
    assert_eq!(receipt_of(&t, key, &nid).await, Value::Null);

    // Delivered, then read; a delivered report older than the read one
    // arriving late does not move it back.
    for (status_name, at, expected) in [
        ("delivered", now, "delivered"),
        ("read", now + 30, "read"),
        ("delivered", now + 10, "read"),
    ] {
        let body = statuses(&wamid, status_name, at);
        let signed = whatsapp_signature("app-secret-5678", body.as_bytes());
        let (status, answer) = post(body, Some(signed)).await;
        assert_eq!(status, 200, "{answer}");
        let receipt = receipt_of(&t, key, &nid).await;
        assert_eq!(receipt["status"], expected, "{receipt}");
    }
    let (_, order) = t.get(key, "/v1/transactions?order_no=order-wa1").await;
    assert!(
        order["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "receipt" && e["status"] == "read"),
        "{order}"
    );
}
