//! The in-app feed's promise (contract 14): each new item reaches the
//! recipient's open socket within 1 s p99 of its acceptance. Measured on
//! the local stack end to end — `POST /v1/messages` answered, then the
//! frame read off a real WebSocket — one message at a time, so each
//! latency is its own.

use std::time::{Duration, Instant};

use futures::StreamExt;
use inc_tests::{PATIENCE, TestStack, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{Row, ms, percentile};

const MESSAGES: usize = 200;

pub async fn latency(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let (status, _) = t
        .call(
            reqwest::Method::PUT,
            "/v1/recipients/trader",
            key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, token) = t
        .send_json("/v1/recipients/trader/token", key, json!({}))
        .await;
    let token = token["token"].as_str().expect("a token").to_owned();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}/?token={token}", t.ws_url()))
            .await
            .expect("the socket opens");
    let mut latencies = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let (status, body) = t
            .send_json(
                "/v1/messages",
                key,
                json!({"id": format!("tick-{i}"), "channel": "in_app", "to_recipient": "trader",
                       "title": "AAPL", "text": format!("tick {i}")}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let accepted = Instant::now();
        loop {
            let frame = tokio::time::timeout(PATIENCE, socket.next())
                .await
                .expect("a frame in time")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = frame
                && text.contains(&format!("\"tick {i}\""))
            {
                break;
            }
        }
        latencies.push(accepted.elapsed());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    let limit = Duration::from_secs(1);
    rows.push(Row {
        what: format!("an in-app item from its acceptance to its frame on the recipient's socket, p99 of {MESSAGES} (local stack)"),
        measured: format!("{:.0} ms", ms(p99)),
        limit: "1000 ms".into(),
        ratio: Some(p99.as_secs_f64() / limit.as_secs_f64()),
        goal: Some(1.0),
        why: None,
    });
    notes.push(format!(
        "In-app feed on the local stack: {MESSAGES} messages one at a time, from the 202 to the frame on the socket: \
         p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (deliver's queue poll, the feed's transaction on moto, the @connections post).",
        ms(p50),
        ms(p99),
        latencies.last().map_or(0.0, |l| ms(*l)),
    ));
}
