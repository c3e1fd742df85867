//! A campaign refused whole at acceptance (a `4xx` naming the field, nothing
//! stored), paused and resumed where it stood, canceled while it sends
//! (nothing claimed after the cancel is sent, and the ledger balances), a
//! recurrence whose runs each have their own counts, and the pace: at most
//! its rate (+1) in any second, with a direct message going beside it, not
//! behind it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inc_tests::{PATIENCE, Sink, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

use super::{campaign_when, fill, history, members, sends, survey_account};

fn campaign(id: &str, list: &str, extra: Value) -> Value {
    let mut body = json!({"id": id, "name": id, "list": list, "channel": "sms", "template": "survey",
                          "data": {"question": "1 to 5?"}});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

/// The ledger every run balances by: each member once, in one of these.
fn balanced(counts: &Value) -> bool {
    let n = |k: &str| counts[k].as_i64().unwrap_or(-1);
    n("members")
        == n("sent") + n("failed") + n("suppressed") + n("skipped") + n("canceled") + n("queued")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_campaign_is_refused_naming_the_field_and_nothing_is_stored() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    fill(&t, key, "vip", members("v", 3)).await;
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/templates/sms/tiered",
            key,
            Some(json!({"languages": {"en": {"body": "Hi {{ recipient.data.tier }}"}}})),
        )
        .await;
    assert_eq!(status, 200);
    for (body, want, field) in [
        (
            campaign("c-1", "vip", json!({"channel": "fax"})),
            400,
            "channel",
        ),
        (campaign("c 1", "vip", json!({})), 400, "id"),
        (campaign("c-1", "vip", json!({"rate": 0})), 400, "rate"),
        (
            campaign(
                "c-1",
                "vip",
                json!({"recurrence": {"rrule": "FREQ=NEVER", "timezone": "UTC"}}),
            ),
            400,
            "recurrence.rrule",
        ),
        (campaign("c-1", "nobody", json!({})), 422, "list"),
        (
            campaign("c-1", "vip", json!({"template": "missing"})),
            422,
            "template",
        ),
        // The template needs data the campaign does not give…
        (
            campaign("c-1", "vip", json!({"data": {}})),
            422,
            "data.question",
        ),
        // …or a field its members lack.
        (
            campaign("c-1", "vip", json!({"template": "tiered"})),
            422,
            "template",
        ),
    ] {
        let (status, answer) = t.send_json("/v1/campaigns", key, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
        let named = answer["error"]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{body}: {answer}");
        if body["template"] == "tiered" {
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("recipient.data.tier"),
                "names the variable: {answer}"
            );
        }
    }
    assert_eq!(
        t.get(key, "/v1/campaigns/c-1").await.0,
        404,
        "nothing stored"
    );
    assert_eq!(t.scan("INC_NOTIFICATIONS_TABLE").await, 0);

    // Accepted, then the same id with another body is a conflict.
    let later = (Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT09:00:00Z")
        .to_string();
    let (status, _) = t
        .send_json(
            "/v1/campaigns",
            key,
            campaign("c-1", "vip", json!({"send_at": later})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, answer) = t
        .send_json("/v1/campaigns", key, campaign("c-1", "vip", json!({})))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("campaign_id_conflict"))
    );
    let (_, scheduled) = t.get(key, "/v1/campaigns/c-1").await;
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    assert_eq!(scheduled["next_run_at"], later.as_str());
    let (status, listed) = t.get(key, "/v1/campaigns").await;
    assert_eq!(
        (status, listed["items"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    // Canceled before its run: never sent; canceling again is the same.
    for _ in 0..2 {
        let (status, canceled) = t
            .send_json("/v1/campaigns/c-1/cancel", key, json!({}))
            .await;
        assert_eq!(
            (status, &canceled["status"]),
            (200, &json!("canceled")),
            "{canceled}"
        );
    }
    let (status, answer) = t
        .send_json("/v1/campaigns/c-1/resume", key, json!({}))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("campaign_not_changeable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_campaign_stops_where_it_stands_and_resumes_from_there() {
    let t = TestStack::with_parameters(&[("FanoutPageSize", "2")]).await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    fill(&t, key, "big", members("p", 96)).await;
    // Two members a page, 10 a second: each shard's next page waits 4 s.
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            key,
            campaign("paused", "big", json!({"rate": 10})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, paused) = t
        .send_json("/v1/campaigns/paused/pause", key, json!({}))
        .await;
    assert_eq!(
        (status, &paused["status"]),
        (200, &json!("paused")),
        "{paused}"
    );

    // What was claimed before the pause ends; the pages that come due find
    // it paused and leave their shards where they stand.
    let stopped = eventually("the paused campaign settled", PATIENCE * 2, || async {
        let depth = t.template_queue_depth("FanoutQueue").await;
        let (_, c) = t.get(key, "/v1/campaigns/paused").await;
        (depth == 0 && c["counts"]["queued"] == 0).then_some(c)
    })
    .await;
    let reached = stopped["counts"]["members"].as_i64().expect("members");
    assert!((1..96).contains(&reached), "stopped midway: {stopped}");
    assert_eq!(stopped["counts"]["sent"], reached);
    assert_eq!(stopped["status"], "paused");

    let (status, resumed) = t
        .send_json("/v1/campaigns/paused/resume", key, json!({}))
        .await;
    assert_eq!(
        (status, &resumed["status"]),
        (200, &json!("sending")),
        "{resumed}"
    );
    let done = campaign_when(&t, key, "paused", |c| c["status"] == "sent").await;
    assert_eq!(done["counts"]["members"], 96, "{done}");
    assert_eq!(done["counts"]["sent"], 96, "{done}");
    let (by_id, _) = sends(&gateway);
    assert_eq!(by_id.len(), 96);
    assert!(by_id.values().all(|n| *n == 1), "each member once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_the_fan_out_sends_nothing_claimed_after_it() {
    let t = TestStack::with_parameters(&[("FanoutPageSize", "2")]).await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    fill(&t, key, "big", members("c", 96)).await;
    let (status, _) = t
        .send_json(
            "/v1/campaigns",
            key,
            campaign("canceled", "big", json!({"rate": 20})),
        )
        .await;
    assert_eq!(status, 202);
    eventually("a first message sent", PATIENCE, || async {
        let (_, c) = t.get(key, "/v1/campaigns/canceled").await;
        (c["counts"]["sent"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    let (status, canceled) = t
        .send_json("/v1/campaigns/canceled/cancel", key, json!({}))
        .await;
    let canceled_at = Utc::now();
    assert_eq!(
        (status, &canceled["status"]),
        (200, &json!("canceled")),
        "{canceled}"
    );

    let settled = eventually("the canceled campaign settled", PATIENCE * 2, || async {
        let depth = t.template_queue_depth("FanoutQueue").await
            + t.template_queue_depth("CampaignQueue").await;
        let (_, c) = t.get(key, "/v1/campaigns/canceled").await;
        (depth == 0 && c["counts"]["queued"] == 0).then_some(c)
    })
    .await;
    let counts = &settled["counts"];
    assert!(balanced(counts), "the ledger balances: {counts}");
    assert_eq!(settled["status"], "canceled");
    let notes = history(&t, key, "canceled").await;
    assert_eq!(
        notes.len() as i64,
        counts["members"].as_i64().expect("members")
    );
    for n in &notes {
        let created: DateTime<Utc> = n["created_at"]
            .as_str()
            .expect("time")
            .parse()
            .expect("RFC 3339");
        assert!(created <= canceled_at, "claimed after the cancel: {n}");
    }
    let sent = notes.iter().filter(|n| n["status"] == "delivered").count();
    let (by_id, _) = sends(&gateway);
    assert_eq!(
        by_id.len(),
        sent,
        "the gateway got what the history says was sent"
    );
    assert_eq!(counts["sent"], sent);
    assert!(by_id.values().all(|n| *n == 1));
    let (_, runs) = t.get(key, "/v1/campaigns/canceled/runs").await;
    assert_eq!(runs["items"][0]["status"], "canceled", "{runs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_keeps_its_pace_and_a_direct_message_goes_beside_it() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    fill(&t, key, "paced", members("r", 40)).await;
    let (status, _) = t
        .send_json(
            "/v1/campaigns",
            key,
            campaign("paced", "paced", json!({"rate": 5})),
        )
        .await;
    assert_eq!(status, 202);
    // A payment's receipt sent while 40 messages wait at 5 a second: it
    // goes on its own queue, at once.
    let direct = t
        .delivered_message(key, json!({"id": "receipt-1", "channel": "sms", "to": "+393339999999", "text": "Paid, thanks"}))
        .await;
    let (_, during) = t.get(key, "/v1/campaigns/paced").await;
    assert!(
        during["counts"]["sent"].as_i64() < Some(40),
        "delivered beside the campaign: {during} {direct}"
    );
    let done = campaign_when(&t, key, "paced", |c| c["status"] == "sent").await;
    assert_eq!(done["counts"]["sent"], 40);
    // No second held more than the rate (+1 for the window's edges).
    let mut per_second: BTreeMap<u128, usize> = BTreeMap::new();
    let first = gateway.received().first().map(|r| r.at).expect("a send");
    for r in gateway
        .received()
        .iter()
        .filter(|r| r.body.contains("1+to+5"))
    {
        for window in 0..10u128 {
            let offset = r.at.saturating_duration_since(first).as_millis();
            if offset >= window * 100 {
                *per_second
                    .entry((offset - window * 100) / 1000 * 10 + window)
                    .or_default() += 1;
            }
        }
    }
    let busiest = per_second.values().max().copied().unwrap_or_default();
    assert!(busiest <= 6, "at most rate + 1 in any second: {busiest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_campaign_runs_at_each_occurrence_with_counts_of_its_own() {
    let t = TestStack::with_schedules_every(&[], std::time::Duration::from_secs(1)).await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    fill(&t, key, "monthly", members("s", 4)).await;
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            key,
            campaign(
                "subscription",
                "monthly",
                json!({"recurrence": {"rrule": "FREQ=SECONDLY;INTERVAL=3;COUNT=2", "timezone": "Europe/Rome"}}),
            ),
        )
        .await;
    assert!(status == 202, "{body}");
    let done = campaign_when(&t, key, "subscription", |c| {
        c["status"] == "sent" && c["run"] == 2
    })
    .await;
    assert_eq!(
        done["next_run_at"],
        Value::Null,
        "no occurrence left: {done}"
    );
    let (_, runs) = t.get(key, "/v1/campaigns/subscription/runs").await;
    let runs = runs["items"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run["counts"]["sent"], 4, "{run}");
        assert_eq!(run["status"], "sent");
    }
    let (by_id, _) = sends(&gateway);
    assert_eq!(by_id.len(), 8, "each member once per run");
}
