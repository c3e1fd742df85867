//! What INC logs about payments: no secret, phone number or email in any
//! line, and every JSON line naming its account and event or notification.

use inc_tests::{PATIENCE, TestStack, eventually, json};
use serde_json::Value;

use super::{payment, shop};

/// Every log line the test process writes, kept for inspection.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secret_key_phone_number_or_email() {
    // Installed before the stack, so every function's logs come here (a
    // process of its own: nextest runs each test apart).
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            "info,inc_shared=debug,inc_ingest=debug,inc_deliver=debug,inc_api=debug,inc_resend=debug,inc_cli=debug",
        )
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let t = TestStack::start().await;
    // The SMS gateway fails once, so an error is logged too.
    let shop = shop(&t, &[500]).await;
    let (_, secret) = t.get(&shop.acct.key, "/v1/settings/secret").await;
    let secret = secret["secret"].as_str().expect("secret").to_owned();
    let (status, _) = t
        .post_event(
            &shop.acct.key,
            &payment("evt-pii", "sess-pii", "paid", json!({})),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the customer's SMS", PATIENCE, || async {
        (shop.sms.received().len() >= 2).then_some(())
    })
    .await;
    shop.endpoint.wait_for(1).await;
    // A wrong key and bad contacts are refused without being echoed.
    let wrong_key = "inc_live_wrong_key_0123456789abcdef";
    let (status, body) = t.get(wrong_key, "/v1/settings").await;
    assert_eq!(status, 401);
    assert!(!body.to_string().contains(wrong_key), "{body}");
    let bad = payment(
        "evt-bad",
        "sess-bad",
        "paid",
        json!({"customer_phone": "+96511112222x", "customer_email": "b@example"}),
    );
    assert_eq!(t.post_event(&shop.acct.key, &bad).await.0, 400);

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("log lock")).into_owned();
    assert!(
        logs.contains("delivery attempt"),
        "the capture works: {logs}"
    );
    for (what, needle) in [
        ("API key", shop.acct.key.as_str()),
        ("wrong API key", wrong_key),
        ("signing secret", secret.as_str()),
        ("signing secret body", secret.trim_start_matches("whsec_")),
        ("SMS gateway key", "gateway-key-1234"),
        ("WhatsApp token", "wa-token-5678"),
        ("phone number", "96599999999"),
        ("email", "a@example.com"),
        ("bad phone number", "96511112222"),
        ("bad email", "b@example"),
    ] {
        assert!(!logs.contains(needle), "the logs show the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_name_the_account_and_the_event_or_notification() {
    // Lambda's format, as `AWS_LAMBDA_LOG_FORMAT=JSON` selects it.
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(inc_shared::telemetry::json_subscriber(
        "info".into(),
        move || writer.clone(),
    ))
    .expect("the first subscriber of this process");
    let t = TestStack::start().await;
    // One failed attempt too, so a retry is logged.
    let shop = shop(&t, &[500]).await;
    let (status, _) = t
        .post_event(
            &shop.acct.key,
            &payment("evt-json", "sess-json", "paid", json!({})),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the SMS retried and sent", PATIENCE, || async {
        (shop.sms.received().len() >= 2).then_some(())
    })
    .await;
    shop.endpoint.wait_for(1).await;

    let text = String::from_utf8_lossy(&captured.0.lock().expect("log lock")).into_owned();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    let of = |target: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["target"].as_str().is_some_and(|t| t.starts_with(target)))
            .collect()
    };
    let (ingest, deliver) = (of("inc_ingest"), of("inc_deliver"));
    assert!(!ingest.is_empty() && deliver.len() >= 4, "{text}");
    for line in ingest {
        assert_eq!(line["span"]["account_id"], json!(shop.acct.id), "{line}");
        assert_eq!(line["span"]["event_id"], "evt-json", "{line}");
    }
    for line in deliver {
        assert_eq!(line["span"]["account_id"], json!(shop.acct.id), "{line}");
        assert!(
            line["span"]["notification_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("ntf_")),
            "{line}"
        );
    }
}
