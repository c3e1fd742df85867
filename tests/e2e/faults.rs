//! Fault tests: events go through the local stack while the endpoint, the
//! worker, SQS or the local AWS endpoint misbehave; each test then prints
//! and checks its ledger — accepted = delivered + failed + pending, nothing
//! lost, nothing delivered twice. [`outbox`] fails each write-then-enqueue
//! path half way, [`messages`] a direct message's, [`receipts`] an email
//! receipt's, [`bundle`] the split of a wide fan-out's bundle;
//! [`concurrency`] runs what contends at once.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use inc_tests::{Answer, PATIENCE, Sink, TestStack, eventually, seed_event};

#[path = "faults/bundle.rs"]
mod bundle;
#[path = "faults/concurrency.rs"]
mod concurrency;
#[path = "faults/messages.rs"]
mod messages;
#[path = "faults/outbox.rs"]
mod outbox;
#[path = "faults/receipts.rs"]
mod receipts;

fn gaps(n: &inc_shared::domain::Notification) -> Vec<chrono::Duration> {
    n.attempts.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// How many requests the sink received per `webhook-id`.
fn per_webhook_id(sink: &Sink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in sink.received() {
        *counts.entry(r.headers["webhook-id"].clone()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_several_attempts_then_back() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "1,1,1,1,1,1,1,1,1,1")]).await;
    // A port nobody listens on yet: connections are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let acct = t.account(Some(&format!("http://{addr}/ipn"))).await;
    let accepted = t.post_events(&acct.key, "down", 5).await;
    eventually("two refused attempts each", PATIENCE, || async {
        let all = t.notifications(&acct.id, &accepted).await;
        all.iter()
            .all(|n| n.as_ref().is_some_and(|n| n.attempts.len() >= 2))
            .then_some(())
    })
    .await;
    let sink = Sink::scripted_on(addr, &[]).await;
    let ledger = t
        .settled_ledger("endpoint down, then back", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 5);
    for n in t
        .notifications(&acct.id, &accepted)
        .await
        .into_iter()
        .flatten()
    {
        let first = &n.attempts[0];
        assert!(
            first
                .error
                .as_deref()
                .is_some_and(|e| e.contains("could not connect")),
            "{first:?}"
        );
        assert_eq!(n.attempts.last().and_then(|a| a.status_code), Some(200));
    }
    // One request per notification reached the endpoint once it was up.
    assert!(per_webhook_id(&sink).values().all(|&c| c == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_5xx() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "0,0,0,0,0")]).await;
    let sink = Sink::answering(&[
        500, 502, 503, 504, 500, 502, 503, 504, 500, 500, 500, 503, 503, 500, 500, 500, 502, 503,
        504, 500, 500, 502, 503, 504, 500,
    ])
    .await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "storm", 10).await;
    let ledger = t.settled_ledger("5xx storm", &acct.id, &accepted).await;
    // Every request the endpoint saw is in the log, and no more.
    assert_eq!(ledger.attempts, sink.received().len());
    assert_eq!(ledger.attempts, 25 + ledger.delivered, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_past_the_timeout() {
    let t =
        TestStack::with_parameters(&[("WebhookTimeoutSeconds", "1"), ("RetryFloorSeconds", "2")])
            .await;
    let slow = Answer {
        delay: Duration::from_secs(3),
        ..Answer::status(200)
    };
    let sink = Sink::scripted(&[slow; 3]).await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "slow", 3).await;
    let ledger = t.settled_ledger("slow endpoint", &acct.id, &accepted).await;
    assert_eq!(ledger.delivered, 3);
    for n in t
        .notifications(&acct.id, &accepted)
        .await
        .into_iter()
        .flatten()
    {
        assert!(n.attempts[0].timed_out, "{:?}", n.attempts[0]);
        assert!(
            n.attempts[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("timed out"))
        );
        // The schedule said 0 s; a timeout waits at least the floor.
        assert!(
            gaps(&n)[0] >= chrono::Duration::seconds(2),
            "{:?}",
            gaps(&n)
        );
    }
    // The endpoint saw each webhook twice (the first answer came too late),
    // with one webhook-id, so it can tell the copy.
    assert!(
        per_webhook_id(&sink).values().all(|&c| c == 2),
        "{:?}",
        per_webhook_id(&sink)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after() {
    let t = TestStack::start().await;
    let sink = Sink::answering_with(&[(429, Some(2)); 3]).await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "throttled", 3).await;
    let ledger = t
        .settled_ledger("429 + Retry-After", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 3);
    for n in t
        .notifications(&acct.id, &accepted)
        .await
        .into_iter()
        .flatten()
    {
        assert_eq!(n.attempts[0].status_code, Some(429));
        assert!(
            gaps(&n)[0] >= chrono::Duration::seconds(2),
            "{:?}",
            gaps(&n)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_gives_up_at_once() {
    let t = TestStack::start().await;
    let sink = Sink::answering(&[410; 4]).await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "gone", 4).await;
    let ledger = t.settled_ledger("410 Gone", &acct.id, &accepted).await;
    assert_eq!((ledger.failed, ledger.attempts), (4, 4), "{ledger}");
    assert_eq!(sink.received().len(), 4);
    eventually("four messages in the DLQ", PATIENCE, || async {
        (t.queue_depth("INC_DEAD_LETTER_QUEUE_URL").await == 4).then_some(())
    })
    .await;
    for n in t
        .notifications(&acct.id, &accepted)
        .await
        .into_iter()
        .flatten()
    {
        assert_eq!(
            n.last_error.as_deref(),
            Some("the endpoint answered 410 Gone")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_stopped_in_the_middle_of_a_batch_and_restarted() {
    let mut t = TestStack::with_parameters(&[("WebhookTimeoutSeconds", "5")]).await;
    // What is in flight comes back 2 s after the worker dies. (A receive
    // takes the queue's visibility when it starts: set it between polls.)
    t.stop_workers().await;
    aws_sdk_sqs::Client::new(&t.sdk)
        .set_queue_attributes()
        .queue_url(t.env("INC_DELIVERY_QUEUE_URL"))
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .expect("set the visibility timeout");
    t.stack.start_workers();
    let slow = Answer {
        delay: Duration::from_secs(2),
        ..Answer::status(200)
    };
    let sink = Sink::scripted(&[slow; 8]).await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "crash", 8).await;
    sink.wait_for(1).await;
    t.stack.stop_workers();
    let in_flight = sink.received().len();
    t.stack.start_workers();
    let ledger = t
        .settled_ledger("worker stopped mid-batch", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 8);
    // Requests cut short by the crash were sent again: at least once.
    let counts = per_webhook_id(&sink);
    assert_eq!(counts.len(), 8);
    println!(
        "in flight at the crash: {in_flight}; requests at the endpoint: {}",
        sink.received().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_sqs_message_handed_to_two_invocations_is_sent_once() {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    // Slow enough that both invocations are inside the attempt together.
    let slow = Answer {
        delay: Duration::from_millis(500),
        ..Answer::status(200)
    };
    let sink = Sink::scripted(&[slow; 5]).await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "twice", 5).await;

    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue = t.env("INC_DELIVERY_QUEUE_URL");
    let event = t.receive_records(5).await;
    let deliver = t.deliver();
    let (a, b) = tokio::join!(deliver.handle(event.clone()), deliver.handle(event.clone()));
    // Each record was sent by exactly one of the two.
    assert_eq!(a.batch_item_failures.len() + b.batch_item_failures.len(), 5);
    // A third copy, put on the queue again, changes nothing either.
    for r in &event.records {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(r.body.clone().unwrap_or_default())
            .send()
            .await
            .expect("send a copy");
    }
    t.stack.start_workers();
    let ledger = t
        .settled_ledger("the same message twice", &acct.id, &accepted)
        .await;
    assert_eq!((ledger.delivered, ledger.attempts), (5, 5), "{ledger}");
    eventually("the copies consumed", PATIENCE, || async {
        (t.queue_depth("INC_DELIVERY_QUEUE_URL").await <= 5).then_some(())
    })
    .await;
    assert_eq!(sink.received().len(), 5);
    assert!(per_webhook_id(&sink).values().all(|&c| c == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_with_the_aws_endpoint_unreachable_answers_503_and_keeps_nothing() {
    let t = TestStack::behind_proxy(&[]).await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let event = seed_event("evt-cut", "sms.sent");

    proxy.cut();
    let response = t
        .http
        .post(t.url("/v1/events"))
        .header("Authorization", format!("Api-Key {}", acct.key))
        .json(&event)
        .send()
        .await
        .expect("INC answers");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
    // Nothing half-written: no event, no notification, no message.
    assert_eq!(t.scan("INC_EVENTS_TABLE").await, 0);
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 0);
    assert_eq!(t.queue_depth("INC_DELIVERY_QUEUE_URL").await, 0);

    t.outlast_cut_polls().await;
    proxy.restore();
    let (status, first) = t.post_event(&acct.key, &event).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = t.post_event(&acct.key, &event).await;
    assert_eq!((status, &again), (200, &first));
    let accepted: Vec<String> = first["notifications"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let ledger = t
        .settled_ledger("AWS unreachable during ingest", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 1);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dead_letter_queue_alone() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    sqs.send_message()
        .queue_url(t.env("INC_DELIVERY_QUEUE_URL"))
        .message_body("{not json")
        .send()
        .await
        .expect("send poison");
    // A good message in the same stream is not held up by it.
    let accepted = t.post_events(&acct.key, "beside-poison", 1).await;
    t.settled_ledger("poison beside a good message", &acct.id, &accepted)
        .await;
    let (message, reason) = t.dead_letter().await;
    assert_eq!(message.body(), Some("{not json"));
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("unreadable")),
        "{reason:?}"
    );
    eventually("the delivery queue empty", PATIENCE, || async {
        (t.queue_depth("INC_DELIVERY_QUEUE_URL").await == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dynamodb_unreachable_every_record_of_the_batch_is_reported_failed() {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    t.post_events(&acct.key, "down-batch", 3).await;
    let event = t.receive_records(3).await;
    let deliver = t.deliver();
    t.stop_aws();
    let response = deliver.handle(event.clone()).await;
    let mut failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let mut all: Vec<_> = event
        .records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .collect();
    failed.sort();
    all.sort();
    assert_eq!(failed, all, "every record is handed back to SQS");
    assert!(sink.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_deliver_emit_cloudwatch_emf_metrics() {
    use tower::ServiceExt;
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let sink = Sink::answering(&[500]).await;
    let acct = t.account(Some(&sink.url())).await;
    let config = t.config();

    // Ingest, with its metrics captured: two events accepted.
    let (metrics, ingest_lines) = inc_shared::metrics::Metrics::captured();
    let ingest = inc_ingest::router(std::sync::Arc::new(
        inc_ingest::Ingest::new(&t.sdk, &config)
            .expect("ingest")
            .with_metrics(metrics),
    ));
    for id in ["evt-emf-1", "evt-emf-2"] {
        let request = axum::http::Request::post("/v1/events")
            .header("Authorization", format!("Api-Key {}", acct.key))
            .header("Content-Type", "application/json")
            .body(axum::body::Body::from(
                seed_event(id, "sms.sent").to_string(),
            ))
            .expect("request");
        let response = ingest.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status().as_u16(), 202);
    }

    // Deliver, with its metrics captured: one retried (the 500), one delivered.
    let event = t.receive_records(2).await;
    let (metrics, deliver_lines) = inc_shared::metrics::Metrics::captured();
    let deliver = t.deliver().with_metrics(metrics);
    deliver.handle(event).await;

    let parse = |lines: &std::sync::Mutex<Vec<String>>| -> Vec<serde_json::Value> {
        lines
            .lock()
            .expect("lines")
            .iter()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON document"))
            .collect()
    };
    let accepted = parse(&ingest_lines);
    assert_eq!(accepted.len(), 2);
    for doc in &accepted {
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "INC");
        assert_eq!(doc["EventType"], "sms.sent");
        assert_eq!(doc["EventsAccepted"], 1.0);
    }
    let deliveries = parse(&deliver_lines);
    let mut names: Vec<String> = deliveries
        .iter()
        .map(|d| {
            assert_eq!(d["Channel"], "webhook");
            assert!(d["DeliveryLatency"].as_f64().is_some_and(|ms| ms >= 0.0));
            let metrics = &d["_aws"]["CloudWatchMetrics"][0]["Metrics"];
            metrics[0]["Name"].as_str().expect("name").to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["NotificationsDelivered", "NotificationsRetried"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_ten_webhooks_costs_one_read_and_two_writes_each_and_one_for_stats() {
    let mut t = TestStack::behind_proxy(&[]).await;
    t.stop_workers().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "cost", 10).await;
    let event = t.receive_records(10).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let sdk = inc_cli::local::sdk_config(&proxy.endpoint(), "us-east-1").await;
    let deliver = inc_deliver::Deliver::new(&sdk, &t.config()).expect("deliver");
    proxy.take_calls();
    let answer = deliver.handle(event).await;
    assert!(answer.batch_item_failures.is_empty());
    let calls = proxy.take_calls();
    println!("AWS calls for a batch of 10 webhooks: {calls:?}");
    // One read for the batch (notifications and accounts), then per
    // webhook its lease and its attempt, and one write of the endpoint's
    // statistics for the batch.
    assert_eq!(
        calls.get("DynamoDB_20120810.BatchGetItem"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("DynamoDB_20120810.UpdateItem"),
        Some(&21),
        "{calls:?}"
    );
    assert_eq!(calls.values().sum::<usize>(), 22, "{calls:?}");
    let ledger = t.ledger(&acct.id, &accepted).await;
    assert_eq!((ledger.delivered, ledger.attempts), (10, 10), "{ledger}");
    assert_eq!(sink.received().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_deliver_instance_sees_settings_and_secret_changes_at_its_next_batch() {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let (first, second) = (Sink::start().await, Sink::start().await);
    let acct = t.account(Some(&first.url())).await;
    // One instance throughout: its account cache is warm after a batch.
    let deliver = t.deliver();
    let deliver_one = async |id: &str| {
        t.post_event(&acct.key, &seed_event(id, "sms.sent")).await;
        let answer = deliver.handle(t.receive_records(1).await).await;
        assert!(answer.batch_item_failures.is_empty(), "{id}");
    };
    deliver_one("warm-1").await;
    deliver_one("warm-2").await;
    assert_eq!(first.received().len(), 2);

    let (status, body) = t
        .patch_settings(&acct.key, inc_tests::json!({"endpoint_url": second.url()}))
        .await;
    assert_eq!(status, 200, "{body}");
    deliver_one("moved").await;
    assert_eq!(first.received().len(), 2, "the old URL is not called again");
    let moved = second.received();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].headers["webhook-signature"].split(' ').count(), 1);

    let (status, body) = t
        .send_json(
            "/v1/settings/secret/rotate",
            &acct.key,
            inc_tests::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    deliver_one("rotated").await;
    let got = second.received();
    assert_eq!(got.len(), 2);
    // Signed with the new secret beside the old one: the rotated account.
    assert_eq!(got[1].headers["webhook-signature"].split(' ').count(), 2);
}
