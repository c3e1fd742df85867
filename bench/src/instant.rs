//! The rows of issue 3 that measure INC with AWS answered at once (the
//! stub of `aws_stub.rs`): CPU per webhook, a batch's concurrency, and
//! throughput per core of deliver and of ingest, each with its ledger.
//!
//! What is measured runs on a thread of its own, in a single-threaded
//! runtime that also owns its clients' connections, and its CPU is that
//! thread's (`CLOCK_THREAD_CPUTIME_ID`): the stub, the loopback endpoint and
//! the harness run on other threads and are not counted. "Per core" is
//! work done per second of that one thread's CPU.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use cpu_time::ThreadTime;
use futures::future::join_all;
use inc_shared::queue::DeliveryMessage;
use inc_tests::{Answer, Sink, TestStack, seed_event};

use crate::aws_stub::AwsStub;
use crate::{Row, median, ms};

/// Webhooks in the CPU and throughput runs.
const WEBHOOKS: usize = 2000;
/// Batches a deliver thread works on at once in the throughput run, as
/// Lambda would hand batches to that many instances.
const IN_FLIGHT: usize = 4;
const EVENTS: usize = 1000;

/// Runs `work` on a thread of its own, in a single-threaded runtime.
pub(crate) fn on_own_thread<T, Fut>(work: impl FnOnce() -> Fut + Send + 'static) -> T
where
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work())
    })
    .join()
    .expect("the measured thread")
}

/// An SQS batch naming `ids` of `account_id`, as Lambda hands it over.
pub(crate) fn batch(account_id: &str, ids: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = ids
        .iter()
        .map(|id| {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("msg-{id}"));
            record.receipt_handle = Some(format!("receipt-{id}"));
            record.body = serde_json::to_string(&DeliveryMessage::new(account_id, id)).ok();
            record
        })
        .collect();
    event
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

/// A stack whose AWS endpoint is the stub, recorded on one real delivery
/// and one real event, then replaying.
struct Replaying {
    t: TestStack,
    stub: AwsStub,
    sdk: SdkConfig,
    account_id: String,
    key: String,
}

async fn instant_stack(sink: &Sink) -> Replaying {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let acct = t.account(Some(&sink.url())).await;
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    // Record: two events through ingest (the second authenticates as a
    // warm instance does: the key and its account in one BatchGetItem),
    // their webhooks through deliver.
    let ingest = Arc::new(inc_ingest::Ingest::new(&sdk, &t.config()).expect("ingest"));
    for id in ["record-0", "record-1"] {
        let (status, _) = post(&ingest, &acct.key, &seed_event(id, "sms.sent")).await;
        assert_eq!(status, 202);
    }
    let event = t.receive_records(2).await;
    let deliver = inc_deliver::Deliver::new(&sdk, &t.config()).expect("deliver");
    assert!(deliver.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(sink.received().len(), 2, "the recorded webhooks");
    stub.replay();
    stub.take_calls();
    Replaying {
        t,
        stub,
        sdk,
        account_id: acct.id,
        key: acct.key,
    }
}

/// One event through the ingest router, without HTTP.
pub(crate) async fn post(
    ingest: &Arc<inc_ingest::Ingest>,
    key: &str,
    event: &serde_json::Value,
) -> (u16, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/v1/events")
        .header("authorization", format!("Api-Key {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(event.to_string()))
        .expect("request");
    let response = inc_ingest::router(ingest.clone())
        .oneshot(request)
        .await
        .expect("router");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// What the loopback endpoint received of `ids`: (each once, any twice, missing).
fn ledger(sink: &Sink, ids: &[String]) -> (usize, usize, usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in sink.received() {
        if let Some(id) = r.headers.get("webhook-id") {
            *seen.entry(id.clone()).or_default() += 1;
        }
    }
    let once = ids.iter().filter(|id| seen.get(*id) == Some(&1)).count();
    let twice = ids
        .iter()
        .filter(|id| seen.get(*id).is_some_and(|n| *n > 1))
        .count();
    (once, twice, ids.len() - once - twice)
}

/// Delivers `ids` in batches of 10, `in_flight` batches at a time, on a
/// thread of its own; answers that thread's CPU and the wall time.
fn deliver_on_own_thread(
    sdk: &SdkConfig,
    config: inc_shared::Config,
    account_id: &str,
    names: Vec<String>,
    in_flight: usize,
) -> (Duration, Duration) {
    let (sdk, account_id) = (sdk.clone(), account_id.to_owned());
    on_own_thread(move || async move {
        let deliver = inc_deliver::Deliver::new(&sdk, &config).expect("deliver");
        // Warm: connections open, first-use costs paid.
        let warm = ids(&format!("warm-{}", names[0]), 10);
        assert!(
            deliver
                .handle(batch(&account_id, &warm))
                .await
                .batch_item_failures
                .is_empty()
        );
        let (cpu, wall) = (ThreadTime::now(), Instant::now());
        let batches: Vec<&[String]> = names.chunks(10).collect();
        for group in batches.chunks(in_flight) {
            let answers =
                join_all(group.iter().map(|b| deliver.handle(batch(&account_id, b)))).await;
            assert!(
                answers.iter().all(|a| a.batch_item_failures.is_empty()),
                "a record failed"
            );
        }
        (cpu.elapsed(), wall.elapsed())
    })
}

/// `n` UpdateItem calls through the SDK alone (a lease's expression), on a
/// thread of its own: its CPU.
pub(crate) fn bare_updates(sdk: &SdkConfig, table: String, n: usize) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let sdk = sdk.clone();
    on_own_thread(move || async move {
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let update = |i: usize| {
            client
                .update_item()
                .table_name(&table)
                .key("account_id", S("acc_bench".into()))
                .key("notification_id", S(format!("ntf_{i}")))
                .condition_expression(
                    "#st IN (:q, :r) AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                )
                .update_expression("SET lease_until = :until REMOVE staged")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":q", S("queued".into()))
                .expression_attribute_values(":r", S("retrying".into()))
                .expression_attribute_values(":now", N("1796100000000".into()))
                .expression_attribute_values(":until", N("1796100015000".into()))
                .send()
        };
        update(0).await.expect("warm UpdateItem");
        let cpu = ThreadTime::now();
        for i in 0..n {
            update(i).await.expect("UpdateItem");
        }
        cpu.elapsed()
    })
}

/// `n` bare reqwest POSTs of `webhook` to `url`, on a thread of its own: its CPU.
fn bare_posts(url: String, webhook: inc_tests::Received, n: usize) -> Duration {
    on_own_thread(move || async move {
        let client = reqwest::Client::new();
        let send = || {
            let mut request = client.post(&url).body(webhook.body.clone());
            for (name, value) in &webhook.headers {
                if name.starts_with("webhook-") || name == "content-type" {
                    request = request.header(name, value);
                }
            }
            request.send()
        };
        assert!(send().await.expect("bare POST").status().is_success());
        let cpu = ThreadTime::now();
        for _ in 0..n {
            assert!(send().await.expect("bare POST").status().is_success());
        }
        cpu.elapsed()
    })
}

pub async fn cpu_and_throughput(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let sink = Sink::start().await;
    let s = instant_stack(&sink).await;
    let config = s.t.config();

    // CPU per webhook: one batch of 10 at a time, as one Lambda instance.
    let one_at_a_time = ids("cpu", WEBHOOKS);
    let (cpu, _) = deliver_on_own_thread(
        &s.sdk,
        config.clone(),
        &s.account_id,
        one_at_a_time.clone(),
        1,
    );
    let deliver_cpu = cpu;
    let calls = s.stub.take_calls();
    let bare = bare_posts(sink.url(), sink.received()[0].clone(), WEBHOOKS);
    let per = |d: Duration| ms(d) * 1000.0 / WEBHOOKS as f64;
    rows.push(Row {
        what: "CPU per webhook, AWS answered at once: deliver handler vs a bare reqwest POST"
            .into(),
        measured: format!("{:.0} µs", per(cpu)),
        limit: format!("{:.0} µs", per(bare)),
        ratio: Some(per(cpu) / per(bare)),
        goal: Some(3.0),
        why: Some(crate::WHY_CPU),
    });

    // The floor of this design: the POST plus its AWS calls, each as the
    // SDK alone costs it.
    let sdk_call = bare_updates(&s.sdk, s.t.env("INC_NOTIFICATIONS_TABLE"), WEBHOOKS);
    s.stub.take_calls();
    let calls_per_webhook = calls.values().sum::<usize>() as f64 / WEBHOOKS as f64;
    let floor = per(bare) + calls_per_webhook * per(sdk_call);
    rows.push(Row {
        what: format!(
            "CPU per webhook vs its floor: a bare POST + {calls_per_webhook:.2} SDK calls of {:.0} µs",
            per(sdk_call)
        ),
        measured: format!("{:.0} µs", per(cpu)),
        limit: format!("{floor:.0} µs"),
        ratio: Some(per(cpu) / floor),
        goal: Some(1.5),
        why: None,
    });

    // Throughput: batches of 10, IN_FLIGHT at a time.
    let many = ids("flood", WEBHOOKS);
    let (cpu, wall) = deliver_on_own_thread(
        &s.sdk,
        config.clone(),
        &s.account_id,
        many.clone(),
        IN_FLIGHT,
    );
    let per_core = WEBHOOKS as f64 / cpu.as_secs_f64();
    rows.push(Row {
        what: format!(
            "deliver throughput, AWS answered at once ({WEBHOOKS} webhooks, batches of 10)"
        ),
        measured: format!("{per_core:.0}/s per core"),
        limit: "2000/s".into(),
        ratio: Some(2000.0 / per_core),
        goal: Some(1.0),
        why: None,
    });
    let (once, twice, missing) = ledger(&sink, &[one_at_a_time, many].concat());
    let updates = calls
        .get("DynamoDB_20120810.UpdateItem")
        .copied()
        .unwrap_or(0);
    let reads = calls
        .get("DynamoDB_20120810.BatchGetItem")
        .copied()
        .unwrap_or(0);
    notes.push(format!(
        "Deliver with AWS answered at once: {} webhooks, {once} received once, {twice} twice, \
         {missing} missing; {:.0} webhooks/s of wall time on one thread with {IN_FLIGHT} \
         batches in flight. AWS calls per webhook in the CPU run: {:.2} UpdateItem and {:.2} \
         BatchGetItem ({} calls in all for {WEBHOOKS} webhooks, warm-up included).",
        2 * WEBHOOKS,
        WEBHOOKS as f64 / wall.as_secs_f64(),
        updates as f64 / WEBHOOKS as f64,
        reads as f64 / WEBHOOKS as f64,
        calls.values().sum::<usize>(),
    ));

    // Ingest: events accepted per second of one thread's CPU.
    s.stub.take_calls();
    let (sdk, config, key) = (s.sdk.clone(), config.clone(), s.key.clone());
    let (cpu, accepted) = on_own_thread(move || async move {
        let ingest = Arc::new(inc_ingest::Ingest::new(&sdk, &config).expect("ingest"));
        let (status, body) = post(&ingest, &key, &seed_event("warm-ingest", "sms.sent")).await;
        assert_eq!(status, 202, "{body}");
        let cpu = ThreadTime::now();
        let mut accepted = 0;
        for group in ids("ingest", EVENTS).chunks(IN_FLIGHT) {
            let answers = join_all(group.iter().map(|id| {
                let event = seed_event(id, "sms.sent");
                let ingest = ingest.clone();
                let key = key.clone();
                async move { post(&ingest, &key, &event).await }
            }))
            .await;
            accepted += answers.iter().filter(|(status, _)| *status == 202).count();
        }
        (cpu.elapsed(), accepted)
    });
    let sent = s.stub.take_calls();
    let queued = sent.get("AmazonSQS.SendMessageBatch").copied().unwrap_or(0);
    let per_core = EVENTS as f64 / cpu.as_secs_f64();
    rows.push(Row {
        what: format!("ingest throughput, AWS answered at once ({EVENTS} events)"),
        measured: format!("{per_core:.0}/s per core"),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    let sqs_per_event = queued as f64 / (EVENTS + 1) as f64 + 0.2;
    notes.push(crate::cost::estimate(
        cpu.as_secs_f64() / EVENTS as f64,
        deliver_cpu.as_secs_f64() / WEBHOOKS as f64,
        sqs_per_event,
    ));
    let per_event: Vec<String> = sent
        .iter()
        .map(|(target, n)| {
            let name = target.rsplit('.').next().unwrap_or(target);
            format!("{name} {:.2}", *n as f64 / (EVENTS + 1) as f64)
        })
        .collect();
    notes.push(format!(
        "Ingest with AWS answered at once: {EVENTS} events, {accepted} answered 202, {queued} \
         SendMessageBatch calls (each event has one notification); AWS calls per event: {}.",
        per_event.join(", ")
    ));
}

/// A batch of 10 to a 200 ms endpoint against one, AWS answered at once.
pub async fn batch_concurrency(rows: &mut Vec<Row>) {
    let slow = Answer {
        delay: Duration::from_millis(200),
        ..Answer::status(200)
    };
    let sink = Sink::scripted(&[slow; 128]).await;
    let s = instant_stack(&sink).await;
    let deliver = inc_deliver::Deliver::new(&s.sdk, &s.t.config()).expect("deliver");
    let (mut ones, mut tens) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let started = Instant::now();
        let answer = deliver
            .handle(batch(&s.account_id, &ids(&format!("one-{round}"), 1)))
            .await;
        ones.push(started.elapsed());
        assert!(answer.batch_item_failures.is_empty());
        let started = Instant::now();
        let answer = deliver
            .handle(batch(&s.account_id, &ids(&format!("ten-{round}"), 10)))
            .await;
        tens.push(started.elapsed());
        assert!(answer.batch_item_failures.is_empty());
    }
    let (one, ten) = (median(ones), median(tens));
    rows.push(Row {
        what: "a batch of 10 webhooks to a 200 ms endpoint vs one, AWS answered at once".into(),
        measured: format!("{:.0} ms", ms(ten)),
        limit: format!("{:.0} ms", ms(one)),
        ratio: Some(ms(ten) / ms(one)),
        goal: Some(1.3),
        why: None,
    });
}
