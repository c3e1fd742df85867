//! A push's CPU (contract 14): FCM's `messages:send` through INC's push
//! adapter — its JSON, its access token from the cache, the attempt it
//! records — against a bare HTTP/2 POST of the same body with the same
//! token, both to the loopback FCM of the tests. One token exchange serves
//! every send, and the notes say so.

use std::collections::BTreeMap;
use std::time::Duration;

use cpu_time::ThreadTime;
use inc_shared::domain::AttemptOutcome;
use inc_shared::domain::accounts::providers::FcmProvider;
use inc_shared::domain::common::url_policy::EndpointPolicy;
use inc_shared::push::{Push, PushContent};
use inc_shared::webhook::WebhookClient;
use inc_tests::push::{FakePush, push_settings};

use crate::instant::on_own_thread;
use crate::{Row, ms};

const PUSHES: usize = 2_000;

pub async fn cpu_per_device(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let (fcm, apns) = (FakePush::fcm().await, FakePush::apns().await);
    let provider: FcmProvider =
        serde_json::from_value(push_settings(&fcm, &apns)["channels"]["push"]["fcm"].clone())
            .expect("an FCM provider");
    let pushed = on_own_thread(move || async move {
        let policy = EndpointPolicy {
            allow_private: true,
        };
        let http = WebhookClient::new(policy, Duration::from_secs(15)).expect("client");
        let push = Push::new(http).expect("push");
        let data = BTreeMap::from([("order".to_owned(), "A-17".to_owned())]);
        let content = PushContent {
            title: "Order A-17",
            body: "Your order is on its way",
            data: &data,
        };
        // The first send exchanges the assertion; the rest use its token.
        let first = push.fcm(&provider, 1, "device-warm", &content).await;
        assert_eq!(
            first.outcome,
            AttemptOutcome::Delivered,
            "{:?}",
            first.attempt
        );
        let cpu = ThreadTime::now();
        for i in 0..PUSHES {
            let sent = push
                .fcm(&provider, 1, &format!("device-{i}"), &content)
                .await;
            assert_eq!(sent.outcome, AttemptOutcome::Delivered);
        }
        cpu.elapsed()
    });
    let url = format!("{}/v1/projects/inc-tests/messages:send", fcm.base_url());
    let body = inc_shared::domain::apps::push::fcm_message(
        "device-bare",
        "Order A-17",
        "Your order is on its way",
        &BTreeMap::from([("order".to_owned(), "A-17".to_owned())]),
    );
    let bare = on_own_thread(move || async move {
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("client");
        let send = || {
            client
                .post(&url)
                .bearer_auth("ya29.test-1")
                .json(&body)
                .send()
        };
        assert!(send().await.expect("bare POST").status().is_success());
        let cpu = ThreadTime::now();
        for _ in 0..PUSHES {
            assert!(send().await.expect("bare POST").status().is_success());
        }
        cpu.elapsed()
    });
    let per = |d: Duration| ms(d) * 1000.0 / PUSHES as f64;
    rows.push(Row {
        what: "CPU per push to a device (FCM, access token cached) vs a bare HTTP/2 POST".into(),
        measured: format!("{:.0} µs", per(pushed)),
        limit: format!("{:.0} µs", per(bare)),
        ratio: Some(per(pushed) / per(bare)),
        goal: Some(3.0),
        why: None,
    });
    notes.push(format!(
        "Push: {} sends through the FCM adapter took {} OAuth token exchange(s) — one assertion signed, \
         its access token reused until five minutes before it expires.",
        PUSHES + 1,
        fcm.exchanges()
    ));
}
