//! Every write-then-enqueue path ends whole (the outbox of
//! `inc_shared::domain::delivery::outbox`): SQS, the undo write or the dead-letter
//! send fail at the worst moment, and each test prints its ledger — nothing
//! stuck, nothing erased, nothing sent twice.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use inc_shared::domain::Status;
use inc_tests::{Account, PATIENCE, Sink, TestStack, eventually, json};
use serde_json::Value;

use super::per_webhook_id;

/// SQS's batch send, as the proxy sees it in the request's target header.
const SQS_BATCH: &str = "AmazonSQS.SendMessageBatch";
/// SQS's single send (the dead-letter copy) and nothing longer.
const SQS_SINGLE: &str = "AmazonSQS.SendMessage\r\n";

fn ids(body: &Value) -> Vec<String> {
    body["notifications"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Posts `body` to `path` and answers the status, the `Retry-After` header
/// and the body.
async fn post(t: &TestStack, key: &str, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = t
        .http
        .post(t.url(path))
        .header("Authorization", format!("Api-Key {key}"))
        .json(body)
        .send()
        .await
        .expect("INC answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

fn paid(id: &str, session: &str) -> Value {
    json!({"id": id, "type": "payment.state_changed",
           "data": {"session_id": session, "state": "paid"}})
}

async fn state_changes(t: &TestStack, key: &str, session: &str) -> usize {
    let (status, body) = t.get(key, &format!("/v1/transactions/{session}")).await;
    assert_eq!(status, 200, "{body}");
    body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "state_changed")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_with_sqs_down_keeps_the_event_and_the_clients_retry_sends_it_once() {
    let t = TestStack::behind_proxy(&[]).await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let event = paid("evt-half", "s-half");

    proxy.refuse(SQS_BATCH);
    let (status, retry_after, body) = post(&t, &acct.key, "/v1/events", &event).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("service_unavailable")),
        "{body}"
    );
    assert!(retry_after.is_some(), "a 503 says when to retry");
    // Stored whole, never undone: the claim, the webhook, the state change.
    assert_eq!(t.scan("INC_EVENTS_TABLE").await, 1);
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 1);
    assert_eq!(state_changes(&t, &acct.key, "s-half").await, 1);

    proxy.restore();
    let (status, first) = t.post_event(&acct.key, &event).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = t.post_event(&acct.key, &event).await;
    assert_eq!((status, &again), (200, &first));
    let accepted = ids(&first);
    let ledger = t
        .settled_ledger(
            "ingest: SQS down, then the client's retry",
            &acct.id,
            &accepted,
        )
        .await;
    assert_eq!(ledger.delivered, 1);
    // A sweep later finds nothing owed; the webhook went out once.
    let report = t.sweep_after_grace().await;
    assert_eq!(report.requeued, 0, "{report:?}");
    sink.wait_for(1).await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(per_webhook_id(&sink).into_values().collect::<Vec<_>>(), [1]);
    assert_eq!(state_changes(&t, &acct.key, "s-half").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_with_sqs_down_and_no_retry_is_sent_by_the_scheduled_sweeper() {
    let t = TestStack::behind_proxy_sweeping(&[("SweepGraceSeconds", "1")], Duration::from_secs(1))
        .await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let proxy = t.proxy.as_ref().expect("proxy");

    proxy.refuse(SQS_BATCH);
    let (status, _, body) = post(&t, &acct.key, "/v1/events", &paid("evt-lone", "s-lone")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(t.queue_depth("INC_DELIVERY_QUEUE_URL").await, 0);
    proxy.restore();
    // The client never retries: the schedule the template declares fires
    // the sweeper, which queues the notification.
    sink.wait_for(1).await;
    let accepted = history_ids(&t, &acct.key, "session_id=s-lone").await;
    let ledger = t
        .settled_ledger(
            "ingest: SQS down, no retry, the sweeper",
            &acct.id,
            &accepted,
        )
        .await;
    assert_eq!((ledger.accepted, ledger.delivered), (1, 1), "{ledger}");
    assert!(per_webhook_id(&sink).values().all(|&c| c == 1));
}

/// An account whose webhook failed for good: its notification, as stored.
async fn failed_webhook(t: &TestStack, sink: &Sink) -> (Account, inc_shared::domain::Notification) {
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "gives-up", 1).await;
    let ledger = t
        .settled_ledger("a webhook that gives up", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.failed, 1, "{ledger}");
    let n = t
        .store()
        .get_notification(&acct.id, &accepted[0])
        .await
        .expect("read")
        .expect("stored");
    assert!(n.last_error.is_some());
    (acct, n)
}

/// Resends `n` while the proxy refuses what the test set: `503` with
/// `Retry-After`. Answers the notification as it is stored afterwards, and
/// the seconds the answer asked the client to wait.
async fn refused_resend(
    t: &TestStack,
    acct: &Account,
    n: &inc_shared::domain::Notification,
) -> (inc_shared::domain::Notification, u64) {
    let path = format!("/v1/notifications/{}/resend", n.notification_id);
    let (status, retry_after, body) = post(t, &acct.key, &path, &json!({})).await;
    assert_eq!(status, 503, "{body}");
    let wait = retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("a 503 says when to retry");
    let stored = t
        .store()
        .get_notification(&acct.id, &n.notification_id)
        .await
        .expect("read")
        .expect("kept");
    (stored, wait)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_with_sqs_down_is_undone_exactly_and_its_retry_sends_once() {
    let t = TestStack::behind_proxy(&[("RetrySchedule", "0")]).await;
    let sink = Sink::answering(&[500, 500]).await;
    let (acct, before) = failed_webhook(&t, &sink).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let path = format!("/v1/notifications/{}/resend", before.notification_id);

    proxy.refuse(SQS_BATCH);
    let (after, _) = refused_resend(&t, &acct, &before).await;
    // Put back as it was: nothing erased, nothing left queued.
    assert_eq!(after.status, Status::Failed);
    assert_eq!(after.last_error, before.last_error);
    assert_eq!(after.chain_start, before.chain_start);
    assert_eq!(after.attempts, before.attempts);
    assert_eq!(after.staged, None);

    proxy.restore();
    let (status, _, body) = post(&t, &acct.key, &path, &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let accepted = vec![before.notification_id.clone()];
    let ledger = t
        .settled_ledger("resend: SQS down, then the retry", &acct.id, &accepted)
        .await;
    assert_eq!((ledger.delivered, ledger.attempts), (1, 3), "{ledger}");
    assert_eq!(sink.received().len(), 3, "two failures, then one resend");
}

/// A webhook given up after two 500s, then resent while SQS fails and so
/// does the second UpdateItem (the undo): answered 503, left staged. Answers
/// the account, the sink, the notification before and after, the
/// `Retry-After` seconds and the resend's path.
async fn stuck_resend(
    t: &TestStack,
) -> (
    Account,
    Sink,
    inc_shared::domain::Notification,
    inc_shared::domain::Notification,
    u64,
    String,
) {
    let sink = Sink::answering(&[500, 500]).await;
    let (acct, before) = failed_webhook(t, &sink).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    proxy.refuse(SQS_BATCH);
    proxy.refuse_after("DynamoDB_20120810.UpdateItem", 1);
    let (stuck, wait) = refused_resend(t, &acct, &before).await;
    assert_eq!(stuck.status, Status::Queued);
    assert!(stuck.staged.is_some(), "still staged: its undo failed");
    let path = format!("/v1/notifications/{}/resend", before.notification_id);
    (acct, sink, before, stuck, wait, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_whose_undo_fails_too_is_undone_by_the_sweeper_and_never_sent() {
    let t = TestStack::behind_proxy(&[("RetrySchedule", "0")]).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let (acct, sink, before, _, _, path) = stuck_resend(&t).await;

    proxy.restore();
    let report = t.sweep_after_grace().await;
    assert_eq!((report.undone, report.requeued), (1, 0), "{report:?}");
    let after = t
        .store()
        .get_notification(&acct.id, &before.notification_id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (
            after.status,
            &after.last_error,
            after.chain_start,
            after.attempts.len()
        ),
        (Status::Failed, &before.last_error, before.chain_start, 2)
    );
    assert_eq!(sink.received().len(), 2, "the 503'd resend was never sent");

    let (status, _, body) = post(&t, &acct.key, &path, &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let accepted = vec![before.notification_id.clone()];
    let ledger = t
        .settled_ledger(
            "resend: SQS and the undo down, the sweeper",
            &acct.id,
            &accepted,
        )
        .await;
    assert_eq!((ledger.delivered, ledger.attempts), (1, 3), "{ledger}");
    assert_eq!(sink.received().len(), 3);
}

/// Issue #25's third mend: a resend answered `503` during an outage, whose
/// undo failed too, is accepted when the client retries as `Retry-After`
/// says (the stage's request is past its deadline, so the retry takes the
/// stage over), not five minutes later after the sweeper's grace; and the
/// notification is still sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_retried_after_its_503_is_accepted_within_its_retry_after() {
    let t = TestStack::behind_proxy(&[("RetrySchedule", "0")]).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let (acct, sink, before, _, wait, path) = stuck_resend(&t).await;
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    let answered = std::time::Instant::now();
    proxy.restore();
    // The outage is over: the client retries until accepted; it must be by
    // the time Retry-After named (with a second for a busy machine).
    let limit = Duration::from_secs(wait + 1);
    let accepted = eventually("the retried resend accepted", limit, || async {
        let (status, _, body) = post(&t, &acct.key, &path, &json!({})).await;
        match status {
            202 => Some(body),
            409 => None,
            other => panic!("{other}: {body}"),
        }
    })
    .await;
    assert!(answered.elapsed() <= limit, "{accepted}");
    let ids = vec![before.notification_id.clone()];
    let ledger = t
        .settled_ledger("resend: its retry takes the stage over", &acct.id, &ids)
        .await;
    assert_eq!((ledger.delivered, ledger.attempts), (1, 3), "{ledger}");
    assert_eq!(sink.received().len(), 3, "two failures, then one resend");
    // The stage taken over is gone; the sweeper finds nothing to undo.
    let report = t.sweep_after_grace().await;
    assert_eq!((report.undone, report.requeued), (0, 0), "{report:?}");
}

/// The ids the history lists for `query`.
async fn history_ids(t: &TestStack, key: &str, query: &str) -> Vec<String> {
    let (status, page) = t.get(key, &format!("/v1/notifications?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect()
}

const OTTU_SMS: &str = "session_id=s-ottu&channel=sms";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ottus_resend_with_sqs_and_its_undo_down_answers_503_and_sends_once_on_retry() {
    let t = TestStack::behind_proxy(&[]).await;
    let sms = Sink::start().await;
    let acct = t.account(None).await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"channels": {"sms": {"url": format!("http://{}/sms", sms.addr),
                                        "api_key": "gateway-key-1234", "sender": "SHOP"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let event = json!({"id": "evt-ottu", "type": "payment.state_changed",
        "data": {"session_id": "s-ottu", "state": "paid", "customer_phone": "+96599999999",
                 "notifications": {"sms": ["paid"]}}});
    let (status, first) = t.post_event(&acct.key, &event).await;
    assert_eq!(status, 202, "{first}");
    sms.wait_for(1).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let resend = json!({"channels": ["sms"], "session_id": "s-ottu"});

    // SQS fails, and so does the undo of the new notification (a delete).
    proxy.refuse(SQS_BATCH);
    proxy.refuse("DynamoDB_20120810.DeleteItem");
    let (status, retry_after, body) =
        post(&t, &acct.key, "/b/pbl/v2/message-notification/", &resend).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].is_string(), "Ottu's error shape: {body}");
    assert!(retry_after.is_some(), "Ottu's 503 says when to retry");
    assert_eq!(
        history_ids(&t, &acct.key, OTTU_SMS).await.len(),
        2,
        "the unconfirmed resend is staged"
    );

    proxy.restore();
    let report = t.sweep_after_grace().await;
    assert_eq!(report.undone, 1, "{report:?}");
    assert_eq!(
        history_ids(&t, &acct.key, OTTU_SMS).await.len(),
        1,
        "the sweeper removed what was never queued"
    );

    let (status, _, body) = post(&t, &acct.key, "/b/pbl/v2/message-notification/", &resend).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"message": "Customer notified."}))
    );
    let accepted = history_ids(&t, &acct.key, OTTU_SMS).await;
    let ledger = t
        .settled_ledger("Ottu resend: SQS and the undo down", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 2, "{ledger}");
    assert_eq!(
        sms.received().len(),
        2,
        "the payment's SMS, then one resend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_copy_lands_even_when_its_send_fails_at_give_up() {
    let mut t = TestStack::behind_proxy(&[]).await;
    // A record handed back comes again 1 s later.
    t.stop_workers().await;
    aws_sdk_sqs::Client::new(&t.sdk)
        .set_queue_attributes()
        .queue_url(t.env("INC_DELIVERY_QUEUE_URL"))
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .expect("set the visibility timeout");
    t.stack.start_workers();
    let sink = Sink::answering(&[410]).await;
    let acct = t.account(Some(&sink.url())).await;
    let proxy = t.proxy.as_ref().expect("proxy");

    proxy.refuse(SQS_SINGLE);
    let accepted = t.post_events(&acct.key, "gone", 1).await;
    let store = t.store();
    let owed = eventually("the copy owed", PATIENCE, || async {
        let n = store
            .get_notification(&acct.id, &accepted[0])
            .await
            .ok()??;
        (n.status == Status::Failed && n.dead_letter_pending.is_some()).then_some(n)
    })
    .await;
    assert_eq!(owed.attempts.len(), 1);
    assert_eq!(t.queue_depth("INC_DEAD_LETTER_QUEUE_URL").await, 0);

    proxy.restore();
    // The message comes back; deliver sends the copy it owes, no webhook.
    let (message, reason) = t.dead_letter().await;
    assert!(message.body().is_some_and(|b| b.contains(&accepted[0])));
    assert_eq!(reason.as_deref(), Some("the endpoint answered 410 Gone"));
    eventually("the debt cleared", PATIENCE, || async {
        let n = store
            .get_notification(&acct.id, &accepted[0])
            .await
            .ok()??;
        n.dead_letter_pending.is_none().then_some(())
    })
    .await;
    let ledger = t
        .settled_ledger("the DLQ send failing at give-up", &acct.id, &accepted)
        .await;
    assert_eq!((ledger.failed, ledger.attempts), (1, 1), "{ledger}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_redriven_after_max_receive_count_still_ends_and_its_copy_is_kept() {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let accepted = t.post_events(&acct.key, "redriven", 2).await;

    // Receives that never finish (lease waits, failed reads) count: past
    // maxReceiveCount SQS moves both messages to the dead-letter queue.
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue = t.env("INC_DELIVERY_QUEUE_URL");
    eventually("both messages redriven", PATIENCE, || async {
        sqs.receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .ok()?;
        (t.queue_depth("INC_DEAD_LETTER_QUEUE_URL").await == 2).then_some(())
    })
    .await;
    assert_eq!(t.queue_depth("INC_DELIVERY_QUEUE_URL").await, 0);
    for n in t
        .notifications(&acct.id, &accepted)
        .await
        .into_iter()
        .flatten()
    {
        assert_eq!(n.status, Status::Queued, "pending, with no message left");
    }

    // The sweeper queues both again...
    let report = t.sweep_after_grace().await;
    assert_eq!(report.requeued, 2, "{report:?}");
    // ...and the runbook's redrive does not delete the copies of pending
    // notifications: it moves them back to the delivery queue.
    let moved = inc_cli::dlq::redrive(&t.sdk, &t.config(), 10, false)
        .await
        .expect("redrive");
    let mut redriven = moved.redriven.clone();
    redriven.sort();
    let mut expected = accepted.clone();
    expected.sort();
    assert_eq!((redriven, moved.dropped.len()), (expected, 0), "{moved:?}");
    assert_eq!(t.queue_depth("INC_DEAD_LETTER_QUEUE_URL").await, 0);
    assert_eq!(t.queue_depth("INC_DELIVERY_QUEUE_URL").await, 4);

    t.stack.start_workers();
    let ledger = t
        .settled_ledger("redriven after maxReceiveCount", &acct.id, &accepted)
        .await;
    assert_eq!((ledger.delivered, ledger.attempts), (2, 2), "{ledger}");
    eventually("the duplicates consumed", PATIENCE, || async {
        (t.queue_depth("INC_DELIVERY_QUEUE_URL").await == 0).then_some(())
    })
    .await;
    assert_eq!(sink.received().len(), 2);
    assert!(per_webhook_id(&sink).values().all(|&c| c == 1));
}
