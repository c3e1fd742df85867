//! Issue 5's speed row: 1,000 messages scheduled for one instant, on the
//! local stack (moto, the stack's own deliver pollers, a loopback SMS
//! gateway): how late each reaches the gateway after its `send_at`, p50 and
//! p99, against the contract's 60 s.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use inc_tests::{Sink, TestStack, eventually, json};

use crate::{Row, percentile};

const MESSAGES: usize = 1_000;
/// Requests in flight while scheduling them.
const CONCURRENCY: usize = 8;

pub async fn lateness(rows: &mut Vec<Row>) {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;

    // Far enough ahead to schedule them all first.
    let send_at = Utc::now() + chrono::Duration::seconds(90);
    let (key, t_ref) = (&acct.key, &t);
    let posted: Vec<u16> = futures::stream::iter(0..MESSAGES)
        .map(|i| async move {
            let body = json!({"id": format!("due-{i}"), "channel": "sms", "to": "+393331234567",
                "text": format!("Reminder {i}"), "send_at": send_at.to_rfc3339()});
            t_ref.send_json("/v1/messages", key, body).await.0
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert!(posted.iter().all(|s| *s == 202), "a message was refused");
    assert!(Utc::now() < send_at, "scheduling took past the send time");

    // The instant `send_at` on the sink's clock.
    let due = Instant::now() + (send_at - Utc::now()).to_std().unwrap_or_default();
    let received = eventually(
        "every message at the gateway",
        Duration::from_secs(600),
        || async {
            let got = gateway.received();
            (got.len() >= MESSAGES).then_some(got)
        },
    )
    .await;
    let mut late: Vec<Duration> = received
        .iter()
        .map(|r| r.at.saturating_duration_since(due))
        .collect();
    late.sort();
    let early = received.iter().filter(|r| r.at < due).count();
    assert_eq!(early, 0, "{early} messages went before their send_at");
    let (p50, p99) = (percentile(&late, 50.0), percentile(&late, 99.0));
    rows.push(Row {
        what: format!("schedule → send lateness, {MESSAGES} SMS due at once, on moto: p50 / p99"),
        measured: format!("{:.1} s / {:.1} s", p50.as_secs_f64(), p99.as_secs_f64()),
        limit: "60 s".into(),
        ratio: Some(p99.as_secs_f64() / 60.0),
        goal: Some(1.0),
        why: None,
    });
}
