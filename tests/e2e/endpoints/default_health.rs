//! The default endpoint's health (contract section 8): `ep_default`, the
//! settings' `endpoint_url`, fails, alerts, is disabled and comes back like
//! a stored endpoint, its state kept on the account item.

use inc_tests::{Sink, TestStack, json};
use reqwest::Method;

use crate::health::{alerts_of, health_stack, post_order, recover_to_fixed};

const DEFAULT: &str = "ep_default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_endpoint_is_disabled_like_any_other_and_a_new_url_starts_it_afresh() {
    let (t, acct, alerts) = health_stack("5").await;
    let dead = Sink::answering(&[503; 200]).await;
    let (status, body) = t
        .patch_settings(&acct.key, json!({"endpoint_url": dead.url()}))
        .await;
    assert_eq!(status, 200, "{body}");
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let first = post_order(&t, &acct.key, "default-dead-1").await;
    let second = post_order(&t, &acct.key, "default-dead-2").await;
    for n in [&first, &second] {
        let body = t
            .notification_when(&acct.key, n, |b| b["status"] == "failed")
            .await;
        assert_eq!(body["endpoint_id"], DEFAULT, "{body}");
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
            ("endpoint.failing".to_owned(), DEFAULT.to_owned()),
            ("endpoint.disabled".to_owned(), DEFAULT.to_owned())
        ]
    );
    let (_, endpoint) = t.get(&acct.key, "/v1/endpoints/ep_default").await;
    assert_eq!(endpoint["is_default"], true, "{endpoint}");
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("since")),
        "{endpoint}"
    );
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"][0], endpoint, "the list shows the same");
    let calls = dead.received().len();

    // Disabled: a new event does not go to it.
    let (status, body) = t
        .post_event(
            &acct.key,
            &json!({"id": "default-dead-3", "type": "order.completed", "data": {}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["notifications"], json!([]));

    // Its URL is a setting: PATCH here takes `enabled` only, and a refused
    // patch changes nothing.
    let (status, body) = t
        .call(
            Method::PATCH,
            "/v1/endpoints/ep_default",
            &acct.key,
            Some(json!({"url": "https://example.com/", "enabled": true})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "default_endpoint", "{body}");
    let (_, unchanged) = t.get(&acct.key, "/v1/endpoints/ep_default").await;
    assert_eq!(unchanged, endpoint);

    // A new URL is a new default endpoint: enabled, its streak forgotten.
    let fixed = Sink::start().await;
    let (status, body) = t
        .patch_settings(&acct.key, json!({"endpoint_url": fixed.url()}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, endpoint) = t.get(&acct.key, "/v1/endpoints/ep_default").await;
    assert_eq!(endpoint["enabled"], true, "{endpoint}");
    assert_eq!(endpoint["disabled_reason"], json!(null), "{endpoint}");
    assert_eq!(endpoint["failing_since"], json!(null), "{endpoint}");
    recover_to_fixed(&t, &acct.key, started, DEFAULT, &fixed, [&first, &second]).await;
    assert_eq!(
        dead.received().len(),
        calls,
        "the dead URL is not called again"
    );

    // Disabled and enabled by hand, as a stored endpoint is.
    for (enabled, routed) in [(false, 0), (true, 1)] {
        let (status, body) = t
            .call(
                Method::PATCH,
                "/v1/endpoints/ep_default",
                &acct.key,
                Some(json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["enabled"], enabled, "{body}");
        assert_eq!(body["url"], fixed.url().as_str(), "{body}");
        let event =
            json!({"id": format!("default-hand-{enabled}"), "type": "order.completed", "data": {}});
        let (status, body) = t.post_event(&acct.key, &event).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            body["notifications"].as_array().map(Vec::len),
            Some(routed),
            "{body}"
        );
    }
    fixed.wait_for(3).await;
}

/// Each health transition, run by many invocations at once on one item —
/// the account's for the default endpoint, its own for a stored one — is
/// made exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_health_transitions_each_happen_once_on_either_item() {
    let t = TestStack::start().await;
    let acct = t.account(Some("http://127.0.0.1:9/ipn")).await;
    let stored = crate::health::endpoint_to(&t, &acct.key, "http://127.0.0.1:9/other").await;
    let store = t.store();
    let since = chrono::Utc::now();
    for id in [DEFAULT, stored.as_str()] {
        let runs = 20;
        let count = |wins: Vec<bool>| wins.into_iter().filter(|w| *w).count();
        let started = futures::future::join_all((0..runs).map(|i| {
            let (store, account_id) = (store.clone(), acct.id.clone());
            // Each saw its own first failure; one streak begins.
            let at = match i {
                0 => since,
                _ => since + chrono::Duration::milliseconds(i),
            };
            async move {
                store
                    .endpoint_failing(&account_id, id, at)
                    .await
                    .expect("failing")
            }
        }))
        .await;
        assert_eq!(count(started), 1, "{id}: one streak begins");
        let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
        let begun: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(endpoint["failing_since"].clone()).expect("failing_since");
        let alerted = futures::future::join_all((0..runs).map(|_| {
            let (store, account_id) = (store.clone(), acct.id.clone());
            async move {
                store
                    .endpoint_failing_alerted(&account_id, id, begun, &[])
                    .await
                    .expect("alerted")
            }
        }))
        .await;
        assert_eq!(count(alerted), 1, "{id}: endpoint.failing once");
        let recovered = futures::future::join_all((0..runs).map(|_| {
            let (store, account_id) = (store.clone(), acct.id.clone());
            async move {
                store
                    .endpoint_recovered(&account_id, id, begun, &[])
                    .await
                    .expect("recovered")
            }
        }))
        .await;
        assert_eq!(count(recovered), 1, "{id}: endpoint.recovered once");
        let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
        assert_eq!(endpoint["failing_since"], json!(null), "{endpoint}");
        assert_eq!(endpoint["enabled"], true, "{endpoint}");
    }
    // The settings kept every change besides: three health writes bumped
    // the version a settings patch is conditional on, and lost nothing.
    let (status, body) = t
        .patch_settings(&acct.key, json!({"webhook_format": "json"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["endpoint_url"], "http://127.0.0.1:9/ipn", "{body}");
}
