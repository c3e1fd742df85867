//! An event's fan-out beyond ten goes to SQS in one call: nine messages and
//! a bundle of the rest, which deliver splits into one message each. The
//! split is a write-then-enqueue path of its own: SQS failing part-way
//! through it brings the bundle back, and two invocations splitting the
//! same bundle at once only queue duplicates — each webhook is sent once.

use aws_lambda_events::sqs::SqsEvent;
use inc_tests::{PATIENCE, Sink, TestStack, eventually, json};
use reqwest::Method;

use super::per_webhook_id;

/// SQS's batch send, as the proxy sees it in the request's target header.
const SQS_BATCH: &str = "AmazonSQS.SendMessageBatch";
const ENDPOINTS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_split_half_way_then_twice_at_once_still_sends_each_webhook_once() {
    let mut t = TestStack::behind_proxy(&[]).await;
    t.stop_workers().await;
    let sink = Sink::start().await;
    let acct = t.account(None).await;
    for _ in 0..ENDPOINTS {
        let (status, body) = t
            .call(
                Method::POST,
                "/v1/endpoints",
                &acct.key,
                Some(json!({"url": sink.url()})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let proxy = t.proxy.as_ref().expect("proxy");
    proxy.take_calls();
    let event = json!({"id": "wide-1", "type": "order.completed", "data": {"order_no": "W-1"}});
    let (status, answer) = t.post_event(&acct.key, &event).await;
    assert_eq!(status, 202, "{answer}");
    let accepted: Vec<String> = answer["notifications"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(accepted.len(), ENDPOINTS);
    // Thirty messages, one SQS call.
    assert_eq!(proxy.take_calls().get(SQS_BATCH), Some(&1));

    let queued = t.receive_records(10).await;
    let (bundles, direct): (Vec<_>, Vec<_>) = queued
        .records
        .into_iter()
        .partition(|r| r.body.as_deref().unwrap_or_default().contains("\"bundle\""));
    assert_eq!((direct.len(), bundles.len()), (9, 1));
    let event_of = |records| {
        let mut event = SqsEvent::default();
        event.records = records;
        event
    };
    let bundle = event_of(bundles);
    // Deliver, its AWS calls through the proxy.
    let sdk = t.sdk.to_builder().endpoint_url(proxy.endpoint()).build();
    let deliver = inc_deliver::Deliver::new(&sdk, &t.config()).expect("deliver");
    let answer = deliver.handle(event_of(direct)).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(sink.received().len(), 9);

    // The bundle's 21 go as three batches side by side: the first through,
    // the others refused. The bundle is handed back to SQS whole.
    proxy.refuse_after(SQS_BATCH, 1);
    let answer = deliver.handle(bundle.clone()).await;
    assert_eq!(answer.batch_item_failures.len(), 1, "the bundle comes back");
    proxy.restore();
    // Then two invocations split it at once.
    let (a, b) = tokio::join!(
        deliver.handle(bundle.clone()),
        deliver.handle(bundle.clone())
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());

    t.stack.start_workers();
    let ledger = t
        .settled_ledger(
            "a bundle split half way, then twice at once",
            &acct.id,
            &accepted,
        )
        .await;
    assert_eq!(ledger.delivered, ENDPOINTS, "{ledger}");
    eventually("every webhook at the sink", PATIENCE, || async {
        (sink.received().len() >= ENDPOINTS).then_some(())
    })
    .await;
    let counts = per_webhook_id(&sink);
    assert_eq!(counts.len(), ENDPOINTS);
    assert!(counts.values().all(|&c| c == 1), "each once: {counts:?}");
    assert_eq!(sink.received().len(), ENDPOINTS);
}
