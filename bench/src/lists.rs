//! Issue «2»'s speed rows. List membership writes with AWS answered at once
//! (the stub of `aws_stub.rs`): members added per second of one core and
//! the CPU per member, against one UpdateItem through the SDK. And the
//! input of a campaign's fan-out on the local stack: a 100,000-row CSV file
//! imported (`inc recipients import`'s own code), then the list read end
//! to end by pages of 100, members and their recipients, as the fan-out
//! reads it — with the ledger of what was read (each member once).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use cpu_time::ThreadTime;
use inc_tests::{TestStack, json};
use serde_json::Value;

use crate::aws_stub::AwsStub;
use crate::instant::{bare_updates, on_own_thread};
use crate::{Row, ms};

/// Members per batch (the API's most), and batches measured on the stub.
const BATCH: usize = 1_000;
const BATCHES: usize = 10;
/// The list read end to end, on moto.
const MEMBERS: usize = 100_000;

/// One request through the api router, without HTTP.
async fn call(
    api: &Arc<inc_api::Api>,
    method: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (u16, Value) {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Api-Key {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let response = inc_api::router(api.clone())
        .oneshot(request)
        .await
        .expect("router");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn rows_of(from: usize) -> Value {
    let rows: Vec<Value> = (from..from + BATCH)
        .map(|i| json!({"id": format!("m{i:07}"), "phone": format!("+39333{i:07}"), "language": "it"}))
        .collect();
    json!({ "recipients": rows })
}

pub async fn membership_writes(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let acct = t.account(None).await;
    let (status, _) = t
        .call(
            reqwest::Method::PUT,
            "/v1/lists/bench",
            &acct.key,
            Some(json!({"name": "Bench"})),
        )
        .await;
    assert_eq!(status, 200);
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    // Record two real batches of new members (the second authenticates as
    // a warm instance does: the key and its account in one BatchGetItem);
    // replayed, every member of a batch is new, as the recorded reads
    // found none.
    let api = Arc::new(inc_api::Api::new(&sdk, &t.config()).expect("api"));
    for first in [0, (BATCHES + 1) * BATCH] {
        let (status, body) = call(
            &api,
            "POST",
            "/v1/lists/bench/members",
            &acct.key,
            rows_of(first),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["added"], BATCH, "{body}");
    }
    stub.replay();
    stub.take_calls();
    let (key, config) = (acct.key.clone(), t.config());
    let replay_sdk = sdk.clone();
    let (cpu, wall, added) = on_own_thread(move || async move {
        let api = Arc::new(inc_api::Api::new(&replay_sdk, &config).expect("api"));
        let (cpu, wall) = (ThreadTime::now(), Instant::now());
        let mut added = 0;
        for b in 1..=BATCHES {
            let (status, body) = call(
                &api,
                "POST",
                "/v1/lists/bench/members",
                &key,
                rows_of(b * BATCH),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            added += body["added"].as_u64().unwrap_or(0);
        }
        (cpu.elapsed(), wall.elapsed(), added)
    });
    let calls = stub.take_calls();
    let members = (BATCHES * BATCH) as f64;
    assert_eq!(
        added as f64, members,
        "each member of each batch added once"
    );
    let per_member = ms(cpu) * 1000.0 / members;
    let update = ms(bare_updates(&sdk, t.env("INC_NOTIFICATIONS_TABLE"), 1_000)) * 1000.0 / 1_000.0;
    rows.push(Row {
        what: format!(
            "list membership writes, AWS answered at once: CPU per member added (batches of {BATCH}) vs one UpdateItem through the SDK"
        ),
        measured: format!("{per_member:.0} µs"),
        limit: format!("{update:.0} µs"),
        ratio: Some(per_member / update),
        goal: Some(1.0),
        why: None,
    });
    rows.push(Row {
        what: "list membership writes, AWS answered at once: members added per second of one core"
            .into(),
        measured: format!("{:.0}/s", members / cpu.as_secs_f64()),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    let per = |target: &str| {
        calls
            .iter()
            .filter(|(k, _)| k.ends_with(target))
            .map(|(_, n)| *n)
            .sum::<usize>() as f64
            / members
    };
    notes.push(format!(
        "Membership writes on the stub: {} members in {:.2} s of wall time; AWS calls per member: \
         {:.3} BatchGetItem and {:.3} TransactWriteItems (the recipients' upsert a hundred at a \
         time, then the members with their count 99 at a time).",
        members,
        wall.as_secs_f64(),
        per("BatchGetItem"),
        per("TransactWriteItems"),
    ));
}

/// A 100,000-row CSV file into a list on the local stack, then the list
/// read by pages as a campaign's fan-out reads it.
pub async fn list_read(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let acct = t.account(None).await;
    let mut file = String::from("id,phone,email,language,timezone,data.tier\n");
    for i in 0..MEMBERS {
        file.push_str(&format!(
            "r{i:06},+39333{i:07},r{i}@example.com,it,Europe/Rome,gold\n"
        ));
    }
    let path = std::env::temp_dir().join(format!("inc-bench-{}.csv", acct.id));
    std::fs::write(&path, file).expect("the CSV file");
    let target = inc_cli::import::Target {
        api_url: t.url(""),
        api_key: acct.key.clone(),
    };
    let started = Instant::now();
    let summary = inc_cli::import::run(&target, "big", &path)
        .await
        .expect("imported");
    let import = started.elapsed();
    let _ = std::fs::remove_file(&path);
    assert_eq!(summary.added as usize, MEMBERS, "{summary:?}");

    let started = Instant::now();
    let mut seen = BTreeSet::new();
    let mut pages = 0usize;
    let mut path = "/v1/lists/big/members?limit=100".to_owned();
    loop {
        let (status, page) = t.get(&acct.key, &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for r in page["items"].as_array().into_iter().flatten() {
            assert!(r["phone"].is_string(), "its recipient came with it");
            assert!(
                seen.insert(r["id"].as_str().unwrap_or_default().to_owned()),
                "read twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/lists/big/members?limit=100&cursor={c}"),
            None => break,
        }
    }
    let read = started.elapsed();
    assert_eq!(seen.len(), MEMBERS, "every member read once");
    rows.push(Row {
        what: format!("a {MEMBERS}-member list read end to end on the local stack, pages of 100 with their recipients"),
        measured: format!("{:.0} pages/s", pages as f64 / read.as_secs_f64()),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    rows.push(Row {
        what: format!(
            "a {MEMBERS}-row CSV file imported on the local stack (`inc recipients import`)"
        ),
        measured: format!("{:.0} s", import.as_secs_f64()),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    notes.push(format!(
        "List read ledger: {} members in {pages} pages, each once, in {:.1} s ({:.0} members/s, \
         moto's time for one Query and one BatchGetItem a page). The import: {} added, {} refused, \
         {:.0} rows/s.",
        seen.len(),
        read.as_secs_f64(),
        seen.len() as f64 / read.as_secs_f64(),
        summary.added,
        summary.refused.len(),
        MEMBERS as f64 / import.as_secs_f64(),
    ));
}
