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
    use inc_shared::domain::endpoint_stats::Counts;
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
