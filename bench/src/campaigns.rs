//! Issue «3»'s speed rows. A campaign's fan-out with AWS answered at once
//! (`aws_stub.rs`): one page of 98 members recorded through the campaigns
//! function against moto, then replayed — members fanned out per second
//! of one core, CPU per member against a direct message's through ingest;
//! then a 1,000,000-member run on a list the stub makes up, sixteen chains
//! of pages side by side on one core, with the ledger of what it queued. Then a campaign on the local stack
//! with a rate, end to end, and the most sends any one second held.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use inc_shared::domain::campaigns::run::FanoutMessage;
use inc_shared::domain::recipients::lists::SHARDS;
use inc_tests::{PATIENCE, Sink, TestStack, eventually, json};
use serde_json::Value;

use crate::aws_stub::AwsStub;
use crate::instant::on_own_thread;
use crate::ledger::{Ledger, calls_per};
use crate::{Row, ms};

/// Members of the run the stub fans out (`INC_BENCH_CAMPAIGN_MEMBERS`
/// makes it smaller for a quick look), and direct messages measured beside it.
const MEMBERS: usize = 1_000_000;
const PAGE: usize = inc_shared::domain::campaigns::run::PAGE;
const DIRECT_MESSAGES: usize = 200;
/// The campaign run on the local stack, and its rate.
const E2E_MEMBERS: usize = 2_000;
const E2E_RATE: u32 = 10;

fn scale_members() -> usize {
    std::env::var("INC_BENCH_CAMPAIGN_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MEMBERS)
}

/// Runs every shard's chain of pages from `first`'s run, one page of each
/// chain at a time, the next page of a chain as its page queued it (the
/// stub hands it over); how many pages ran.
async fn follow_chains(
    campaigns: Arc<inc_campaigns::Campaigns>,
    first: &FanoutMessage,
    mut next_pages: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> usize {
    use futures::stream::{FuturesUnordered, StreamExt};
    let run = |m: FanoutMessage| {
        let campaigns = campaigns.clone();
        async move { campaigns.page(&m).await.expect("a page") }
    };
    let mut in_flight: FuturesUnordered<_> = (0..SHARDS)
        .map(|shard| {
            run(FanoutMessage {
                shard,
                cursor: None,
                ..first.clone()
            })
        })
        .collect();
    let mut pages = 0;
    while in_flight.next().await.is_some() {
        pages += 1;
        while let Ok(body) = next_pages.try_recv() {
            in_flight.push(run(serde_json::from_str(&body).expect("a next page")));
        }
    }
    pages
}

async fn survey_template(t: &TestStack, key: &str) {
    let (status, body) = t
        .call(
            reqwest::Method::PUT,
            "/v1/templates/sms/survey",
            key,
            Some(json!({"languages": {"en": {"body": "Hi {{ recipient.data.name }}, 1 to 5?"}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn list_of(t: &TestStack, key: &str, list: &str, n: usize) {
    let (status, _) = t
        .call(
            reqwest::Method::PUT,
            &format!("/v1/lists/{list}"),
            key,
            Some(json!({"name": list})),
        )
        .await;
    assert_eq!(status, 200);
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("m{i:06}"), "phone": format!("+39333{i:07}"), "data": {"name": format!("Member {i}")}}))
        .collect();
    for chunk in rows.chunks(1000) {
        let (status, body) = t
            .send_json(
                &format!("/v1/lists/{list}/members"),
                key,
                json!({"recipients": chunk}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// One direct message through the ingest router, without HTTP.
async fn post_message(ingest: &Arc<inc_ingest::Ingest>, key: &str, id: &str) -> u16 {
    use tower::ServiceExt;
    let body =
        json!({"id": id, "channel": "sms", "to": "+393330000001", "text": "Your order is ready"});
    let request = axum::http::Request::post("/v1/messages")
        .header("authorization", format!("Api-Key {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    inc_ingest::router(ingest.clone())
        .oneshot(request)
        .await
        .expect("router")
        .status()
        .as_u16()
}

pub async fn fan_out(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    survey_template(&t, &acct.key).await;
    // 16 shards of a little over a page each: a real first page to record.
    list_of(&t, &acct.key, "bench", 16 * (PAGE + 10)).await;
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            &acct.key,
            json!({"id": "bench", "name": "Bench", "list": "bench", "channel": "sms", "template": "survey"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let fanout = t.stack.resources.queues["FanoutQueue"].0.clone();
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let received = sqs
        .receive_message()
        .queue_url(&fanout)
        .max_number_of_messages(1)
        .send()
        .await
        .expect("a page");
    let page: FanoutMessage = serde_json::from_str(
        received.messages.unwrap_or_default()[0]
            .body
            .as_deref()
            .expect("body"),
    )
    .expect("a fan-out message");

    // Record one real page (and one direct message), then answer at once.
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    let config = t.config();
    let campaigns = inc_campaigns::Campaigns::new(&sdk, &config).expect("campaigns");
    campaigns.page(&page).await.expect("the recorded page");
    let ingest = Arc::new(inc_ingest::Ingest::new(&sdk, &config).expect("ingest"));
    // Twice: the second authenticates as a warm instance does (the key and
    // its account in one BatchGetItem), which the replay answers.
    for id in ["record-0", "record-1"] {
        assert_eq!(post_message(&ingest, &acct.key, id).await, 202);
    }
    stub.replay();

    let (direct_sdk, direct_config, key) = (sdk.clone(), config.clone(), acct.key.clone());
    let direct = on_own_thread(move || async move {
        let ingest =
            Arc::new(inc_ingest::Ingest::new(&direct_sdk, &direct_config).expect("ingest"));
        let cpu = ThreadTime::now();
        for i in 0..DIRECT_MESSAGES {
            assert_eq!(
                post_message(&ingest, &key, &format!("direct-{i}")).await,
                202
            );
        }
        cpu.elapsed()
    });
    let per_message = ms(direct) * 1000.0 / DIRECT_MESSAGES as f64;
    stub.take_calls();

    // The million: a made-up list of MEMBERS, every shard's chain of pages
    // followed as the fan-out queue would hand them over, on one core, with
    // the ledger of what was queued.
    let scale = scale_members();
    let per_shard = scale.div_ceil(SHARDS as usize);
    let scale = per_shard * SHARDS as usize;
    stub.synthesize_list(&config.tables.list_members, per_shard);
    let next_pages = stub.follow(&fanout);
    stub.count_sent();
    let (run_sdk, run_config, first) = (sdk.clone(), config.clone(), page.clone());
    let (run_cpu, run_wall, pages) = on_own_thread(move || async move {
        let campaigns =
            Arc::new(inc_campaigns::Campaigns::new(&run_sdk, &run_config).expect("campaigns"));
        let cpu = ThreadTime::now();
        let started = Instant::now();
        let pages = follow_chains(campaigns, &first, next_pages).await;
        (cpu.elapsed(), started.elapsed(), pages)
    });
    let queued = stub.sent();
    let run_calls = stub.take_calls();
    let ledger =
        Ledger::count(scale, queued.into_values()).assert_whole(&format!("the {scale}-member run"));
    let run_per_member = ms(run_cpu) * 1000.0 / scale as f64;
    rows.push(Row {
        what: format!(
            "a {scale}-member campaign's fan-out, AWS answered at once, 16 chains on one core: \
             CPU per member vs a direct message's (ledger: {ledger})"
        ),
        measured: format!("{run_per_member:.0} µs"),
        limit: format!("{per_message:.0} µs"),
        ratio: Some(run_per_member / per_message),
        goal: Some(1.0),
        why: None,
    });
    rows.push(Row {
        what: format!("a {scale}-member campaign's fan-out: members queued per second of one core"),
        measured: format!("{:.0}/s", scale as f64 / run_cpu.as_secs_f64()),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    let queued_batches = run_calls
        .get("AmazonSQS.SendMessageBatch")
        .copied()
        .unwrap_or(0);
    let run_claims = run_calls
        .get("DynamoDB_20120810.TransactWriteItems")
        .copied()
        .unwrap_or(0);
    notes.push(format!(
        "Campaign fan-out with AWS answered at once: a {scale}-member run on a list the stub \
         makes up (16 shards of {per_shard}), each shard's pages followed one after the other as \
         the fan-out queue hands them over, all sixteen chains on one core and the stub on the \
         other: {pages} pages of up to {PAGE}, {run_claims} TransactWriteItems (a page's claim \
         with its counts, and the shard moving on), {queued_batches} SendMessageBatch calls \
         (members' messages and next pages), {:.1} s of wall time; AWS calls per page: {}. \
         Ledger: {ledger}.",
        run_wall.as_secs_f64(),
        calls_per(&run_calls, pages),
    ));
    notes.push(crate::cost::campaign_estimate(
        run_cpu.as_secs_f64() / scale as f64,
        &run_calls,
        pages,
    ));
}

/// A campaign with a rate on the local stack, end to end: the most sends
/// any one second held, and the ledger of what the gateway received.
pub async fn paced(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    survey_template(&t, &acct.key).await;
    list_of(&t, &acct.key, "paced", E2E_MEMBERS).await;
    let started = Instant::now();
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            &acct.key,
            json!({"id": "paced", "name": "Paced", "list": "paced", "channel": "sms",
                   "template": "survey", "rate": E2E_RATE}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let patience = PATIENCE * 20 + Duration::from_secs((E2E_MEMBERS as u64) / u64::from(E2E_RATE));
    let done = eventually("the paced campaign sent", patience, || async {
        let (_, c) = t.get(&acct.key, "/v1/campaigns/paced").await;
        (c["status"] == "sent").then_some(c)
    })
    .await;
    let took = started.elapsed();
    let received = gateway.received();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for r in &received {
        let fields: BTreeMap<String, String> =
            serde_urlencoded::from_str(&r.body).unwrap_or_default();
        *ids.entry(fields.get("custom").cloned().unwrap_or_default())
            .or_default() += 1;
    }
    // The busiest second, over windows starting every 100 ms.
    let first = received.iter().map(|r| r.at).min().expect("a send");
    let offsets: Vec<u128> = received
        .iter()
        .map(|r| r.at.duration_since(first).as_millis())
        .collect();
    let busiest = (0..=offsets.iter().max().copied().unwrap_or(0))
        .step_by(100)
        .map(|start| {
            offsets
                .iter()
                .filter(|o| **o >= start && **o < start + 1000)
                .count()
        })
        .max()
        .unwrap_or(0);
    rows.push(Row {
        what: format!("a {E2E_MEMBERS}-member campaign at {E2E_RATE}/s on the local stack: the busiest second's sends vs rate + 1"),
        measured: format!("{busiest}"),
        limit: format!("{}", E2E_RATE + 1),
        ratio: Some(busiest as f64 / f64::from(E2E_RATE + 1)),
        goal: Some(1.0),
        why: None,
    });
    notes.push(format!(
        "Paced campaign on the local stack: {} members, {} SMS received (members: {}), \
         counts {}, {:.0} s from acceptance to sent ({:.1} messages/s against the rate of {E2E_RATE}).",
        E2E_MEMBERS,
        received.len(),
        Ledger::count(E2E_MEMBERS, ids.into_values().map(|n: usize| n as u64)),
        done["counts"],
        took.as_secs_f64(),
        received.len() as f64 / took.as_secs_f64(),
    ));
}
