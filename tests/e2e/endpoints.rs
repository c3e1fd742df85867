//! Endpoints and event types end to end (contract section 7), against the
//! local stack with loopback endpoints, signatures checked with the
//! `standardwebhooks` verifier. This file: managing endpoints — hostile
//! input refused with nothing stored, other accounts' ids, the limit under
//! concurrent creates, deletion, the CLI, and an account from before
//! endpoints. `endpoints/fan_out.rs`: one event to every endpoint that
//! wants it; `endpoints/catalog.rs`: event types and their schemas.

#[path = "endpoints/catalog.rs"]
mod catalog;
#[path = "endpoints/default_health.rs"]
mod default_health;
#[path = "endpoints/destinations.rs"]
mod destinations;
#[path = "endpoints/fan_out.rs"]
mod fan_out;
#[path = "endpoints/health.rs"]
mod health;

use inc_tests::{Sink, TestStack, json};
use reqwest::Method;
use serde_json::Value;

const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

async fn create(t: &TestStack, key: &str, body: Value) -> Value {
    let (status, endpoint) = t.call(Method::POST, "/v1/endpoints", key, Some(body)).await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
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

/// One endpoint a page: the default one first, then every stored one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_one_reach_every_endpoint_after_the_default() {
    let t = TestStack::start().await;
    let acct = t.account(Some("http://127.0.0.1:9/ipn")).await;
    for i in 0..2 {
        let (status, _) = t
            .call(
                Method::POST,
                "/v1/endpoints",
                &acct.key,
                Some(json!({"url": format!("http://127.0.0.1:9/{i}")})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/v1/endpoints?limit=1".to_owned();
    loop {
        let (status, page) = t.get(&acct.key, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{page}");
        seen.push(items[0]["id"].as_str().expect("id").to_owned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/endpoints?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], "ep_default");
    assert!(seen[1..].iter().all(|id| id != "ep_default"), "{seen:?}");
    assert_ne!(seen[1], seen[2]);
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
