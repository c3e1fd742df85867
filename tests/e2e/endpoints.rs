//! Endpoints and event types end to end (contract section 7): one event
//! fanned out to every endpoint whose filter wants it, each signed with its
//! own secret (checked with the `standardwebhooks` verifier), events of any
//! type delivered byte for byte, the schema catalog, the history by
//! endpoint and type, and hostile input refused with nothing stored.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use inc_tests::{Sink, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Checks a received webhook with the official verifier and `secret`.
fn verifies(secret: &str, webhook: &inc_tests::Received) -> bool {
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

async fn create(t: &TestStack, key: &str, body: Value) -> Value {
    let (status, endpoint) = t.call(Method::POST, "/v1/endpoints", key, Some(body)).await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
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
async fn endpoints_refuse_bad_input_change_nothing_and_stay_in_their_account() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let other = t.account(None).await;
    let sink = Sink::start().await;
    let cases = [
        (json!({"url": "ftp://shop.example/x"}), 422, "url"),
        (
            json!({"url": sink.url(), "filter_types": ["order"]}),
            422,
            "filter_types[0]",
        ),
        (
            json!({"url": sink.url(), "filter_types": ["a.b", "*.x"]}),
            422,
            "filter_types[1]",
        ),
        (
            json!({"url": sink.url(), "headers": {"webhook-id": "x"}}),
            422,
            "headers.webhook-id",
        ),
        (
            json!({"url": sink.url(), "headers": {"User-Agent": "x"}}),
            422,
            "headers.User-Agent",
        ),
        (
            json!({"url": sink.url(), "rate_limit": 0}),
            422,
            "rate_limit",
        ),
        (json!({"url": sink.url(), "colour": "red"}), 400, "colour"),
        (json!({"description": "no url"}), 400, "url"),
    ];
    for (body, status, field) in cases {
        let (got, answer) = t
            .call(Method::POST, "/v1/endpoints", &acct.key, Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"], json!([]), "nothing stored: {list}");

    let ep = create(
        &t,
        &acct.key,
        json!({"url": sink.url(), "filter_types": ["order.*"]}),
    )
    .await;
    let path = format!("/v1/endpoints/{}", id(&ep));
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = t.call(method.clone(), &path, &other.key, None).await;
        assert_eq!(status, 404, "{method} from another account");
    }
    let (status, _) = t
        .call(
            Method::PATCH,
            &path,
            &other.key,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = t.get(&other.key, &format!("{path}/secret")).await;
    assert_eq!(status, 404);

    // A bad patch changes nothing; a good one changes what it names.
    let (status, answer) = t
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"description": "x", "filter_types": ["bad"]})),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("filter_types[0]"))
    );
    let (status, patched) = t
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"filter_types": null, "description": "all", "rate_limit": 10})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["filter_types"], Value::Null);
    assert_eq!(patched["description"], "all");
    assert_eq!(patched["rate_limit"], 10);
    assert_eq!(patched["url"], ep["url"]);
    let (_, got) = t.get(&acct.key, &path).await;
    assert_eq!(got, patched);
    assert!(
        got.get("secret").is_none(),
        "the secret is shown only on create: {got}"
    );

    // The default endpoint is the settings' URL.
    t.patch_settings(&acct.key, json!({"endpoint_url": sink.url()}))
        .await;
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["id"], "ep_default");
    assert_eq!(items[0]["is_default"], true);
    let (_, default_secret) = t.get(&acct.key, "/v1/endpoints/ep_default/secret").await;
    let (_, account_secret) = t.get(&acct.key, "/v1/settings/secret").await;
    assert_eq!(default_secret, account_secret);
    let (status, _) = t
        .call(Method::DELETE, "/v1/endpoints/ep_default", &acct.key, None)
        .await;
    assert_eq!(status, 409);

    let (status, _) = t.call(Method::DELETE, &path, &acct.key, None).await;
    assert_eq!(status, 204);
    let (status, _) = t.get(&acct.key, &path).await;
    assert_eq!(status, 404);
    let (status, _) = t.call(Method::DELETE, &path, &acct.key, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_pass_the_limit_of_fifty() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let creates = (0..56).map(|i| {
        t.call(
            Method::POST,
            "/v1/endpoints",
            &acct.key,
            Some(json!({"url": format!("http://127.0.0.1:9/{i}")})),
        )
    });
    let answers = futures::future::join_all(creates).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, refused), (50, 6), "{answers:?}");
    let mut listed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/endpoints?limit=20&cursor={c}"),
            None => "/v1/endpoints?limit=20".to_owned(),
        };
        let (status, page) = t.get(&acct.key, &path).await;
        assert_eq!(status, 200, "{page}");
        listed += page["items"].as_array().expect("items").len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed, 50);
    // One event fans out to all fifty in one write.
    let (status, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "wide-1", "type": "campaign.sent", "data": {}}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["notifications"].as_array().expect("ids").len(), 50);

    // 100 KB to fifty endpoints is more than one event can carry: a clear
    // 422, and nothing stored (the id is still free).
    let big = "x".repeat(100_000);
    let (status, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "wide-2", "type": "campaign.sent", "data": {"text": big}}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "data");
    let (status, _) = t
        .post_event(
            &acct.key,
            &json!({"id": "wide-2", "type": "campaign.sent", "data": {}}),
        )
        .await;
    assert_eq!(status, 202);
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
async fn deleting_an_endpoint_fails_what_was_still_on_its_way_and_keeps_the_history() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "3600")]).await;
    let acct = t.account(None).await;
    let sink = Sink::answering(&[500]).await;
    let ep = create(&t, &acct.key, json!({"url": sink.url()})).await;
    let (_, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "p-1", "type": "order.created", "data": {"n": 1}}),
        )
        .await;
    let n = answer["notifications"][0].as_str().expect("id").to_owned();
    t.notification_when(&acct.key, &n, |n| n["status"] == "retrying")
        .await;
    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/v1/endpoints/{}", id(&ep)),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let failed = t
        .notification_when(&acct.key, &n, |n| n["status"] == "failed")
        .await;
    let error = failed["last_error"].as_str().expect("last_error");
    assert!(
        error.contains(&id(&ep)) && error.contains("deleted"),
        "{error}"
    );
    assert_eq!(failed["attempts"].as_array().expect("attempts").len(), 1);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_checks_data_against_a_declared_schema_and_stores_nothing_bad() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    create(&t, &acct.key, json!({"url": sink.url()})).await;
    let schema = json!({
        "type": "object",
        "required": ["device", "temperature"],
        "properties": {
            "device": {"type": "string"},
            "temperature": {"type": "number", "minimum": -50, "maximum": 150}
        }
    });
    let (status, declared) = t
        .call(
            Method::PUT,
            "/v1/event-types/iot.reading",
            &acct.key,
            Some(json!({"description": "A sensor reading", "schema": schema})),
        )
        .await;
    assert_eq!(status, 200, "{declared}");
    assert_eq!(declared["type"], "iot.reading");

    for (data, field) in [
        (
            json!({"device": "d1", "temperature": "hot"}),
            "data.temperature",
        ),
        (
            json!({"device": "d1", "temperature": 900}),
            "data.temperature",
        ),
        (json!({"temperature": 20}), "data.device"),
    ] {
        let (status, answer) = t
            .post_event(
                &acct.key,
                &json!({"id": "read-1", "type": "iot.reading", "data": data}),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    // Nothing was stored under that id: the valid event takes it now.
    let (status, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "read-1", "type": "iot.reading", "data": {"device": "d1", "temperature": 21}}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    sink.wait_for(1).await;

    for bad in [
        json!({"schema": {"type": "thermometer"}}),
        json!({"schema": {"$ref": "https://example.com/schema.json"}}),
        json!({"schema": {"properties": {"a": {"$ref": "file:///etc/passwd"}}}}),
    ] {
        let (status, answer) = t
            .call(
                Method::PUT,
                "/v1/event-types/iot.alert",
                &acct.key,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "schema");
    }
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/event-types/payment.state_changed",
            &acct.key,
            Some(json!({"description": "mine"})),
        )
        .await;
    assert_eq!(status, 409);

    let (_, list) = t.get(&acct.key, "/v1/event-types").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sms.sent",
            "sms.delivered",
            "payment.state_changed",
            "iot.reading"
        ]
    );
    let (status, _) = t
        .call(
            Method::DELETE,
            "/v1/event-types/iot.reading",
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = t.get(&acct.key, "/v1/event-types/iot.reading").await;
    assert_eq!(status, 404);
    // Undeclared, any data goes.
    let (status, _) = t
        .post_event(
            &acct.key,
            &json!({"id": "read-2", "type": "iot.reading", "data": {"x": 1}}),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the second reading", PATIENCE, || async {
        (sink.received().len() == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_and_deletes_endpoints_through_the_same_rules() {
    use inc_cli::endpoints::{Command, run};
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let tables = inc_shared::config::Tables::from_lookup(&|k| Some(t.env(k))).expect("tables");
    let store = inc_shared::store::Store::new(aws_sdk_dynamodb::Client::new(&t.sdk), tables);
    let create = |url: &str, filter: &[&str]| Command::Create {
        account: acct.id.clone(),
        url: url.to_owned(),
        filter_types: filter.iter().map(|f| (*f).to_owned()).collect(),
        description: "from the CLI".into(),
    };
    // A deployed stack's policy: https on a public host only.
    let refused = run(&store, create("http://127.0.0.1:9/x", &[])).await;
    assert!(refused.is_err(), "a loopback URL under the deployed policy");
    run(&store, create("https://oms.shop.example/inc", &["order.*"]))
        .await
        .expect("created");
    let bad = run(&store, create("https://oms.shop.example/inc", &["order"])).await;
    assert!(bad.is_err(), "a malformed filter");
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["filter_types"], json!(["order.*"]));
    assert_eq!(items[0]["description"], "from the CLI");
    run(
        &store,
        Command::List {
            account: acct.id.clone(),
        },
    )
    .await
    .expect("listed");
    run(
        &store,
        Command::Delete {
            account: acct.id.clone(),
            endpoint_id: id(&items[0]),
        },
    )
    .await
    .expect("deleted");
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_from_before_endpoints_keeps_its_url_secret_and_history() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, answer) = t
        .post_event(&acct.key, &inc_tests::seed_event("old-1", "sms.sent"))
        .await;
    let n = answer["notifications"][0].as_str().expect("id").to_owned();
    t.notification_when(&acct.key, &n, |n| n["status"] == "delivered")
        .await;
    // Make it a notification as the previous version stored it.
    let tables = inc_shared::config::Tables::from_lookup(&|k| Some(t.env(k))).expect("tables");
    let dynamo = aws_sdk_dynamodb::Client::new(&t.sdk);
    dynamo
        .update_item()
        .table_name(&tables.notifications)
        .key(
            "account_id",
            aws_sdk_dynamodb::types::AttributeValue::S(acct.id.clone()),
        )
        .key(
            "notification_id",
            aws_sdk_dynamodb::types::AttributeValue::S(n.clone()),
        )
        .update_expression("REMOVE endpoint_id, by_endpoint, by_type")
        .send()
        .await
        .expect("stripped");
    let found = |query: &'static str| {
        let t = &t;
        let key = acct.key.clone();
        async move {
            let (_, page) = t.get(&key, &format!("/v1/notifications?{query}")).await;
            page["items"].as_array().expect("items").len()
        }
    };
    // Shown as the default endpoint's, but not yet in the new indexes.
    let (_, shown) = t.get(&acct.key, &format!("/v1/notifications/{n}")).await;
    assert_eq!(shown["endpoint_id"], "ep_default");
    assert_eq!(found("endpoint_id=ep_default").await, 0);
    assert_eq!(found("event_type=sms.sent").await, 0);

    // `inc migrate` (its store call) upgrades it, once.
    let store = inc_shared::store::Store::new(dynamo, tables);
    let first = store.backfill_history_keys().await.expect("migrated");
    assert_eq!(first.updated, 1, "{first:?}");
    let again = store.backfill_history_keys().await.expect("migrated");
    assert_eq!(again.updated, 0, "{again:?}");
    assert_eq!(found("endpoint_id=ep_default").await, 1);
    assert_eq!(found("event_type=sms.sent").await, 1);

    // The URL and secret are the default endpoint's; webhooks still go there.
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"][0]["url"], sink.url().as_str());
    let (_, secret) = t.get(&acct.key, "/v1/endpoints/ep_default/secret").await;
    let (_, account_secret) = t.get(&acct.key, "/v1/settings/secret").await;
    assert_eq!(secret, account_secret);
    t.post_event(&acct.key, &inc_tests::seed_event("new-1", "sms.sent"))
        .await;
    sink.wait_for(2).await;
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
