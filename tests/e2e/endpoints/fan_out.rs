//! One event fanned out to every endpoint whose filter wants it, each
//! webhook signed with its endpoint's secret and its data byte for byte;
//! formats, gates, and retries, recover and resend per endpoint.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use inc_tests::{Sink, TestStack, json};
use reqwest::Method;
use serde_json::Value;

use super::{create, id};

/// Checks a received webhook with the official verifier and `secret`.
pub(crate) fn verifies(secret: &str, webhook: &inc_tests::Received) -> bool {
    let mut headers = HeaderMap::new();
    for (name, value) in &webhook.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(webhook.body.as_bytes(), &headers)
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_event_reaches_every_endpoint_that_wants_it_signed_with_its_own_secret() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let (oms, warehouse, support, iot, off) = (
        Sink::start().await,
        Sink::start().await,
        Sink::start().await,
        Sink::start().await,
        Sink::start().await,
    );
    let oms_ep = create(
        &t,
        &acct.key,
        json!({"url": oms.url(), "description": "Order management", "filter_types": ["order.*"]}),
    )
    .await;
    let warehouse_ep = create(
        &t,
        &acct.key,
        json!({"url": warehouse.url(), "filter_types": ["order.completed", "stock.*"]}),
    )
    .await;
    let support_ep = create(
        &t,
        &acct.key,
        json!({"url": support.url(), "headers": {"X-Team": "support"}}),
    )
    .await;
    create(
        &t,
        &acct.key,
        json!({"url": iot.url(), "filter_types": ["iot.*"]}),
    )
    .await;
    create(&t, &acct.key, json!({"url": off.url(), "enabled": false})).await;
    assert!(
        oms_ep["secret"]
            .as_str()
            .expect("secret")
            .starts_with("whsec_")
    );
    assert_eq!(support_ep["filter_types"], Value::Null);
    assert_eq!(support_ep["format"], "json");
    assert_eq!(support_ep["is_default"], false);

    // Key order, number spelling and nesting exactly as sent.
    let data = r#"{"order_no":"A-1001","total":10.50,"items":[{"sku":"X-1","qty":2}],"ref":12345678901234567890123}"#;
    let body = format!(r#"{{"id":"ord-1","type":"order.completed","data":{data}}}"#);
    let (status, answer) = t
        .post_raw(Some(&acct.key), "application/json", body.into_bytes())
        .await;
    assert_eq!(status, 202, "{answer}");
    let ids: Vec<String> = answer["notifications"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{answer}");

    for (sink, endpoint) in [
        (&oms, &oms_ep),
        (&warehouse, &warehouse_ep),
        (&support, &support_ep),
    ] {
        let got = sink.wait_for(1).await;
        let webhook = &got[0];
        let secret = endpoint["secret"].as_str().expect("secret");
        assert!(verifies(secret, webhook), "{webhook:?}");
        assert!(
            !verifies(oms_ep["secret"].as_str().expect("s"), webhook) || sink.url() == oms.url()
        );
        assert!(
            webhook.body.ends_with(&format!(r#","data":{data}}}"#)),
            "{}",
            webhook.body
        );
        let parsed: Value = serde_json::from_str(&webhook.body).expect("JSON");
        assert_eq!(parsed["id"], "ord-1");
        assert_eq!(parsed["type"], "order.completed");
    }
    assert_eq!(support.received()[0].headers["x-team"], "support");

    // The same event again: the same answer, nothing sent twice.
    let again = format!(r#"{{"id":"ord-1","type":"order.completed","data":{data}}}"#);
    let (status, second) = t
        .post_raw(Some(&acct.key), "application/json", again.into_bytes())
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["notifications"], answer["notifications"]);

    // Each notification names its endpoint; the history filters by both.
    for n in &ids {
        t.notification_when(&acct.key, n, |n| n["status"] == "delivered")
            .await;
    }
    let (_, by_endpoint) = t
        .get(
            &acct.key,
            &format!("/v1/notifications?endpoint_id={}", id(&warehouse_ep)),
        )
        .await;
    let items = by_endpoint["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{by_endpoint}");
    assert_eq!(items[0]["endpoint_id"], id(&warehouse_ep).as_str());
    let (_, by_type) = t
        .get(&acct.key, "/v1/notifications?event_type=order.completed")
        .await;
    assert_eq!(by_type["items"].as_array().expect("items").len(), 3);
    let (_, other_type) = t
        .get(&acct.key, "/v1/notifications?event_type=iot.reading")
        .await;
    assert_eq!(other_type["items"].as_array().expect("items").len(), 0);

    // An IoT reading reaches the IoT endpoint and the catch-all only.
    let (status, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "r-1", "type": "iot.reading", "data": {"temperature": 21.5}}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["notifications"].as_array().expect("ids").len(), 2);
    iot.wait_for(1).await;
    support.wait_for(2).await;
    assert_eq!(oms.received().len(), 1);
    assert!(off.received().is_empty());

    // Rotation: the next webhook verifies with the new secret and the old.
    let old = warehouse_ep["secret"].as_str().expect("secret").to_owned();
    let (status, rotated) = t
        .call(
            Method::POST,
            &format!("/v1/endpoints/{}/secret/rotate", id(&warehouse_ep)),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    let (_, shown) = t
        .get(
            &acct.key,
            &format!("/v1/endpoints/{}/secret", id(&warehouse_ep)),
        )
        .await;
    assert_eq!(shown["secret"], new.as_str());
    t.post_event(
        &acct.key,
        &json!({"id": "stock-1", "type": "stock.low", "data": {"sku": "X-1"}}),
    )
    .await;
    let got = warehouse.wait_for(2).await;
    assert!(verifies(&new, &got[1]) && verifies(&old, &got[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_resend_and_recover_work_per_endpoint() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    // The first endpoint fails the whole schedule (three attempts), then heals.
    let flaky = Sink::answering(&[500, 500, 500]).await;
    let steady = Sink::start().await;
    let a = create(&t, &acct.key, json!({"url": flaky.url()})).await;
    let b = create(&t, &acct.key, json!({"url": steady.url()})).await;
    let (_, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "o-9", "type": "order.shipped", "data": {"n": 9}}),
        )
        .await;
    let ids: Vec<String> = answer["notifications"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    let mut by_endpoint = std::collections::HashMap::new();
    for n in &ids {
        let done = t
            .notification_when(&acct.key, n, |n| {
                n["status"] == "failed" || n["status"] == "delivered"
            })
            .await;
        by_endpoint.insert(
            done["endpoint_id"].as_str().expect("endpoint").to_owned(),
            done,
        );
    }
    let failed = &by_endpoint[&id(&a)];
    let delivered = &by_endpoint[&id(&b)];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"].as_array().expect("attempts").len(), 3);
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(steady.received().len(), 1);

    // Recover queues the failed one again, to its own endpoint only.
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let (status, recovered) = t
        .send_json(
            "/v1/notifications/recover",
            &acct.key,
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, 202, "{recovered}");
    assert_eq!(recovered["recovered"], 1);
    let failed_id = failed["id"].as_str().expect("id");
    t.notification_when(&acct.key, failed_id, |n| n["status"] == "delivered")
        .await;
    assert_eq!(flaky.wait_for(4).await.len(), 4);
    assert_eq!(steady.received().len(), 1);

    // A resend of the delivered one goes to its endpoint, same webhook-id.
    let delivered_id = delivered["id"].as_str().expect("id");
    let (status, _) = t
        .send_json(
            &format!("/v1/notifications/{delivered_id}/resend"),
            &acct.key,
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    let got = steady.wait_for(2).await;
    assert_eq!(got[1].headers["webhook-id"], delivered_id);
    assert_eq!(flaky.received().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_gets_sms_events_in_its_own_format_and_the_toggles_gate_them_all() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let (form_sink, json_sink) = (Sink::start().await, Sink::start().await);
    create(
        &t,
        &acct.key,
        json!({"url": form_sink.url(), "format": "form"}),
    )
    .await;
    create(
        &t,
        &acct.key,
        json!({"url": json_sink.url(), "format": "json"}),
    )
    .await;
    let (status, answer) = t
        .post_event(&acct.key, &inc_tests::seed_event("sms-1", "sms.sent"))
        .await;
    assert_eq!(status, 202, "{answer}");
    let form = form_sink.wait_for(1).await;
    assert_eq!(form[0].body, inc_tests::seed_form("SENT"));
    assert_eq!(
        form[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let json_got = json_sink.wait_for(1).await;
    let parsed: Value = serde_json::from_str(&json_got[0].body).expect("JSON");
    assert_eq!(parsed["type"], "sms.sent");
    assert_eq!(parsed["data"]["pin"], "025719");
    // Any other type is JSON whatever the format, even one of the
    // merchant's own below `sms.`.
    let (status, _) = t
        .post_event(
            &acct.key,
            &json!({"id": "o-1", "type": "sms.received", "data": {"a": 1}}),
        )
        .await;
    assert_eq!(status, 202);
    let form = form_sink.wait_for(2).await;
    assert!(form[1].headers["content-type"].starts_with("application/json"));
    assert!(
        form[1].body.ends_with(r#""data":{"a":1}}"#),
        "{}",
        form[1].body
    );
    // Genio's toggle and INC's switch are account-wide gates.
    t.patch_settings(&acct.key, json!({"sms_out_api_sent": false}))
        .await;
    let (_, answer) = t
        .post_event(&acct.key, &inc_tests::seed_event("sms-2", "sms.sent"))
        .await;
    assert_eq!(answer["notifications"], json!([]));
    t.patch_settings(&acct.key, json!({"inc_enabled": false}))
        .await;
    let (_, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "o-2", "type": "order.paid", "data": {}}),
        )
        .await;
    assert_eq!(answer["notifications"], json!([]));
}

/// How many notifications an `order.completed` event `id` makes.
async fn fanned_out(t: &TestStack, key: &str, id: &str) -> usize {
    let (status, body) = t
        .post_event(
            key,
            &json!({"id": id, "type": "order.completed", "data": {}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["notifications"]
        .as_array()
        .expect("notifications")
        .len()
}

/// Ingest keeps an account's endpoints between events while its
/// `routes_version` stands (`store::routes_cache`): every change of an
/// endpoint — created, its filter or `enabled` patched, disabled by its
/// health, deleted — bumps it, and the very next event follows the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_of_an_endpoint_is_followed_by_the_next_event() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let store =
        inc_shared::store::Store::for_config(aws_sdk_dynamodb::Client::new(&t.sdk), &t.config());
    let version = async || {
        store
            .get_account(&acct.id)
            .await
            .expect("read")
            .expect("account")
            .routes_version
    };
    assert_eq!(fanned_out(&t, &acct.key, "r-0").await, 0);
    let a = id(&create(&t, &acct.key, json!({"url": sink.url()})).await);
    assert_eq!(fanned_out(&t, &acct.key, "r-1").await, 1, "created");
    let b = id(&create(
        &t,
        &acct.key,
        json!({"url": sink.url(), "filter_types": ["order.*"]}),
    )
    .await);
    assert_eq!(
        fanned_out(&t, &acct.key, "r-2").await,
        2,
        "a second created"
    );
    assert_eq!(fanned_out(&t, &acct.key, "r-2b").await, 2, "unchanged");

    let patch = async |body: Value| {
        let path = format!("/v1/endpoints/{b}");
        let (status, answer) = t.call(Method::PATCH, &path, &acct.key, Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    };
    patch(json!({"filter_types": ["stock.*"]})).await;
    assert_eq!(fanned_out(&t, &acct.key, "r-3").await, 1, "filtered out");
    patch(json!({"filter_types": null})).await;
    assert_eq!(fanned_out(&t, &acct.key, "r-4").await, 2, "filter removed");
    patch(json!({"enabled": false})).await;
    assert_eq!(
        fanned_out(&t, &acct.key, "r-5").await,
        1,
        "disabled by hand"
    );
    patch(json!({"enabled": true})).await;
    assert_eq!(fanned_out(&t, &acct.key, "r-6").await, 2, "enabled again");

    // Disabled by its health, as deliver does after a long failure streak.
    let since = chrono::Utc::now();
    assert!(
        store
            .endpoint_failing(&acct.id, &b, since)
            .await
            .expect("failing")
    );
    let before = version().await;
    assert!(
        store
            .disable_endpoint(&acct.id, &b, since, "failing since", &[])
            .await
            .expect("disable")
    );
    assert_eq!(
        version().await,
        before + 1,
        "a disable is a change of route"
    );
    assert_eq!(
        fanned_out(&t, &acct.key, "r-7").await,
        1,
        "disabled by health"
    );

    let (status, body) = t
        .call(
            Method::DELETE,
            &format!("/v1/endpoints/{a}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(fanned_out(&t, &acct.key, "r-8").await, 0, "deleted");
    // Two creates, four patches, one disable, one delete.
    assert_eq!(version().await, 8);
}

/// Changes of one account's endpoints at the same moment all land, each
/// counted once in its `routes_version` (an atomic add in each change's
/// transaction), and the next event follows every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_an_accounts_endpoints_all_land_and_are_all_followed() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(id(&create(&t, &acct.key, json!({"url": sink.url()})).await));
    }
    assert_eq!(fanned_out(&t, &acct.key, "c-0").await, 8);
    // Each endpoint patched twice at once: a filter that keeps every
    // other one, and a description.
    let patches = ids.iter().enumerate().flat_map(|(i, e)| {
        let filter = if i % 2 == 0 { "order.*" } else { "stock.*" };
        let path = format!("/v1/endpoints/{e}");
        [
            (path.clone(), json!({"filter_types": [filter]})),
            (path, json!({"description": format!("endpoint {i}")})),
        ]
    });
    let (t, key) = (&t, acct.key.as_str());
    let answers =
        futures::future::join_all(patches.map(|(path, body)| async move {
            t.call(Method::PATCH, &path, key, Some(body)).await
        }))
        .await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let store =
        inc_shared::store::Store::for_config(aws_sdk_dynamodb::Client::new(&t.sdk), &t.config());
    let account = store
        .get_account(&acct.id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(account.routes_version, 8 + 16, "every change counted once");
    for (i, e) in ids.iter().enumerate() {
        let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{e}")).await;
        assert_eq!(
            endpoint["description"],
            format!("endpoint {i}"),
            "{endpoint}"
        );
        assert_eq!(
            endpoint["filter_types"].as_array().map(Vec::len),
            Some(1),
            "{endpoint}"
        );
    }
    assert_eq!(fanned_out(t, key, "c-1").await, 4, "half filtered out");
}
