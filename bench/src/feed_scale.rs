//! Issue 30's feed row at scale: 100,000 in-app items to 100,000
//! recipients, 10,000 of them with an open socket on the local WebSocket
//! server — a trading app's price alert.
//!
//! The sockets are real: opened through the local stack's WebSocket API with
//! real recipient tokens (its `$connect` handler checks each and stores the
//! connection on moto), held by a child process of this bench (one process
//! cannot hold both ends of 10,000 sockets under this machine's limit of
//! 20,000 open files). The items go through the deliver handler in process,
//! AWS answered at once by the stub: one real in-app delivery recorded, then
//! every notification answered as that one made its own (its recipient),
//! and each connected recipient's sockets as moto holds them. Each frame is
//! posted through the `@connections` API to the server, which writes it to
//! the socket. The ledger: every connected recipient's socket got its own
//! item once, no socket another's, none lost.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use cpu_time::ThreadTime;
use futures::StreamExt;
use inc_shared::domain::apps::token;
use inc_tests::{TestStack, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use crate::aws_stub::AwsStub;
use crate::instant::{batch, on_own_thread};
use crate::ledger::{Ledger, calls_per};
use crate::{Row, ms, percentile};

const ITEMS: usize = 100_000;
/// Every tenth recipient has a socket open.
const EVERY: usize = 10;
const CONNECTED: usize = ITEMS / EVERY;
/// Deliver's batches (as SQS hands them over) in flight at once.
const IN_FLIGHT: usize = 4;
const TEMPLATE: &str = "feedtpl";

fn recipient(i: usize) -> String {
    format!("r{i:06}")
}

fn item_id(i: usize) -> String {
    format!("ntf_feed_{i:06}")
}

fn now_micros() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

pub async fn scale(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let mut t = TestStack::start().await;
    t.stop_workers().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let config = t.config();
    let (status, _) = t
        .call(
            reqwest::Method::PUT,
            &format!("/v1/recipients/{TEMPLATE}"),
            key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "feed-record", "channel": "in_app", "to_recipient": TEMPLATE,
                   "title": "AAPL", "text": "AAPL crossed 250"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // The sockets: real tokens, opened by the child through `$connect`.
    let store =
        inc_shared::store::Store::new(aws_sdk_dynamodb::Client::new(&t.sdk), config.tables.clone());
    let account = store
        .get_account(&acct.id)
        .await
        .expect("the account")
        .expect("stored");
    let mut input = format!("{}\n", t.ws_url());
    for k in 0..CONNECTED {
        let (tok, _) = token::issue(
            &acct.id,
            &recipient(k * EVERY),
            &account.signing_secret,
            chrono::Duration::hours(1),
            Utc::now(),
        )
        .expect("a token");
        input.push_str(&tok);
        input.push('\n');
    }
    input.push('\n');
    let opening = std::time::Instant::now();
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("the bench"))
        .arg("feed-clients")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the socket holder");
    let mut to_child = child.stdin.take().expect("stdin");
    let mut from_child = BufReader::new(child.stdout.take().expect("stdout")).lines();
    to_child
        .write_all(input.as_bytes())
        .await
        .expect("the tokens");
    let opened = from_child
        .next_line()
        .await
        .expect("the holder answers")
        .expect("a line");
    assert_eq!(opened, format!("open {CONNECTED}"), "every socket opened");
    let opening = opening.elapsed();

    // Record one real in-app delivery, and each connected recipient's
    // sockets, through the stub; then answer at once.
    let stub = AwsStub::start(&t.aws_endpoint()).await;
    stub.keyed_queries(&config.tables.connections);
    let sdk = t.sdk.to_builder().endpoint_url(stub.endpoint()).build();
    let recording =
        inc_shared::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables.clone());
    let found: Vec<usize> = futures::stream::iter(0..CONNECTED)
        .map(|k| {
            let recording = &recording;
            let account_id = &acct.id;
            async move {
                recording
                    .connections_of(account_id, &recipient(k * EVERY))
                    .await
                    .expect("its sockets")
                    .len()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(found.iter().all(|n| *n == 1), "one socket per recipient");
    let event = t.receive_records(1).await;
    let deliver = inc_deliver::Deliver::new(&sdk, &config).expect("deliver");
    assert!(deliver.handle(event).await.batch_item_failures.is_empty());
    stub.personalize(&config.tables.notifications, TEMPLATE, |key| {
        let id = key["notification_id"]["S"].as_str().unwrap_or_default();
        let i = id.trim_start_matches("ntf_feed_").parse().unwrap_or(0);
        recipient(i)
    });
    stub.replay();
    stub.take_calls();

    let (run_sdk, run_config, account_id) = (sdk.clone(), config.clone(), acct.id.clone());
    let (cpu, wall, started) = on_own_thread(move || async move {
        let deliver = inc_deliver::Deliver::new(&run_sdk, &run_config).expect("deliver");
        let ids: Vec<String> = (0..ITEMS).map(item_id).collect();
        let cpu = ThreadTime::now();
        let wall = std::time::Instant::now();
        let started: Vec<(usize, i64)> = futures::stream::iter(ids.chunks(10).enumerate())
            .map(|(b, chunk)| {
                let (deliver, account_id) = (&deliver, &account_id);
                async move {
                    let at = now_micros();
                    let answer = deliver.handle(batch(account_id, chunk)).await;
                    assert!(answer.batch_item_failures.is_empty(), "a batch failed");
                    (b, at)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        (cpu.elapsed(), wall.elapsed(), started)
    });
    let calls = stub.take_calls();
    let batch_started: HashMap<usize, i64> = started.into_iter().collect();

    // The ledger, from what each socket received.
    to_child.write_all(b"done\n").await.expect("done");
    let mut frames: Vec<(usize, String, i64)> = Vec::new();
    while let Some(line) = from_child.next_line().await.expect("a line") {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("end"), _, _) => break,
            (Some(k), Some(item), Some(at)) => frames.push((
                k.parse().expect("a socket"),
                item.to_owned(),
                at.parse().expect("a time"),
            )),
            _ => panic!("the holder said {line:?}"),
        }
    }
    let _ = child.wait().await;
    let mut per_socket: HashMap<usize, usize> = HashMap::new();
    let mut latencies = Vec::with_capacity(frames.len());
    let mut misrouted = 0;
    for (k, item, at) in &frames {
        *per_socket.entry(*k).or_default() += 1;
        if *item != item_id(k * EVERY) {
            misrouted += 1;
            continue;
        }
        let sent = batch_started[&(k * EVERY / 10)];
        latencies.push(Duration::from_micros(u64::try_from(at - sent).unwrap_or(0)));
    }
    assert_eq!(misrouted, 0, "frames at another recipient's socket");
    let ledger = Ledger::count(CONNECTED, per_socket.into_values().map(|n| n as u64))
        .assert_whole("the feed (sockets that got their item)");
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    let per_item = ms(cpu) * 1000.0 / ITEMS as f64;
    rows.push(Row {
        what: format!(
            "{ITEMS} in-app items to {ITEMS} recipients, {CONNECTED} sockets open on the local \
             WebSocket server, AWS answered at once: handed to deliver → frame at the socket, p99 \
             (ledger of sockets: {ledger}, {misrouted} misrouted)"
        ),
        measured: format!("{:.0} ms", ms(p99)),
        limit: "1000 ms".into(),
        ratio: Some(p99.as_secs_f64()),
        goal: Some(1.0),
        why: None,
    });
    rows.push(Row {
        what: format!("{ITEMS} in-app items: items stored per second of one core (deliver), and frames per second"),
        measured: format!(
            "{:.0}/s, {:.0} frames/s",
            ITEMS as f64 / cpu.as_secs_f64(),
            CONNECTED as f64 / wall.as_secs_f64()
        ),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });
    notes.push(format!(
        "In-app feed at scale: {CONNECTED} sockets opened through the local WebSocket API's \
         `$connect` (tokens checked, connections stored on moto) in {:.0} s, held by a child \
         process; {ITEMS} items through the deliver handler in batches of 10, {IN_FLIGHT} in \
         flight, on one core ({per_item:.0} µs of CPU per item, {:.1} s of wall time), each \
         connected recipient's frame posted to `@connections`. From a batch handed to deliver to \
         its frame read off the socket: p50 {:.0} ms, p99 {:.0} ms. AWS calls per item: {}. \
         Ledger of sockets, each getting its own item: {ledger}; {misrouted} frames at another \
         recipient's.",
        opening.as_secs_f64(),
        wall.as_secs_f64(),
        ms(p50),
        ms(p99),
        calls_per(&calls, ITEMS),
    ));
    let calls_in_a_row = calls
        .iter()
        .filter(|(target, _)| !target.ends_with("BatchGetItem"))
        .map(|(_, n)| *n as f64 / ITEMS as f64)
        .sum::<f64>();
    notes.push(crate::cost::feed_estimate(
        cpu.as_secs_f64() / ITEMS as f64,
        calls_in_a_row,
    ));
}

/// The child's side (`inc-bench feed-clients`): reads the WebSocket URL
/// and one token per line (an empty line ends them), opens a socket per
/// token, says `open N`; then, told `done`, waits for the frames to stop
/// and writes `socket item-id unix-µs` per frame, then `end`.
pub async fn clients() {
    use std::io::{BufRead, Write};
    let mut input = std::io::stdin().lock().lines().map_while(Result::ok);
    let url = input.next().expect("the URL");
    let tokens: Vec<String> = input.by_ref().take_while(|l| !l.is_empty()).collect();
    drop(input);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, i64)>();
    let sockets: Vec<_> = futures::stream::iter(tokens.iter().enumerate())
        .map(|(k, tok)| {
            let url = format!("{url}/?token={tok}");
            async move {
                for _ in 0..5 {
                    if let Ok((socket, _)) = tokio_tungstenite::connect_async(&url).await {
                        return (k, socket);
                    }
                }
                panic!("socket {k} did not open");
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (k, mut socket) in sockets {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                if let Message::Text(text) = frame {
                    let at = now_micros();
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let item = v["item"]["id"].as_str().unwrap_or("?").to_owned();
                    let _ = tx.send((k, item, at));
                }
            }
        });
    }
    let mut out = std::io::stdout();
    writeln!(out, "open {}", tokens.len()).expect("stdout");
    out.flush().expect("stdout");
    // `done` (or the bench gone) on a thread of its own: stdin blocks.
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .find(|l| l == "done");
        let _ = done_tx.send(());
    });
    let mut frames = Vec::new();
    let mut done = false;
    loop {
        tokio::select! {
            _ = &mut done_rx, if !done => done = true,
            frame = rx.recv() => match frame {
                Some(f) => frames.push(f),
                None => break,
            },
            // Told done, the frames have stopped coming for a second.
            _ = tokio::time::sleep(Duration::from_secs(1)), if done => break,
        }
    }
    let mut text = String::new();
    for (k, item, at) in frames {
        text.push_str(&format!("{k} {item} {at}\n"));
    }
    text.push_str("end\n");
    out.write_all(text.as_bytes()).expect("stdout");
    out.flush().expect("stdout");
}
