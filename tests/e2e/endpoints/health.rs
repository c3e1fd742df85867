//! Endpoint health (contract section 8): each endpoint's statistics by
//! hour, kept as counters deliver adds to, against a ledger of what the
//! endpoint received.

use inc_tests::{Sink, TestStack, json};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoints_stats_match_what_it_received() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "0,0,0,0,0")]).await;
    let acct = t.account(None).await;
    // Two failures first, then 200s: two notifications take a second try.
    let sink = Sink::answering(&[500, 503]).await;
    let (status, endpoint) = t
        .call(
            Method::POST,
            "/v1/endpoints",
            &acct.key,
            Some(json!({"url": sink.url()})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let mut accepted = Vec::new();
    for i in 0..6 {
        let event =
            json!({"id": format!("order-{i}"), "type": "order.completed", "data": {"n": i}});
        let (status, body) = t.post_event(&acct.key, &event).await;
        assert_eq!(status, 202, "{body}");
        accepted.extend(
            body["notifications"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned)),
        );
    }
    let ledger = t
        .settled_ledger("endpoint stats", &acct.id, &accepted)
        .await;
    assert_eq!(ledger.delivered, 6, "{ledger}");
    let received = sink.received();
    let failed = received.len() - 6;

    let path = format!("/v1/endpoints/{id}/stats");
    let (status, stats) = t.get(&acct.key, &path).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["totals"],
        json!({"delivered": 6, "failed": 0, "attempts": received.len(), "failed_attempts": failed}),
        "{stats}"
    );
    let buckets = stats["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 24, "the last 24 hours by default");
    let now = &buckets[23];
    assert_eq!(now["delivered"], 6, "{now}");
    assert_eq!(now["failed_attempts"], failed, "{now}");
    assert!(
        now["p50_ms"]
            .as_u64()
            .is_some_and(|p| p <= now["p95_ms"].as_u64().unwrap_or(0))
    );
    assert!(buckets[0]["p50_ms"].is_null());

    // A range: the hours asked for, and nothing before the attempts.
    let since = chrono::Utc::now() - chrono::Duration::hours(48);
    let until = since + chrono::Duration::hours(2);
    let query = format!(
        "{path}?since={}&until={}",
        since.format("%Y-%m-%dT%H:%M:%SZ"),
        until.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (status, old) = t.get(&acct.key, &query).await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["buckets"].as_array().map(Vec::len), Some(3));
    assert_eq!(old["totals"]["attempts"], 0);

    // Hostile input: a 4xx naming the parameter.
    for (query, field) in [
        ("since=yesterday", "since"),
        (
            "since=2026-12-01T10:00:00Z&until=2026-12-01T09:00:00Z",
            "until",
        ),
        (
            "since=2026-10-01T00:00:00Z&until=2026-12-01T00:00:00Z",
            "since",
        ),
    ] {
        let (status, body) = t.get(&acct.key, &format!("{path}?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, _) = t.get(&acct.key, &format!("{path}?hour=1")).await;
    assert_eq!(status, 400);
    // Another account's endpoint, and a default endpoint that is not set.
    let other = t.account(None).await;
    let (status, _) = t.get(&other.key, &path).await;
    assert_eq!(status, 404);
    let (status, _) = t.get(&acct.key, "/v1/endpoints/ep_default/stats").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_add_to_one_hour_without_losing_a_count() {
    use inc_shared::domain::endpoints::stats::Counts;
    let t = TestStack::start().await;
    let acct = t.account(Some("http://127.0.0.1:9/ipn")).await;
    let store = t.store();
    let now = chrono::Utc::now();
    let writes = (0..40).map(|i| {
        let store = store.clone();
        let account_id = acct.id.clone();
        async move {
            let mut counts = Counts::default();
            counts.attempt(10 * i, i % 4 != 0);
            counts.delivered = u64::from(i % 4 != 0);
            store
                .add_endpoint_counts(&account_id, "ep_default", now, &counts)
                .await
                .expect("add");
        }
    });
    futures::future::join_all(writes).await;
    let (status, stats) = t.get(&acct.key, "/v1/endpoints/ep_default/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["totals"],
        json!({"delivered": 30, "failed": 0, "attempts": 40, "failed_attempts": 10})
    );
}

/// The alerts `sink` received, as (type, endpoint_id) in order of arrival.
pub(crate) fn alerts_of(sink: &Sink) -> Vec<(String, String)> {
    sink.received()
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .map(|b| {
            (
                b["type"].as_str().unwrap_or_default().to_owned(),
                b["data"]["endpoint_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// A stack whose endpoints are disabled after `disable_after` seconds of
/// failures (alerted at a fifth of it), retrying every second, and an
/// account whose alerts go to a sink.
pub(crate) async fn health_stack(disable_after: &str) -> (TestStack, inc_tests::Account, Sink) {
    let t = TestStack::with_parameters(&[
        ("RetrySchedule", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"),
        ("EndpointDisableAfterSeconds", disable_after),
    ])
    .await;
    let acct = t.account(None).await;
    let alerts = Sink::start().await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"alerts": {"url": alerts.url(), "email": "ops@shop.example"},
                   "channels": {"email": {"from": "inc@shop.example"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["alerts"],
        json!({"url": alerts.url(), "email": "ops@shop.example"})
    );
    (t, acct, alerts)
}

pub(crate) async fn endpoint_to(t: &TestStack, key: &str, url: &str) -> String {
    let (status, endpoint) = t
        .call(
            Method::POST,
            "/v1/endpoints",
            key,
            Some(json!({"url": url})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn post_order(t: &TestStack, key: &str, id: &str) -> String {
    let event = json!({"id": id, "type": "order.completed", "data": {"order_no": id}});
    let (status, body) = t.post_event(key, &event).await;
    assert_eq!(status, 202, "{body}");
    body["notifications"][0]
        .as_str()
        .expect("a notification")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_alerted_then_recovers_and_says_so() {
    let (t, acct, alerts) = health_stack("20").await;
    // Nobody listens on the endpoint's port yet: every attempt fails.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let id = endpoint_to(&t, &acct.key, &format!("http://{addr}/hooks")).await;
    let n = post_order(&t, &acct.key, "flaky-1").await;
    // endpoint.failing comes at a fifth of the 20 s delay.
    inc_tests::eventually("endpoint.failing", inc_tests::PATIENCE, || async {
        (!alerts.received().is_empty()).then_some(())
    })
    .await;
    // Back up: the next attempt answers 200.
    let _up = Sink::scripted_on(addr, &[]).await;
    t.notification_when(&acct.key, &n, |b| b["status"] == "delivered")
        .await;
    inc_tests::eventually("endpoint.recovered", inc_tests::PATIENCE, || async {
        (alerts.received().len() >= 2).then_some(())
    })
    .await;
    assert_eq!(
        alerts_of(&alerts),
        [
            ("endpoint.failing".to_owned(), id.clone()),
            ("endpoint.recovered".to_owned(), id.clone())
        ]
    );
    // Signed with the account's secret, like any webhook.
    let (_, secret) = t.get(&acct.key, "/v1/settings/secret").await;
    let secret = secret["secret"].as_str().expect("secret");
    for alert in alerts.received() {
        assert!(crate::fan_out::verifies(secret, &alert), "{alert:?}");
    }
    let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
    assert_eq!(
        endpoint["failing_since"],
        serde_json::Value::Null,
        "{endpoint}"
    );
    assert_eq!(endpoint["enabled"], true);
    // Alerts are notifications too, and not counted as the endpoint's.
    let (_, stats) = t.get(&acct.key, &format!("/v1/endpoints/{id}/stats")).await;
    let (_, sent) = t.get(&acct.key, &format!("/v1/notifications/{n}")).await;
    let attempts = sent["attempts"].as_array().map_or(0, Vec::len);
    assert!(attempts >= 2, "{sent}");
    assert_eq!(stats["totals"]["attempts"], attempts, "{stats}");
    assert_eq!(stats["totals"]["failed_attempts"], attempts - 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_past_the_delay_is_disabled_its_pending_fail_and_recover_resends_them()
{
    let (t, acct, alerts) = health_stack("5").await;
    let dead = Sink::answering(&[503; 200]).await;
    let id = endpoint_to(&t, &acct.key, &dead.url()).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let first = post_order(&t, &acct.key, "dead-1").await;
    let second = post_order(&t, &acct.key, "dead-2").await;
    for n in [&first, &second] {
        let body = t
            .notification_when(&acct.key, n, |b| b["status"] == "failed")
            .await;
        assert!(
            body["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("the endpoint was disabled")),
            "{body}"
        );
    }
    inc_tests::eventually("two alerts", inc_tests::PATIENCE, || async {
        (alerts.received().len() >= 2).then_some(())
    })
    .await;
    assert_eq!(
        alerts_of(&alerts),
        [
            ("endpoint.failing".to_owned(), id.clone()),
            ("endpoint.disabled".to_owned(), id.clone())
        ],
        "failing before disabled, and no notification.failed for the disabled endpoint's own"
    );
    // The same alerts by email, in the same order.
    let emails = inc_tests::eventually("two alert emails", inc_tests::PATIENCE, || async {
        let emails = t.sent_emails().await;
        (emails.len() >= 2).then_some(emails)
    })
    .await;
    let subjects: Vec<&str> = emails
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            format!("INC: endpoint {id} is failing"),
            format!("INC: endpoint {id} was disabled")
        ]
    );
    assert!(
        emails
            .iter()
            .all(|e| e["destinations"]["ToAddresses"][0] == "ops@shop.example")
    );
    let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("since")),
        "{endpoint}"
    );
    // Disabled: a new event does not go to it.
    let (status, body) = t
        .post_event(
            &acct.key,
            &json!({"id": "dead-3", "type": "order.completed", "data": {}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["notifications"], json!([]));

    // Fixed and re-enabled, then recovered by endpoint: both sent again.
    let fixed = Sink::start().await;
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/endpoints/{id}"),
            &acct.key,
            Some(json!({"url": fixed.url(), "enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled_reason"], serde_json::Value::Null);
    // Both were failed before the patch, so no attempt was on its way; and
    // a delivery that read one before the recover cannot take its lease
    // afterwards (store::lease_attempt): the dead URL is not called again.
    let calls = dead.received().len();
    recover_to_fixed(&t, &acct.key, started, &id, &fixed, [&first, &second]).await;
    assert_eq!(
        dead.received().len(),
        calls,
        "the dead URL is not called after the patch"
    );
    // The first 2xx after the re-enable ends the streak, and says so once.
    inc_tests::eventually("endpoint.recovered", inc_tests::PATIENCE, || async {
        (alerts.received().len() >= 3).then_some(())
    })
    .await;
    let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
    assert_eq!(
        endpoint["failing_since"],
        serde_json::Value::Null,
        "{endpoint}"
    );
    assert_eq!(
        alerts_of(&alerts),
        [
            ("endpoint.failing".to_owned(), id.clone()),
            ("endpoint.disabled".to_owned(), id.clone()),
            ("endpoint.recovered".to_owned(), id.clone())
        ]
    );
}

/// Recovers the endpoint's failed notifications since `started` and waits
/// for both to reach `fixed`, delivered.
pub(crate) async fn recover_to_fixed(
    t: &TestStack,
    key: &str,
    started: chrono::DateTime<chrono::Utc>,
    endpoint_id: &str,
    fixed: &Sink,
    notifications: [&str; 2],
) {
    let (status, body) = t
        .send_json(
            "/v1/notifications/recover",
            key,
            json!({"since": started.to_rfc3339(), "endpoint_id": endpoint_id}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["recovered"], 2, "{body}");
    inc_tests::eventually(
        "2 recovered webhooks at the fixed URL",
        inc_tests::PATIENCE,
        || async { (fixed.received().len() >= 2).then_some(()) },
    )
    .await;
    for n in notifications {
        t.notification_when(key, n, |b| b["status"] == "delivered")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_a_rate_limited_endpoint_arrives_whole_and_never_faster_than_its_limit() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let (status, endpoint) = t
        .call(
            Method::POST,
            "/v1/endpoints",
            &acct.key,
            Some(json!({"url": sink.url(), "rate_limit": 10})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let mut accepted = Vec::new();
    for chunk in 0..10 {
        let posts = (0..20).map(|i| {
            let (t, key) = (&t, &acct.key);
            async move {
                let id = format!("burst-{chunk}-{i}");
                let event = json!({"id": id, "type": "order.completed", "data": {"i": i}});
                let (status, body) = t.post_event(key, &event).await;
                assert_eq!(status, 202, "{body}");
                body["notifications"][0].as_str().expect("one").to_owned()
            }
        });
        accepted.extend(futures::future::join_all(posts).await);
    }
    let ledger = t
        .settled_ledger("rate-limited burst", &acct.id, &accepted)
        .await;
    assert_eq!(
        (ledger.delivered, ledger.delivered_twice),
        (200, 0),
        "{ledger}"
    );
    // No attempt was spent waiting: one each.
    assert_eq!(ledger.attempts, 200, "{ledger}");
    let mut at: Vec<std::time::Instant> = sink.received().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 200);
    let busiest = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t < at[i] + std::time::Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    println!("rate-limited burst: at most {busiest} webhooks in any second");
    assert!(busiest <= 10, "{busiest} webhooks within one second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_notification_is_alerted_once_and_an_alert_never_alerts_about_itself() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "1,1")]).await;
    // The merchant's endpoint is gone for good (410), and so is its alert URL.
    let gone = Sink::answering(&[410]).await;
    let alerts = Sink::answering(&[500; 50]).await;
    let acct = t.account(Some(&gone.url())).await;
    let (status, body) = t
        .patch_settings(&acct.key, json!({"alerts": {"url": alerts.url()}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .post_event(&acct.key, &inc_tests::seed_event("gone-1", "sms.sent"))
        .await;
    assert_eq!(status, 202, "{body}");
    let n = body["notifications"][0].as_str().expect("one").to_owned();
    t.notification_when(&acct.key, &n, |b| b["status"] == "failed")
        .await;
    // The alert is tried three times (its schedule), then given up, silently.
    let got = alerts.wait_for(3).await;
    // Failed: the notification and its alert, and nothing about the alert.
    inc_tests::eventually("the alert given up", inc_tests::PATIENCE, || async {
        let (_, failed) = t
            .get(&acct.key, "/v1/notifications?status=failed&limit=10")
            .await;
        (failed["items"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
    let ids: std::collections::BTreeSet<String> = alerts
        .received()
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .map(|b| {
            assert_eq!(b["type"], "notification.failed", "{b}");
            assert_eq!(b["data"]["notification_id"], n.as_str(), "{b}");
            b["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "one alert, about the notification only: {got:?}"
    );
    assert_eq!(
        alerts.received().len(),
        3,
        "three attempts of that one alert"
    );
}

/// Issue #25's first mend: notifications whose attempts were in flight when
/// another attempt disabled their endpoint are failed in the same step, not
/// left `retrying` until a far retry (an hour here, 10 h by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_endpoint_fails_its_pending_notifications_even_those_in_flight() {
    // Two quick retries, then an hour: the third wave of attempts, all in
    // flight together, is the one that finds the 3 s streak passed.
    let t = TestStack::with_parameters(&[
        ("RetrySchedule", "1,1,3600"),
        ("EndpointDisableAfterSeconds", "3"),
    ])
    .await;
    let acct = t.account(None).await;
    let slow = inc_tests::Answer {
        delay: std::time::Duration::from_millis(1000),
        ..inc_tests::Answer::status(503)
    };
    let dead = Sink::scripted(&[slow; 200]).await;
    let id = endpoint_to(&t, &acct.key, &dead.url()).await;
    let mut pending = Vec::new();
    for i in 0..8 {
        pending.push(post_order(&t, &acct.key, &format!("in-flight-{i}")).await);
    }
    for n in &pending {
        let body = t
            .notification_when(&acct.key, n, |b| {
                b["status"] != "queued" && b["status"] != "retrying"
            })
            .await;
        assert_eq!(body["status"], "failed", "{body}");
        assert!(
            body["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("the endpoint was disabled")),
            "{body}"
        );
        assert_eq!(body["next_attempt_at"], serde_json::Value::Null, "{body}");
    }
    let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
}
