//! Faults under which each member still gets exactly one message: SQS
//! refusing batches, DynamoDB refusing transactions, every page's message
//! handed out twice, and the workers killed in the middle — the ledger
//! counts what the gateway received per member.

use std::collections::BTreeMap;
use std::time::Duration;

use inc_tests::{PATIENCE, Sink, TestStack, eventually, json};
use serde_json::Value;

use super::{campaign_when, fill, history, members, phone, sends, survey_account};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_member_gets_one_message_through_refusals_duplicates_and_a_killed_worker() {
    let mut t = TestStack::behind_proxy_sweeping(
        &[("FanoutPageSize", "3"), ("SweepGraceSeconds", "3")],
        Duration::from_secs(1),
    )
    .await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = acct.key.clone();
    fill(&t, &key, "all", members("f", 64)).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    // SQS refuses a few batches and DynamoDB a few transactions, as a
    // throttled service would.
    proxy.refuse_next("AmazonSQS.SendMessageBatch", 4);
    proxy.refuse_next("DynamoDB_20120810.TransactWriteItems", 4);
    let body = json!({"id": "ledger", "name": "Ledger", "list": "all", "channel": "sms",
                      "template": "survey", "data": {"question": "1 to 5?"}});
    let accepted = eventually("the campaign accepted", PATIENCE, || async {
        let (status, answer) = t.send_json("/v1/campaigns", &key, body.clone()).await;
        // A 503 says it is stored and its retry is safe.
        matches!(status, 200 | 202).then_some(answer)
    })
    .await;
    assert_eq!(accepted["id"], "ledger");

    // Every shard's first page handed out again, as SQS may.
    // A retry answered while the first request was still starting the run
    // is accepted before `started_at` is written: wait for it.
    let started: chrono::DateTime<chrono::Utc> =
        eventually("the run started", PATIENCE, || async {
            let (_, c) = t.get(&key, "/v1/campaigns/ledger").await;
            c["started_at"].as_str().and_then(|s| s.parse().ok())
        })
        .await;
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let fanout = t.stack.resources.queues["FanoutQueue"].0.clone();
    for shard in 0..16 {
        let page = json!({"account_id": acct.id, "campaign_id": "ledger", "run": 1,
                          "started": started.timestamp_millis(), "shard": shard});
        sqs.send_message()
            .queue_url(&fanout)
            .message_body(page.to_string())
            .send()
            .await
            .expect("a duplicate page");
    }
    // The workers killed in the middle of whatever they hold, then back.
    t.stop_workers().await;
    let killed_at = std::time::Instant::now();
    t.stack.start_workers();

    let done = campaign_when(&t, &key, "ledger", |c| c["status"] == "sent").await;
    assert_eq!(
        done["counts"],
        json!({"members": 64, "queued": 0, "sent": 64, "delivered": 0, "failed": 0,
               "suppressed": 0, "skipped": 0, "replied": 0, "canceled": 0}),
        "{done}"
    );
    // The ledger: 64 members, 64 notifications, 64 SMS — one each.
    let notes = history(&t, &key, "ledger").await;
    let per_member: BTreeMap<String, usize> = notes.iter().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n["recipient_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        m
    });
    assert_eq!(per_member.len(), 64);
    assert!(per_member.values().all(|n| *n == 1), "{per_member:?}");
    assert!(
        notes.iter().all(|n| n["status"] == "delivered"),
        "every one sent"
    );
    // Every SMS reached the gateway. One is asked twice only when the kill
    // cut its worker between the gateway's answer and the record of it (no
    // sender can know then whether it went; the request carries the
    // notification id in `custom` for the gateway to de-duplicate): its
    // first request came before the kill, and nothing is asked a third time.
    let (by_id, text_to) = eventually("every SMS at the gateway", PATIENCE, || async {
        let (by_id, text_to) = sends(&gateway);
        (by_id.len() == 64).then_some((by_id, text_to))
    })
    .await;
    let received = gateway.received();
    for (id, n) in by_id.iter().filter(|(_, n)| **n > 1) {
        assert_eq!(*n, 2, "{id} asked {n} times: {by_id:?}");
        let first = received
            .iter()
            .find(|r| r.body.contains(id.as_str()))
            .expect("its first request");
        assert!(
            first.at < killed_at,
            "{id} asked twice, though its first send began after the kill"
        );
    }
    assert!(text_to.contains_key(&phone(63)));
    let ids: Vec<&Value> = notes.iter().map(|n| &n["id"]).collect();
    assert!(
        ids.iter()
            .all(|id| by_id.contains_key(id.as_str().unwrap_or_default()))
    );
}
