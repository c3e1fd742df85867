//! Destinations beyond HTTP (contract 15): the CPU of one delivery to an
//! SQS queue through INC's adapter (the official SDK client: signing,
//! serialising, parsing; AWS answered at once by the stub) against one
//! signed HTTP webhook to a loopback endpoint; and the CPU a typical
//! reshaping transformation adds to a webhook, its thread and all.

use std::collections::HashMap;
use std::time::Duration;

use cpu_time::{ProcessTime, ThreadTime};
use inc_shared::destinations::{Delivery, Destinations};
use inc_shared::domain::WebhookPayload;
use inc_shared::domain::common::url_policy::EndpointPolicy;
use inc_shared::domain::destinations::Destination;
use inc_shared::jq::Program;
use inc_shared::webhook::{WebhookClient, WebhookRequest};
use inc_tests::{Sink, TestStack};

use crate::aws_stub::AwsStub;
use crate::instant::on_own_thread;
use crate::ledger::Ledger;
use crate::{Row, ms};

/// Deliveries each way, each with its own webhook id, counted by the
/// stub and the endpoint: none lost, none twice.
const SENDS: usize = 10_000;

const WHY_SQS: &str = "A webhook is one HMAC and one HTTP/1.1 POST on a kept-alive connection; an SQS \
     send is the AWS SDK's whole request pipeline: SigV4 (a canonical request hashed, a \
     four-step HMAC key), the JSON protocol's serialisation and the answer's parsing. The \
     bare SendMessage in the notes is that floor.";
const RUNS: usize = 2_000;

/// A payment webhook as deliver sends it.
const BODY: &str = r#"{"id":"evt_01JD8ZQ6T4","type":"payment.state_changed","created_at":"2026-12-05T10:00:00.000Z","data":{"session_id":"s-1","order_no":"A-1001","state":"paid","amount":"25.500","currency_code":"KWD","customer_email":"ada@example.com","customer_phone":"+96599990001","customer_first_name":"Ada","language":"en","sequence":2,"previous_state":"pending","stale":false,"items":[{"sku":"X-1","qty":2,"price":"10.000"},{"sku":"Y-2","qty":1,"price":"5.500"}]}}"#;

/// What an order system typically asks for: a few fields renamed, one
/// computed, one list reshaped.
pub const TYPICAL: &str = r#"{
  order: .data.order_no,
  status: (if .data.state == "paid" then "PAID" else .data.state | ascii_upcase end),
  total: (.data.amount | tonumber),
  currency: .data.currency_code,
  customer: {name: .data.customer_first_name, email: .data.customer_email},
  lines: [.data.items[] | {sku, quantity: .qty}],
  at: .created_at
}"#;

pub async fn cpu_per_delivery(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let t = TestStack::provision_only().await;
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    let queue_url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name("bench-destination")
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let destination = Destination::Sqs { queue_url };
    // One real send to moto, recorded; every later one is answered from it.
    let warm = Destinations::new(&sdk, Duration::from_secs(15))
        .send(delivery(&destination, "ntf_warm", 0))
        .await;
    assert_eq!(warm.status_code, Some(200), "{warm:?}");
    stub.replay();
    stub.count_sent();
    let to_queue = on_own_thread({
        let (sdk, destination) = (sdk.clone(), destination.clone());
        move || async move {
            let destinations = Destinations::new(&sdk, Duration::from_secs(15));
            let first = destinations
                .send(delivery(&destination, "ntf_first", 1))
                .await;
            assert_eq!(first.status_code, Some(200), "{first:?}");
            let cpu = ThreadTime::now();
            for i in 0..SENDS {
                let id = format!("ntf_bench_{i}");
                let sent = destinations.send(delivery(&destination, &id, i + 2)).await;
                assert_eq!(sent.status_code, Some(200));
            }
            cpu.elapsed()
        }
    });
    let queue_ledger = ledger(stub.sent(), "the SQS sends");
    // The SDK's own floor: the same SendMessage, bare, on the same client.
    let bare = on_own_thread({
        let (sdk, destination) = (sdk.clone(), destination.clone());
        move || async move {
            let Destination::Sqs { queue_url } = destination else {
                unreachable!("an SQS destination")
            };
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let send = || {
                sqs.send_message()
                    .queue_url(&queue_url)
                    .message_body(BODY)
                    .send()
            };
            send().await.expect("bare SendMessage");
            let cpu = ThreadTime::now();
            for _ in 0..SENDS {
                send().await.expect("bare SendMessage");
            }
            cpu.elapsed()
        }
    });
    let sink = Sink::start().await;
    let url = sink.url();
    let to_http = on_own_thread(move || async move {
        let policy = EndpointPolicy {
            allow_private: true,
        };
        let client = WebhookClient::new(policy, Duration::from_secs(15)).expect("client");
        let payload = WebhookPayload {
            content_type: "application/json".into(),
            body: BODY.into(),
            ipn_type: None,
            source: None,
        };
        let ids: Vec<String> = (0..SENDS).map(|i| format!("ntf_bench_{i}")).collect();
        // `i` past the ids: the warm-up's.
        let send = |i: usize| {
            client.send(WebhookRequest {
                url: &url,
                webhook_id: ids.get(i).map_or("ntf_first", String::as_str),
                secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                payload: &payload,
                attempt: u32::try_from(i).unwrap_or(1),
                headers: None,
            })
        };
        assert_eq!(send(SENDS).await.status_code, Some(200));
        let cpu = ThreadTime::now();
        for i in 0..SENDS {
            assert_eq!(send(i).await.status_code, Some(200));
        }
        cpu.elapsed()
    });
    let mut by_id: HashMap<String, u32> = HashMap::new();
    for r in sink.received() {
        *by_id
            .entry(r.headers.get("webhook-id").cloned().unwrap_or_default())
            .or_default() += 1;
    }
    let http_ledger = ledger(by_id, "the webhooks");
    let per = |d: Duration, n: usize| ms(d) * 1000.0 / n as f64;
    let (queue_us, http_us) = (per(to_queue, SENDS), per(to_http, SENDS));
    rows.push(Row {
        what: format!(
            "CPU per delivery to an SQS queue (SDK, AWS answered at once) vs a signed HTTP \
             webhook's, {SENDS} each (ledger: {queue_ledger} to the queue; {http_ledger} to the endpoint)"
        ),
        measured: format!("{queue_us:.0} µs"),
        limit: format!("{http_us:.0} µs"),
        ratio: Some(queue_us / http_us),
        goal: Some(5.0),
        why: Some(WHY_SQS),
    });

    // The transformation: its process CPU (the run's own thread included)
    // per webhook, against the HTTP webhook's CPU.
    let program = Program::compile(TYPICAL).expect("the typical program compiles");
    let out = program.run(BODY).expect("runs");
    assert!(out.body().contains(r#""order":"A-1001""#), "{}", out.body());
    let cpu = ProcessTime::now();
    for _ in 0..RUNS {
        program.run(BODY).expect("runs");
    }
    let jq_us = per(cpu.elapsed(), RUNS);
    rows.push(Row {
        what: "CPU a typical jq transformation adds per webhook vs the webhook's own".into(),
        measured: format!("{jq_us:.0} µs"),
        limit: format!("{http_us:.0} µs"),
        ratio: Some(jq_us / http_us),
        goal: Some(2.0),
        why: None,
    });
    notes.push(format!(
        "Destinations: a bare SendMessage on the same SDK client took {:.0} µs of CPU; the \
         adapter's own share is the rest of the SQS row. {SENDS} SQS sends through the SDK client against the stub, each with its \
         webhook-id attribute; the transformation is the README's reshaping program (7 fields, \
         one list), compiled once and run {RUNS} times on the runner's bounded worker thread.",
        per(bare, SENDS)
    ));
}

/// The ledger of the [`SENDS`] measured deliveries (the warm-up's id left
/// out), from how many times each id arrived; panics unless each arrived once.
fn ledger(arrived: HashMap<String, u32>, what: &str) -> Ledger {
    let counts = arrived
        .into_iter()
        .filter(|(id, _)| id.starts_with("ntf_bench_"))
        .map(|(_, n)| n);
    Ledger::count(SENDS, counts).assert_whole(what)
}

fn delivery<'a>(destination: &'a Destination, webhook_id: &'a str, i: usize) -> Delivery<'a> {
    Delivery {
        destination,
        webhook_id,
        event_type: "payment.state_changed",
        endpoint_id: "ep_bench",
        body: BODY,
        attempt: u32::try_from(i).unwrap_or(1),
    }
}
