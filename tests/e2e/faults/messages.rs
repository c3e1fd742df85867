//! Direct messages (contract section 9) when their write or their queue
//! fails: SQS down after the claim answers 503 and keeps the message, whose
//! retry (or, with no retry, the sweeper) sends it once; DynamoDB down
//! stores nothing. The ledger counts the gateway's requests per message.

use chrono::Utc;
use inc_tests::{Sink, TestStack, json};
use serde_json::Value;
use std::collections::BTreeMap;

/// SQS's batch send, as the proxy sees it in the request's target header.
const SQS_BATCH: &str = "AmazonSQS.SendMessageBatch";
const DYNAMO_TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";

fn sms(id: &str, extra: Value) -> Value {
    let mut body =
        json!({"id": id, "channel": "sms", "to": "+393331234567", "text": format!("Text of {id}")});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

/// The gateway's requests per notification id (`custom`).
fn sends(gateway: &Sink) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in gateway.received() {
        let fields: BTreeMap<String, String> = serde_urlencoded::from_str(&r.body).expect("form");
        *by.entry(fields["custom"].clone()).or_default() += 1;
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_queue_or_table_fails_is_sent_once_or_not_stored() {
    let t = TestStack::behind_proxy(&[("ScheduleLeadSeconds", "2")]).await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let key = &acct.key;

    // DynamoDB refuses the claim: 503, nothing stored.
    proxy.refuse(DYNAMO_TRANSACT);
    let (status, body) = t
        .send_json("/v1/messages", key, sms("f-1", json!({})))
        .await;
    assert_eq!(status, 503, "{body}");
    proxy.restore();
    assert_eq!(t.scan("INC_MESSAGES_TABLE").await, 0);
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 0);

    // SQS refuses after the claim: 503, kept; the client's retry answers
    // the stored message (200) and queues it.
    proxy.refuse(SQS_BATCH);
    let (status, body) = t
        .send_json("/v1/messages", key, sms("f-1", json!({})))
        .await;
    assert_eq!(status, 503, "{body}");
    let soon = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let scheduled = sms("f-2", json!({ "send_at": soon }));
    let (status, body) = t.send_json("/v1/messages", key, scheduled).await;
    assert_eq!(status, 503, "{body}");
    proxy.restore();
    assert_eq!(t.scan("INC_MESSAGES_TABLE").await, 2);
    let (status, first) = t
        .send_json("/v1/messages", key, sms("f-1", json!({})))
        .await;
    assert_eq!(
        (status, &first["status"]),
        (200, &json!("queued")),
        "{first}"
    );

    // f-2 is never retried: past its send and the release grace, the
    // sweeper puts it on the queue itself.
    let mut ids = vec![first["notification_id"].as_str().unwrap().to_owned()];
    let (_, f2) = t.get(key, "/v1/messages/f-2").await;
    assert_eq!(f2["status"], "scheduled", "{f2}");
    ids.push(f2["notification_id"].as_str().unwrap().to_owned());
    // Through the proxy, to count its calls: the due index is queried, no
    // table is ever scanned, however many messages wait.
    let sdk = inc_cli::local::sdk_config(&proxy.endpoint(), "us-east-1").await;
    let sweeper = inc_sweeper::Sweeper::new(&sdk, &t.config()).expect("sweeper");
    proxy.take_calls();
    let report = sweeper
        .sweep(Utc::now() + chrono::Duration::seconds(31))
        .await
        .expect("a sweep");
    assert_eq!(report.released, 1, "{report:?}");
    let calls = proxy.take_calls();
    assert!(calls.contains_key("DynamoDB_20120810.Query"), "{calls:?}");
    assert!(!calls.keys().any(|k| k.contains("Scan")), "{calls:?}");

    let ledger = t
        .settled_ledger("messages: the table, then the queue, down", &acct.id, &ids)
        .await;
    assert_eq!(ledger.delivered, 2, "{ledger}");
    gateway.wait_for(2).await;
    // Nothing is owed any more, and each went once.
    let report = t.sweep_after_grace().await;
    assert_eq!((report.requeued, report.released), (0, 0), "{report:?}");
    let sent = sends(&gateway);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_id_posted_at_once_is_one_message_and_a_cancel_racing_the_send_leaves_one_outcome() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let key = &acct.key;

    // Eight copies of one request at once: one message, one notification.
    let copies = (0..8).map(|_| t.send_json("/v1/messages", key, sms("same", json!({}))));
    let answers = futures::future::join_all(copies).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert!(matches!(status, 200 | 202), "{status} {body}");
            body["notification_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|(s, _)| *s == 202).count(), 1);
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 1);

    // Twelve messages due in a second, each canceled just as it comes due:
    // each is either canceled and never sent, or sent once and its cancel
    // refused — never both.
    let send_at = Utc::now() + chrono::Duration::seconds(1);
    let mut notifications = BTreeMap::new();
    for i in 0..12 {
        let id = format!("race-{i}");
        let (status, body) = t
            .send_json(
                "/v1/messages",
                key,
                sms(&id, json!({"send_at": send_at.to_rfc3339()})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        notifications.insert(id, body["notification_id"].as_str().unwrap().to_owned());
    }
    while Utc::now() < send_at {
        tokio::task::yield_now().await;
    }
    let stack = &t;
    let cancels = notifications.keys().map(|id| async move {
        let (status, _) = stack
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/messages/{id}"),
                key,
                None,
            )
            .await;
        (id.clone(), status)
    });
    let cancels: BTreeMap<String, u16> = futures::future::join_all(cancels)
        .await
        .into_iter()
        .collect();
    let mut all: Vec<String> = notifications.values().cloned().collect();
    all.extend(ids);
    let ledger = t
        .settled_ledger("messages: cancels racing sends", &acct.id, &all)
        .await;
    let sent = sends(&gateway);
    for (id, nid) in &notifications {
        match cancels[id] {
            200 => assert_eq!(sent.get(nid), None, "{id} was canceled yet sent"),
            409 => assert_eq!(
                sent.get(nid),
                Some(&1),
                "{id} was sent {:?} times",
                sent.get(nid)
            ),
            other => panic!("{id}: cancel answered {other}"),
        }
    }
    let canceled = cancels.values().filter(|s| **s == 200).count();
    println!(
        "cancels racing sends: canceled={canceled} sent={}",
        12 - canceled
    );
    assert_eq!(
        (ledger.canceled, ledger.delivered),
        (canceled, 13 - canceled),
        "{ledger}"
    );
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_messages_survive_a_restart_and_two_runners_send_each_once() {
    let mut t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let send_at = Utc::now() + chrono::Duration::seconds(2);
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = sms(
            &format!("restart-{i}"),
            json!({"send_at": send_at.to_rfc3339()}),
        );
        let (status, answer) = t.send_json("/v1/messages", &acct.key, body).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["notification_id"].as_str().unwrap().to_owned());
    }
    // Deliver goes down before the send time…
    t.stop_workers().await;
    // …and past it, the sweeper releases them again (their delayed
    // messages look lost): two messages for each.
    let report = t
        .sweeper()
        .sweep(send_at + chrono::Duration::seconds(31))
        .await
        .expect("a sweep");
    assert_eq!(report.released, 5, "{report:?}");
    // Two fresh deliver instances take the ten messages at once.
    let records = t.receive_records(10).await;
    let (first, second) = records.records.split_at(5);
    let batch = |records: &[aws_lambda_events::sqs::SqsMessage]| {
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        event.records = records.to_vec();
        let deliver = t.deliver();
        async move { deliver.handle(event).await }
    };
    let (a, b) = tokio::join!(batch(first), batch(second));
    // A copy that met the other's lease is handed back to wait on the
    // queue: at most one copy of each.
    let waiting = a.batch_item_failures.len() + b.batch_item_failures.len();
    assert!(waiting <= 5, "{waiting} copies handed back");
    let ledger = t.ledger(&acct.id, &ids).await;
    assert_eq!(ledger.delivered, 5, "{ledger}");
    ledger.assert_balanced();
    let sent = sends(&gateway);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    for n in t.notifications(&acct.id, &ids).await.into_iter().flatten() {
        assert!(n.attempts[0].at >= send_at, "sent before its send_at");
    }
}
