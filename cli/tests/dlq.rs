//! `inc dlq redrive` as the runbook uses it: the binary, against the local
//! stack, after the cause of the failures is fixed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use inc_cli::local::{Moto, Stack, StackOptions, sdk_config};
use inc_shared::domain::{Settings, Status};
use inc_shared::store::Store;

/// An endpoint that fails its first `failures` requests, then answers 200.
async fn flaky_endpoint(failures: usize) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            match seen.fetch_add(1, Ordering::SeqCst) < failures {
                true => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                false => axum::http::StatusCode::OK,
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/ipn"), count)
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_sends_the_parked_notifications_again() {
    let moto = Moto::start(None).await.expect("moto");
    let sdk = sdk_config(&moto.endpoint, "us-east-1").await;
    let mut options = StackOptions {
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..StackOptions::default()
    };
    // Two attempts, both failing: the notification is parked.
    options
        .parameters
        .insert("RetrySchedule".into(), "0".into());
    let stack = Stack::start(&sdk, options).await.expect("stack");
    let tables = inc_shared::config::Tables::from_lookup(&|k| stack.environment.get(k).cloned())
        .expect("tables");
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), tables.clone());
    let (url, requests) = flaky_endpoint(2).await;
    let (account, key) = inc_cli::accounts::create(&sdk, tables, "Acme")
        .await
        .expect("account");
    let settings = Settings {
        endpoint_url: Some(url),
        ..account.settings.clone()
    };
    assert!(
        store
            .put_settings(&account, &settings)
            .await
            .expect("settings"),
        "nothing else wrote them"
    );
    let event = serde_json::json!({"id": "evt-parked", "type": "sms.sent",
        "data": {"status": "RESULT_OK", "status_code": -1, "id_smsout": 6, "request_code": "1",
                 "pin": "1", "custom": "", "to": "320555555", "from": "0039", "msg": "hi", "source": "smsout_api"}});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/events", stack.api_url()))
        .header("Authorization", format!("Api-Key {key}"))
        .json(&event)
        .send()
        .await
        .expect("ingest")
        .json()
        .await
        .expect("json");
    let id = answer["notifications"][0].as_str().expect("id").to_owned();
    let status = |store: Store, account: String, id: String| async move {
        store
            .get_notification(&account, &id)
            .await
            .ok()
            .flatten()
            .map(|n| n.status)
    };
    eventually("failed", || async {
        (status(store.clone(), account.account_id.clone(), id.clone()).await
            == Some(Status::Failed))
        .then_some(())
    })
    .await;

    let inc = |args: &'static [&'static str]| {
        let mut command = common::inc_command(&stack, &moto, args);
        async move {
            let out = command.output().await.expect("inc runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let dry = inc(&["dlq", "redrive", "--dry-run"]).await;
    assert!(dry.contains(&format!("would redrive: {id}")), "{dry}");
    assert_eq!(
        status(store.clone(), account.account_id.clone(), id.clone()).await,
        Some(Status::Failed)
    );

    let done = inc(&["dlq", "redrive"]).await;
    assert!(
        done.contains("1 redriven, 0 dropped, 0 unreadable"),
        "{done}"
    );
    eventually("delivered", || async {
        (status(store.clone(), account.account_id.clone(), id.clone()).await
            == Some(Status::Delivered))
        .then_some(())
    })
    .await;
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    // The dead-letter queue is empty: a second redrive finds nothing.
    let again = inc(&["dlq", "redrive"]).await;
    assert!(again.contains("0 redriven, 0 dropped"), "{again}");
}
