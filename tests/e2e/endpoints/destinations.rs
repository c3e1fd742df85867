//! Endpoints beyond HTTP and transformations (contract section 15), on the
//! local AWS endpoint's real SQS, SNS and EventBridge: a queue, a topic
//! read through its SQS subscription, and a bus read through a rule's SQS
//! target each find every webhook once with its `webhook-id`; a jq
//! transformation reshapes the body; a failing or runaway program fails
//! its notification for good and nothing else; a deleted queue is retried
//! and counts against the endpoint's health.

use std::collections::BTreeMap;
use std::time::Duration;

use inc_tests::{Sink, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

use super::{create, id};

const PATIENCE: Duration = Duration::from_secs(40);

async fn queue(t: &TestStack, name: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("arn");
    (url, arn)
}

/// Every message on `url` until `n` have come, deleting each: body and
/// message attributes.
async fn drain(t: &TestStack, url: &str, n: usize) -> Vec<(Value, BTreeMap<String, String>)> {
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while got.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{url}: {} of {n} messages",
            got.len()
        );
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            let body: Value = serde_json::from_str(m.body().unwrap_or_default())
                .unwrap_or_else(|_| Value::String(m.body().unwrap_or_default().to_owned()));
            let attributes = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                .collect();
            got.push((body, attributes));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    got
}

/// The notification ids an accepted event made, by endpoint.
async fn notifications_of(t: &TestStack, key: &str, accepted: &Value) -> BTreeMap<String, String> {
    let mut by_endpoint = BTreeMap::new();
    for n in accepted["notifications"].as_array().into_iter().flatten() {
        let n = n.as_str().expect("an id");
        let (status, body) = t.get(key, &format!("/v1/notifications/{n}")).await;
        assert_eq!(status, 200, "{body}");
        by_endpoint.insert(
            body["endpoint_id"].as_str().unwrap_or_default().to_owned(),
            n.to_owned(),
        );
    }
    by_endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_a_topic_and_a_bus_each_get_every_webhook_once_with_its_id() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let (direct_url, _) = queue(&t, "orders-direct").await;
    let (via_sns_url, via_sns_arn) = queue(&t, "orders-via-sns").await;
    let (via_bus_url, via_bus_arn) = queue(&t, "orders-via-bus").await;

    let sns = aws_sdk_sns::Client::new(&t.sdk);
    let topic_arn = sns
        .create_topic()
        .name("orders")
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("arn");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&via_sns_arn)
        .send()
        .await
        .expect("subscription");

    let events = aws_sdk_eventbridge::Client::new(&t.sdk);
    events
        .create_event_bus()
        .name("orders-bus")
        .send()
        .await
        .expect("bus");
    events
        .put_rule()
        .name("from-inc")
        .event_bus_name("orders-bus")
        .event_pattern(r#"{"source": ["inc"]}"#)
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule("from-inc")
        .event_bus_name("orders-bus")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&via_bus_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("targets");

    let to_queue = create(
        &t,
        &acct.key,
        json!({
            "type": "sqs", "queue_url": direct_url,
            "transformation": "{order: .data.order_no, kind: .type, total: (.data.items | map(.qty) | add)}",
        }),
    )
    .await;
    assert_eq!(to_queue["type"], "sqs");
    assert_eq!(to_queue["queue_url"], direct_url.as_str());
    let to_topic = create(
        &t,
        &acct.key,
        json!({"type": "sns", "topic_arn": topic_arn}),
    )
    .await;
    let to_bus = create(
        &t,
        &acct.key,
        json!({"type": "eventbridge", "event_bus_name": "orders-bus"}),
    )
    .await;
    let (status, got) = t
        .get(&acct.key, &format!("/v1/endpoints/{}", id(&to_bus)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["event_bus_name"], "orders-bus");

    let mut sent = Vec::new();
    for n in 0..3 {
        let event = json!({
            "id": format!("dest-{n}"), "type": "order.completed",
            "data": {"order_no": format!("A-{n}"), "items": [{"qty": n + 1}, {"qty": 2}]},
        });
        let (status, body) = t.post_event(&acct.key, &event).await;
        assert_eq!(status, 202, "{body}");
        let by_endpoint = notifications_of(&t, &acct.key, &body).await;
        assert_eq!(by_endpoint.len(), 3, "{by_endpoint:?}");
        sent.push(by_endpoint);
    }

    // The queue: the reshaped body, the webhook id as an attribute, each once.
    let mut direct = drain(&t, &direct_url, 3).await;
    direct.sort_by_key(|(b, _)| b["order"].as_str().unwrap_or_default().to_owned());
    for (n, (body, attributes)) in direct.iter().enumerate() {
        assert_eq!(
            body,
            &json!({"order": format!("A-{n}"), "kind": "order.completed", "total": n + 3})
        );
        assert_eq!(
            attributes.get("webhook-id"),
            sent[n].get(&id(&to_queue)),
            "{attributes:?}"
        );
    }
    // The topic, through its subscription: SNS's envelope around the
    // webhook, the attribute inside it.
    let via_topic = drain(&t, &via_sns_url, 3).await;
    let mut topic_ids: Vec<String> = via_topic
        .iter()
        .map(|(envelope, _)| {
            let webhook: Value =
                serde_json::from_str(envelope["Message"].as_str().expect("a message"))
                    .expect("the webhook's JSON");
            assert_eq!(webhook["type"], "order.completed");
            assert!(webhook["data"]["order_no"].is_string(), "{webhook}");
            envelope["MessageAttributes"]["webhook-id"]["Value"]
                .as_str()
                .expect("webhook-id")
                .to_owned()
        })
        .collect();
    topic_ids.sort();
    let mut expected: Vec<String> = sent.iter().map(|s| s[&id(&to_topic)].clone()).collect();
    expected.sort();
    assert_eq!(topic_ids, expected);
    // The bus, through its rule: source `inc`, the event type as the
    // detail-type, the webhook as the detail.
    let via_bus = drain(&t, &via_bus_url, 3).await;
    let mut orders: Vec<String> = via_bus
        .iter()
        .map(|(event, _)| {
            assert_eq!(event["source"], "inc");
            assert_eq!(event["detail-type"], "order.completed");
            event["detail"]["data"]["order_no"]
                .as_str()
                .expect("the webhook as detail")
                .to_owned()
        })
        .collect();
    orders.sort();
    assert_eq!(orders, ["A-0", "A-1", "A-2"]);

    // Delivered, and nothing more on any queue.
    for s in &sent {
        for notification_id in s.values() {
            t.notification_when(&acct.key, notification_id, |n| n["status"] == "delivered")
                .await;
        }
    }
    // Counted like an HTTP endpoint's deliveries.
    for e in [&to_queue, &to_topic, &to_bus] {
        eventually("the endpoint's stats", PATIENCE, || async {
            let (status, stats) = t
                .get(&acct.key, &format!("/v1/endpoints/{}/stats", id(e)))
                .await;
            (status == 200 && stats["totals"]["delivered"] == 3).then_some(())
        })
        .await;
    }
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    for url in [&direct_url, &via_sns_url, &via_bus_url] {
        let more = sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        assert!(
            more.messages.unwrap_or_default().is_empty(),
            "{url}: a copy"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_and_programs_are_refused_at_save_and_change_nothing() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let (queue_url, _) = queue(&t, "refusals").await;
    let cases = [
        (
            json!({"type": "sqs", "queue_url": "https://example.com/q"}),
            422,
            "queue_url",
        ),
        (json!({"type": "sqs"}), 400, "queue_url"),
        (
            json!({"type": "sns", "topic_arn": "arn:aws:sqs:us-east-1:123456789012:x"}),
            422,
            "topic_arn",
        ),
        (
            json!({"type": "eventbridge", "event_bus_name": "has space"}),
            422,
            "event_bus_name",
        ),
        (json!({"type": "kafka", "url": sink.url()}), 422, "type"),
        (
            json!({"type": "sqs", "queue_url": queue_url, "url": sink.url()}),
            422,
            "url",
        ),
        (
            json!({"type": "sqs", "queue_url": queue_url, "format": "form"}),
            422,
            "format",
        ),
        (
            json!({"url": sink.url(), "topic_arn": "arn:aws:sns:us-east-1:123456789012:x"}),
            422,
            "topic_arn",
        ),
        (
            json!({"url": sink.url(), "transformation": "{a: .b"}),
            422,
            "transformation",
        ),
        (
            json!({"url": sink.url(), "transformation": "env.AWS_SECRET_ACCESS_KEY"}),
            422,
            "transformation",
        ),
        (
            json!({"url": sink.url(), "transformation": 7}),
            400,
            "transformation",
        ),
        (
            json!({"url": sink.url(), "transformation": ".".repeat(16 * 1024 + 1)}),
            422,
            "transformation",
        ),
        (
            json!({"url": sink.url(), "format": "form", "transformation": "{id}"}),
            422,
            "transformation",
        ),
    ];
    for (body, code, field) in cases {
        let (status, answer) = t
            .call(Method::POST, "/v1/endpoints", &acct.key, Some(body.clone()))
            .await;
        assert_eq!(status, code, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    // A patch that does not compile leaves the program as it was.
    let ep = create(
        &t,
        &acct.key,
        json!({"url": sink.url(), "transformation": "{id}"}),
    )
    .await;
    let path = format!("/v1/endpoints/{}", id(&ep));
    let (status, answer) = t
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"transformation": "map("})),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("transformation"))
    );
    let (_, now) = t.get(&acct.key, &path).await;
    assert_eq!(now["transformation"], "{id}");
    // Turning the HTTP endpoint into a queue needs its queue_url, then
    // drops the url; null removes the program.
    let (status, answer) = t
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"type": "sqs"})),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("queue_url"))
    );
    let (status, answer) = t
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"type": "sqs", "queue_url": queue_url, "transformation": null})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], "sqs");
    assert_eq!(answer["transformation"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_route_runs_a_program_and_a_failing_one_fails_only_its_notification() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let ep = create(
        &t,
        &acct.key,
        json!({"url": sink.url(), "filter_types": ["order.*"], "transformation": r#"if .data.fail then error("order \(.data.order_no) refused") else {order: .data.order_no} end"#}),
    )
    .await;
    let runaway = create(
        &t,
        &acct.key,
        json!({"url": sink.url(), "transformation": "def f: f; f", "filter_types": ["loop.*"]}),
    )
    .await;
    let test = format!("/v1/endpoints/{}/transformation/test", id(&ep));
    let (status, answer) = t
        .call(
            Method::POST,
            &test,
            &acct.key,
            Some(json!({"event": {"type": "order.completed", "data": {"order_no": "A-1"}}})),
        )
        .await;
    assert_eq!(
        (status, answer.clone()),
        (200, json!({"output": {"order": "A-1"}}))
    );
    // A draft, as the panel's editor tries it; a string goes as is.
    let (status, answer) = t
        .call(
            Method::POST,
            &test,
            &acct.key,
            Some(json!({"event": {"type": "x.y", "data": {}}, "transformation": r#""hello \(.type)""#})),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"output": "hello x.y"})));
    let (status, answer) = t
        .call(
            Method::POST,
            &test,
            &acct.key,
            Some(json!({"event": {"type": "o", "data": {"fail": true, "order_no": "A-2"}}})),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("jq error") && message.contains("order A-2 refused"),
        "{answer}"
    );
    let (status, answer) = t
        .call(
            Method::POST,
            &format!("/v1/endpoints/{}/transformation/test", id(&runaway)),
            &acct.key,
            Some(json!({"event": {"type": "loop.x", "data": {}}})),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped")
    );
    let (status, answer) = t
        .call(Method::POST, &test, &acct.key, Some(json!({"event": 5})))
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("event"))
    );

    // Sent for real: the good event arrives reshaped; the failing one and
    // the runaway fail for good naming why, and the endpoint stays healthy.
    let mut accepted = BTreeMap::new();
    for (n, kind, data) in [
        ("ok", "order.completed", json!({"order_no": "A-3"})),
        (
            "bad",
            "order.completed",
            json!({"order_no": "A-4", "fail": true}),
        ),
        ("spin", "loop.forever", json!({})),
    ] {
        let (status, body) = t
            .post_event(&acct.key, &json!({"id": n, "type": kind, "data": data}))
            .await;
        assert_eq!(status, 202, "{body}");
        accepted.insert(
            n,
            body["notifications"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let received = sink.wait_for(1).await;
    assert_eq!(received[0].body, r#"{"order":"A-3"}"#);
    for (event, why) in [("bad", "order A-4 refused"), ("spin", "stopped")] {
        let failed = t
            .notification_when(&acct.key, &accepted[event], |n| n["status"] == "failed")
            .await;
        let last_error = failed["last_error"].as_str().unwrap_or_default();
        assert!(
            last_error.starts_with("the transformation failed") && last_error.contains(why),
            "{failed}"
        );
    }
    t.notification_when(&acct.key, &accepted["ok"], |n| n["status"] == "delivered")
        .await;
    assert_eq!(sink.received().len(), 1, "a failed program sent nothing");
    for e in [&ep, &runaway] {
        let (_, now) = t.get(&acct.key, &format!("/v1/endpoints/{}", id(e))).await;
        assert_eq!(now["failing_since"], Value::Null, "{now}");
        assert_eq!(now["enabled"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_is_retried_and_counts_against_the_endpoints_health() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let (queue_url, _) = queue(&t, "soon-gone").await;
    let ep = create(
        &t,
        &acct.key,
        json!({"type": "sqs", "queue_url": queue_url}),
    )
    .await;
    aws_sdk_sqs::Client::new(&t.sdk)
        .delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("deleted");
    let (status, body) = t
        .post_event(
            &acct.key,
            &json!({"id": "lost", "type": "order.completed", "data": {}}),
        )
        .await;
    assert_eq!(status, 202);
    let notification_id = body["notifications"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let full = t
        .notification_when(&acct.key, &notification_id, |n| {
            n["attempts"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_ne!(full["status"], "delivered", "{full}");
    let attempt = &full["attempts"][0];
    assert!(
        attempt["status_code"].as_u64().is_some_and(|c| c >= 400),
        "{full}"
    );
    assert!(
        attempt["error"]
            .as_str()
            .unwrap_or_default()
            .contains("NonExistentQueue")
            || attempt["error"]
                .as_str()
                .unwrap_or_default()
                .contains("does not exist"),
        "{full}"
    );
    let (_, now) = t
        .get(&acct.key, &format!("/v1/endpoints/{}", id(&ep)))
        .await;
    assert!(now["failing_since"].is_string(), "{now}");
}
