//! Bad input gets a clear 4xx and changes nothing; a dependency that is down
//! gets a 503 and loses nothing; accounts never see each other's data.

use inc_tests::{Sink, TestStack, json, seed_event};
use serde_json::Value;

#[path = "api_input/templates.rs"]
mod templates;

/// Nothing was stored or queued, and nothing reached the endpoint.
async fn assert_untouched(t: &TestStack, sink: &Sink) {
    assert_eq!(t.scan("INC_EVENTS_TABLE").await, 0, "an event was stored");
    assert_eq!(
        t.scan("INC_NOTIFICATIONS_TABLE").await,
        0,
        "a notification was stored"
    );
    assert_eq!(
        t.queue_depth("INC_DELIVERY_QUEUE_URL").await,
        0,
        "a message was queued"
    );
    assert!(sink.received().is_empty());
}

/// name, API key, content type, body, expected status, code and field.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    Vec<u8>,
    u16,
    &'a str,
    Option<&'a str>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_the_documented_4xx_and_change_nothing() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let key = Some(acct.key.as_str());
    let json_type = "application/json";
    let seed = seed_event("evt-bad", "sms.sent");
    let with = |pointer: &str, value: Value| {
        let mut e = seed.clone();
        *e.pointer_mut(pointer).expect("pointer") = value;
        e.to_string().into_bytes()
    };
    let without = |field: &str| {
        let mut e = seed.clone();
        e["data"].as_object_mut().expect("data").remove(field);
        e.to_string().into_bytes()
    };
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            key,
            json_type,
            b"{\"id\": ".to_vec(),
            400,
            "invalid_json",
            None,
        ),
        (
            "missing field",
            key,
            json_type,
            without("to"),
            400,
            "invalid_field",
            Some("data.to"),
        ),
        (
            "wrong type",
            key,
            json_type,
            with("/data/status_code", json!("-1")),
            400,
            "invalid_field",
            Some("data.status_code"),
        ),
        (
            "not a type",
            key,
            json_type,
            with("/type", json!("SMS read")),
            400,
            "unknown_event_type",
            Some("type"),
        ),
        (
            "id too long",
            key,
            json_type,
            with("/id", json!("x".repeat(129))),
            400,
            "invalid_field",
            Some("id"),
        ),
        (
            "too large",
            key,
            json_type,
            with("/data/msg", json!("x".repeat(300 * 1024))),
            413,
            "payload_too_large",
            None,
        ),
        (
            "no key",
            None,
            json_type,
            seed.to_string().into_bytes(),
            401,
            "unauthorized",
            None,
        ),
        (
            "wrong key",
            Some("inc_0000"),
            json_type,
            seed.to_string().into_bytes(),
            401,
            "unauthorized",
            None,
        ),
        (
            "wrong media type",
            key,
            "text/plain",
            seed.to_string().into_bytes(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "bad form",
            key,
            "application/x-www-form-urlencoded",
            b"id=x&ipn_type=SENT&status_code=no".to_vec(),
            400,
            "invalid_field",
            Some("status_code"),
        ),
        (
            "a form that is not UTF-8",
            key,
            "application/x-www-form-urlencoded",
            b"id=x%F5%9F&ipn_type=SENT".to_vec(),
            400,
            "invalid_encoding",
            None,
        ),
    ];
    for (name, key, content_type, body, status, code, field) in cases {
        let (got, body) = t.post_raw(key, content_type, body).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {body}"
        );
        assert_eq!(body["error"]["field"].as_str(), field, "{name}: {body}");
    }
    assert_untouched(&t, &sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_refuse_bad_values_and_keep_the_old_ones() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let (status, defaults) = t.get(&acct.key, "/v1/settings").await;
    assert_eq!(status, 200);
    // The receipt URLs (contract 10) carry the account's own token.
    let mut shown = defaults.clone();
    let urls = shown
        .as_object_mut()
        .and_then(|d| d.remove("receipt_urls"))
        .expect("receipt_urls");
    assert!(
        urls["sms"]
            .as_str()
            .is_some_and(|u| u.contains("/v1/receipts/sms/rct_")),
        "{urls}"
    );
    assert_eq!(
        shown,
        json!({"inc_enabled": true, "endpoint_url": null, "sms_out_api_sent": true,
               "sms_out_api_delivery": true, "webhook_format": "form", "channels": {},
               "alerts": {}, "quiet_hours": null})
    );
    for (patch, status, field) in [
        (json!({"endpoint_url": "not a url"}), 422, "endpoint_url"),
        (
            json!({"endpoint_url": "ftp://127.0.0.1/x"}),
            422,
            "endpoint_url",
        ),
        (json!({"inc_enabled": "yes"}), 400, "inc_enabled"),
        (json!({"colour": "blue"}), 400, "colour"),
        (json!({"alerts": {"url": "gopher://x"}}), 422, "alerts.url"),
        (json!({"alerts": {"email": "nobody"}}), 422, "alerts.email"),
        (json!({"alerts": {"sms": "+3912345678"}}), 400, "alerts.sms"),
        (json!({"alerts": "ops@example.com"}), 400, "alerts"),
        (json!({"alerts": null}), 400, "alerts"),
    ] {
        let (got, body) = t.patch_settings(&acct.key, patch.clone()).await;
        assert_eq!(
            (got, body["error"]["field"].as_str()),
            (status, Some(field)),
            "{patch}: {body}"
        );
    }
    assert_eq!(t.get(&acct.key, "/v1/settings").await.1, defaults);
    let (status, changed) = t
        .patch_settings(
            &acct.key,
            json!({"endpoint_url": "https://shop.example/ipn"}),
        )
        .await;
    assert_eq!(
        (status, &changed["endpoint_url"]),
        (200, &json!("https://shop.example/ipn"))
    );
    assert_eq!(t.get(&acct.key, "/v1/settings").await.1, changed);
    let (status, _) = t.get("inc_wrong", "/v1/settings").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_never_sees_another_accounts_notifications() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let a = t.account(Some(&sink.url())).await;
    let b = t.account(None).await;
    let (_, body) = t.post_event(&a.key, &seed_event("evt-a", "sms.sent")).await;
    let id = body["notifications"][0].as_str().expect("id");
    t.notification_when(&a.key, id, |n| n["status"] == "delivered")
        .await;
    let (status, body) = t.get(&b.key, &format!("/v1/notifications/{id}")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    assert_eq!(
        t.get(&b.key, "/v1/notifications").await.1["items"],
        json!([])
    );
    assert_eq!(t.get(&a.key, "/v1/notifications/ntf_nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_pages_and_filters() {
    let t = TestStack::start().await;
    let sink = Sink::answering(&[410]).await;
    let acct = t.account(Some(&sink.url())).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, body) = t
            .post_event(&acct.key, &seed_event(&format!("evt-{i}"), "sms.sent"))
            .await;
        ids.push(body["notifications"][0].as_str().expect("id").to_owned());
    }
    for id in &ids {
        t.notification_when(&acct.key, id, |n| {
            n["status"] == "delivered" || n["status"] == "failed"
        })
        .await;
    }
    let (_, page1) = t.get(&acct.key, "/v1/notifications?limit=2").await;
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let (_, page2) = t
        .get(
            &acct.key,
            &format!("/v1/notifications?limit=2&cursor={cursor}"),
        )
        .await;
    let seen: Vec<&str> = page1["items"]
        .as_array()
        .into_iter()
        .chain(page2["items"].as_array())
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(seen, newest_first);
    let (_, failed) = t.get(&acct.key, "/v1/notifications?status=failed").await;
    assert_eq!(
        failed["items"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );
    let (_, future) = t
        .get(&acct.key, "/v1/notifications?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["items"], json!([]));
    for bad in [
        "limit=0",
        "limit=101",
        "status=lost",
        "channel=pigeon",
        "since=yesterday",
        "cursor=%21",
        "colour=red",
        "format=xml",
    ] {
        let (status, body) = t.get(&acct.key, &format!("/v1/notifications?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_sqs_refuses_the_event_is_kept_and_a_retry_sends_it_once() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue_url = t.env("INC_DELIVERY_QUEUE_URL");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    sqs.delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("delete the queue");

    let event = seed_event("evt-sqs-down", "sms.sent");
    let (status, body) = t.post_event(&acct.key, &event).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("service_unavailable")),
        "{body}"
    );
    // Stored, never undone: the sweeper or the client's retry queues it.
    assert_eq!(t.scan("INC_EVENTS_TABLE").await, 1);
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 1);

    // SQS is back: the client's retry of the same event is accepted, once.
    let name = queue_url.rsplit('/').next().expect("queue name");
    sqs.create_queue()
        .queue_name(name)
        .set_attributes(Some(
            attributes
                .into_iter()
                .filter(|(k, _)| k.as_str() == "VisibilityTimeout")
                .collect(),
        ))
        .send()
        .await
        .expect("recreate the queue");
    let (status, body) = t.post_event(&acct.key, &event).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(sink.wait_for(1).await.len(), 1);
    assert_eq!(t.post_event(&acct.key, &event).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_aws_is_down_every_route_answers_503_not_401_or_500() {
    let mut t = TestStack::start().await;
    let acct = t.account(None).await;
    assert_eq!(t.get(&acct.key, "/v1/health").await.0, 200);
    t.stop_aws();
    let (status, body) = t
        .post_event(&acct.key, &seed_event("evt-down", "sms.sent"))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("service_unavailable")),
        "{body}"
    );
    for path in ["/v1/health", "/v1/settings", "/v1/notifications"] {
        let (status, body) = t.get(&acct.key, path).await;
        assert_eq!(status, 503, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_another_accounts_key_and_ids_reveals_and_changes_nothing() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let a = t.account(Some(&sink.url())).await;
    let b = t.account(None).await;
    let payment = json!({"id": "pay-a", "type": "payment.state_changed",
        "data": {"session_id": "s_a", "order_no": "o_a", "state": "paid", "customer_email": "a@example.com",
                 "notifications": {"email": ["paid"]}}});
    let (_, body) = t.post_event(&a.key, &payment).await;
    let id = body["notifications"][0]
        .as_str()
        .expect("A's webhook")
        .to_owned();
    t.notification_when(&a.key, &id, |n| n["status"] == "delivered")
        .await;
    let (_, a_secret) = t.get(&a.key, "/v1/settings/secret").await;
    let (_, a_settings) = t.get(&a.key, "/v1/settings").await;

    // Every route of the template, called with B's key on A's ids.
    let template =
        inc_cli::local::Template::load(&inc_tests::workspace_root().join("template.yaml"))
            .expect("template");
    let mut covered = 0;
    for route in template.functions.iter().flat_map(|f| f.routes.clone()) {
        let path = route
            .path
            .replace("{id}", &id)
            .replace("{session_id}", "s_a");
        let path = match path.as_str() {
            "/v1/transactions" => "/v1/transactions?order_no=o_a".to_owned(),
            _ => path,
        };
        let body = match path.as_str() {
            "/v1/events" => seed_event("evt-b", "sms.sent"),
            "/v1/settings" => json!({"inc_enabled": false}),
            _ => json!({"session_id": "s_a", "order_no": "o_a", "channels": ["email"]}),
        };
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).expect("method");
        let response = t
            .http
            .request(method, t.url(&path))
            .header("Authorization", format!("Api-Key {}", b.key))
            .json(&body)
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let key = format!("{} {}", route.method, route.path);
        assert!(
            !text.contains(&id) && !text.contains("s_a") && !text.contains(&a.id),
            "{key} leaked A's data: {text}"
        );
        let expected_404 = [
            "GET /v1/notifications/{id}",
            "POST /v1/notifications/{id}/resend",
            "POST /v1/notifications/resend",
            "POST /b/pbl/v2/message-notification/",
            "GET /v1/transactions/{session_id}",
            "GET /v1/transactions",
        ];
        if expected_404.contains(&key.as_str()) {
            assert_eq!(status, 404, "{key}: {text}");
        } else {
            assert!(status < 500, "{key}: {status} {text}");
        }
        covered += 1;
    }
    assert!(covered >= 11, "every route was tried ({covered})");

    // A's data is as it was: its secret, its settings, its one delivery.
    assert_eq!(t.get(&a.key, "/v1/settings/secret").await.1, a_secret);
    assert_eq!(t.get(&a.key, "/v1/settings").await.1, a_settings);
    let (_, a_history) = t.get(&a.key, "/v1/notifications").await;
    assert_eq!(
        a_history["items"].as_array().map(Vec::len),
        Some(1),
        "{a_history}"
    );
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_repeated_in_any_json_body_is_a_400_naming_it_and_changes_nothing() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, before) = t.get(&acct.key, "/v1/settings").await;
    let cases: [(reqwest::Method, &str, &str, &str); 7] = [
        (
            reqwest::Method::PATCH,
            "/v1/settings",
            r#"{"inc_enabled": true, "inc_enabled": false}"#,
            "inc_enabled",
        ),
        (
            reqwest::Method::PATCH,
            "/v1/settings",
            r#"{"channels": {"sms": {"sender": "A", "sender": "B"}}}"#,
            "channels.sms.sender",
        ),
        (
            reqwest::Method::POST,
            "/v1/events",
            r#"{"id": "evt-a", "type": "sms.sent", "id": "evt-b", "data": {}}"#,
            "id",
        ),
        (
            reqwest::Method::POST,
            "/v1/events",
            r#"{"id": "evt-d", "type": "payment.state_changed", "data": {"session_id": "s", "state": "paid", "state": "failed"}}"#,
            "data.state",
        ),
        (
            reqwest::Method::POST,
            "/v1/notifications/resend",
            r#"{"channels": ["sms"], "session_id": "s", "channels": ["email"]}"#,
            "channels",
        ),
        (
            reqwest::Method::POST,
            "/b/pbl/v2/message-notification/",
            r#"{"order_no": "a", "channels": ["sms"], "order_no": "b"}"#,
            "order_no",
        ),
        (
            reqwest::Method::POST,
            "/v1/notifications/recover",
            r#"{"since": "2026-01-01T00:00:00Z", "since": "2026-02-01T00:00:00Z"}"#,
            "since",
        ),
    ];
    for (method, path, body, field) in cases {
        let response = t
            .http
            .request(method, t.url(path))
            .header("Authorization", format!("Api-Key {}", acct.key))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("INC answers");
        assert_eq!(response.status().as_u16(), 400, "{path} {body}");
        let answer: Value = response.json().await.expect("JSON");
        let named = match path {
            // Ottu's own shape: the field is the key of the answer.
            "/b/pbl/v2/message-notification/" => answer.get(field).is_some(),
            _ => answer["error"]["field"] == field && answer["error"]["code"] == "duplicate_key",
        };
        assert!(named, "{path} {body}: {answer}");
    }
    let (_, after) = t.get(&acct.key, "/v1/settings").await;
    assert_eq!(before, after, "settings unchanged");
    assert_untouched(&t, &sink).await;
}
