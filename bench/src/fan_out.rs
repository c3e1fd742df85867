//! Issue 2's speed rows: one event fanned out to 50 endpoints against one to
//! a single endpoint (ingest writes every notification in the same one
//! transaction, so it must not cost 50 sequential writes), and the deliver
//! handler's CPU per webhook to stored endpoints against the default one
//! (reading an endpoint rides in the batch's one read).

use std::time::{Duration, Instant};

use std::sync::Arc;

use cpu_time::{ProcessTime, ThreadTime};
use inc_tests::{Sink, TestStack, json};

use crate::aws_stub::AwsStub;
use crate::{Row, instant, median, ms};

const EVENTS: usize = 20;
const WEBHOOKS: usize = 50;
/// Rounds of the instant ingest, each side in turn.
const INSTANT_ROUNDS: usize = 5;

/// An account whose webhooks go to `n` stored endpoints (none: the default).
async fn account_with(t: &TestStack, sink: &Sink, n: usize) -> String {
    if n == 0 {
        return t.account(Some(&sink.url())).await.key;
    }
    let key = t.account(None).await.key;
    for _ in 0..n {
        let (status, body) = t
            .call(
                reqwest::Method::POST,
                "/v1/endpoints",
                &key,
                Some(json!({"url": sink.url()})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    key
}

async fn post(t: &TestStack, key: &str, id: &str) -> Duration {
    let event = json!({"id": id, "type": "order.completed", "data": {"order_no": id}});
    let started = Instant::now();
    let (status, body) = t.post_event(key, &event).await;
    let took = started.elapsed();
    assert_eq!(status, 202, "{body}");
    took
}

/// CPU of the deliver handler per webhook, over `WEBHOOKS` queued ones
/// that arrive as `records` (one event's fan-out has a bundle among them,
/// which deliver splits: its CPU counts too).
async fn deliver_cpu(t: &TestStack, records: usize) -> f64 {
    let deliver = t.deliver();
    let mut spent = Duration::ZERO;
    let mut handled = 0;
    while handled < records {
        let event = t.receive_records(10.min(records - handled)).await;
        handled += event.records.len();
        let started = ProcessTime::now();
        let answer = deliver.handle(event).await;
        spent += started.elapsed();
        assert!(answer.batch_item_failures.is_empty());
    }
    ms(spent) * 1000.0 / WEBHOOKS as f64
}

/// Ingest's CPU per event for the account of `key`, with AWS answered at
/// once (a stub of its own, recorded on one event of that account).
async fn instant_ingest(t: &TestStack, key: &str, round: usize) -> Duration {
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    let (config, key) = (t.config(), key.to_owned());
    let ingest = Arc::new(inc_ingest::Ingest::new(&sdk, &config).expect("ingest"));
    let event = |id: &str| json!({"id": id, "type": "order.completed", "data": {"order_no": id}});
    // Two events: the second authenticates as a warm instance does (the key
    // and its account in one BatchGetItem), which the replay answers.
    for n in 0..2 {
        let id = format!("record-{round}-{n}-{key}");
        let (status, body) = instant::post(&ingest, &key, &event(&id)).await;
        assert_eq!(status, 202, "{body}");
    }
    stub.replay();
    let cpu = instant::on_own_thread(move || async move {
        let ingest = Arc::new(inc_ingest::Ingest::new(&sdk, &config).expect("ingest"));
        let (status, _) = instant::post(&ingest, &key, &event("warm")).await;
        assert_eq!(status, 202);
        let cpu = ThreadTime::now();
        for i in 0..EVENTS * 5 {
            let (status, body) =
                instant::post(&ingest, &key, &event(&format!("instant-{i}"))).await;
            assert_eq!(status, 202, "{body}");
        }
        cpu.elapsed()
    });
    cpu / (EVENTS * 5) as u32
}

pub async fn fan_out(rows: &mut Vec<Row>) {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let sink = Sink::start().await;
    let one = account_with(&t, &sink, 0).await;
    let fifty = account_with(&t, &sink, 50).await;

    // Ingest, alternating so that both see the same machine.
    let (mut to_one, mut to_fifty) = (Vec::new(), Vec::new());
    for i in 0..EVENTS {
        to_one.push(post(&t, &one, &format!("one-{i}")).await);
        to_fifty.push(post(&t, &fifty, &format!("fifty-{i}")).await);
    }
    let (single, wide) = (median(to_one), median(to_fifty));
    rows.push(Row {
        what: "ingest: one event to 50 endpoints vs to 1, on moto".into(),
        measured: format!("{:.1} ms", ms(wide)),
        limit: format!("{:.1} ms", ms(single)),
        ratio: Some(ms(wide) / ms(single)),
        goal: None,
        why: None,
    });
    // Rounds in turn, each side's median: a machine busier for a while
    // weighs on both alike.
    let (mut singles, mut wides) = (Vec::new(), Vec::new());
    for round in 0..INSTANT_ROUNDS {
        singles.push(instant_ingest(&t, &one, round).await);
        wides.push(instant_ingest(&t, &fifty, round).await);
    }
    let (single, wide) = (median(singles), median(wides));
    rows.push(Row {
        what: "ingest CPU per event, AWS answered at once: to 50 endpoints vs to 1".into(),
        measured: format!("{:.0} µs", ms(wide) * 1000.0),
        limit: format!("{:.0} µs", ms(single) * 1000.0),
        ratio: Some(ms(wide) / ms(single)),
        // Issue 30's goal for the fan-out.
        goal: Some(1.5),
        why: Some(WHY_FAN_OUT),
    });

    // Deliver: forget what the ingest rounds queued, then measure each
    // kind alone.
    aws_sdk_sqs::Client::new(&t.sdk)
        .purge_queue()
        .queue_url(t.env("INC_DELIVERY_QUEUE_URL"))
        .send()
        .await
        .expect("purge");
    for i in 0..WEBHOOKS {
        post(&t, &one, &format!("cpu-one-{i}")).await;
    }
    let default_cpu = deliver_cpu(&t, WEBHOOKS).await;
    post(&t, &fifty, "cpu-fifty").await;
    // Nine messages and a bundle of the other 41, then those 41.
    let stored_cpu = deliver_cpu(&t, WEBHOOKS + 1).await;
    rows.push(Row {
        what: "deliver CPU per webhook: to one of 50 stored endpoints vs the default one".into(),
        measured: format!("{stored_cpu:.0} µs"),
        limit: format!("{default_cpu:.0} µs"),
        ratio: Some(stored_cpu / default_cpu),
        goal: Some(1.3),
        why: None,
    });
}

const WHY_FAN_OUT: &str = "Ingest writes the event, its transaction and every notification \
in one TransactWriteItems whatever the number of endpoints, and queues the messages in one \
SendMessageBatch (beyond ten, the rest as one bundle that deliver splits): 50 endpoints cost \
the same two AWS calls as one. It reads the endpoints only when the account's routes_version \
has moved since it last did, and then only the fields that decide an event's endpoints (id, \
format, enabled, filter); the items of a fan-out are made from the first one's serialisation. \
With AWS answered at once, what remains is the CPU of serialising and signing 50 notification \
items instead of one; on moto, the time \
is moto's own (about 3 ms per item of a transaction).";
