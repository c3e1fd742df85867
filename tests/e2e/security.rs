//! Signed webhooks as a merchant verifies them — with the official Standard
//! Webhooks library from PyPI, not with our own code — secret rotation, and
//! resending one logged notification.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use inc_shared::domain::common::ids::hash_api_key;
use inc_tests::{
    PATIENCE, Received, Sink, TestStack, eventually, json, seed_event, workspace_root,
};

/// Runs the official Python verifier on a received webhook.
fn python_verifies(secret: &str, webhook: &Received) -> Result<(), String> {
    let python = workspace_root().join(".venv/verify/bin/python");
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, headers = sys.argv[1], json.loads(sys.argv[2])
Webhook(secret).verify(sys.stdin.buffer.read(), headers, json_parse=False)
print("verified")
"#;
    let headers = serde_json::to_string(&webhook.headers).expect("headers");
    let mut child = Command::new(&python)
        .args(["-c", script, secret, &headers])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); make test installs it",
                python.display()
            )
        });
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(webhook.body.as_bytes())
            .expect("write body");
    }
    let out = child.wait_with_output().expect("python");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn secret(t: &TestStack, key: &str) -> String {
    let (status, body) = t.get(key, "/v1/settings/secret").await;
    assert_eq!(status, 200);
    body["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_verify_with_the_official_standard_webhooks_library() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let secret = secret(&t, &acct.key).await;
    assert!(secret.starts_with("whsec_"));

    t.post_event(&acct.key, &seed_event("form-1", "sms.sent"))
        .await;
    t.patch_settings(&acct.key, json!({"webhook_format": "json"}))
        .await;
    t.post_event(&acct.key, &seed_event("json-1", "sms.sent"))
        .await;
    let got = sink.wait_for(2).await;
    for webhook in &got {
        python_verifies(&secret, webhook).unwrap_or_else(|e| panic!("{e}: {webhook:?}"));
    }

    // Anything altered is refused by the verifier.
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replace("RESULT_OK", "RESULT_ER");
    assert!(python_verifies(&secret, &tampered).is_err());
    let mut truncated = got[0].clone();
    truncated.body.pop();
    assert!(python_verifies(&secret, &truncated).is_err());
    let mut bare = got[0].clone();
    bare.headers
        .insert("webhook-signature".into(), "v1,".into());
    assert!(python_verifies(&secret, &bare).is_err());
    let mut stale = got[0].clone();
    stale.headers.insert(
        "webhook-timestamp".into(),
        (chrono::Utc::now().timestamp() - 600).to_string(),
    );
    assert!(python_verifies(&secret, &stale).is_err());
    assert!(
        python_verifies(
            &inc_shared::domain::endpoints::signing::new_secret(),
            &got[0]
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_keeps_signing_beside_the_new_one() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let old = secret(&t, &acct.key).await;
    let (status, body) = t
        .send_json("/v1/settings/secret/rotate", &acct.key, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let new = body["secret"].as_str().expect("secret").to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(secret(&t, &acct.key).await, new);

    t.post_event(&acct.key, &seed_event("after-rotation", "sms.sent"))
        .await;
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].headers["webhook-signature"].split(' ').count(), 2);
    python_verifies(&new, &got[0]).expect("the new secret verifies");
    python_verifies(&old, &got[0]).expect("the old secret still verifies for 24 h");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_notification_can_be_sent_again_with_the_same_webhook_id() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-again", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id").to_owned();
    t.notification_when(&acct.key, &id, |n| n["status"] == "delivered")
        .await;

    let (status, body) = t
        .send_json(
            &format!("/v1/notifications/{id}/resend"),
            &acct.key,
            json!({}),
        )
        .await;
    assert_eq!((status, &body), (202, &json!({"notification_id": id})));
    let got = sink.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body);
    let n = t
        .notification_when(&acct.key, &id, |n| {
            n["status"] == "delivered" && n["attempts"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let numbers: Vec<&serde_json::Value> = n["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["number"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2)]);

    let other = t.account(None).await;
    let (status, _) = t
        .send_json(
            &format!("/v1/notifications/{id}/resend"),
            &other.key,
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "another account's id is not found");
    let (status, _) = t
        .send_json("/v1/notifications/ntf_nope/resend", &acct.key, json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_still_retrying_is_not_resent_twice() {
    let t = TestStack::with_parameters(&[("RetrySchedule", "3600")]).await;
    let sink = Sink::answering(&[500]).await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-busy", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id").to_owned();
    let n = t
        .notification_when(&acct.key, &id, |n| n["status"] == "retrying")
        .await;
    assert!(n["next_attempt_at"].is_string());
    let (status, body) = t
        .send_json(
            &format!("/v1/notifications/{id}/resend"),
            &acct.key,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("notification_pending")),
        "{body}"
    );
    eventually("one attempt only", PATIENCE, || async {
        (sink.received().len() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipn_postback_verifies_exactly_what_inc_sent_to_that_account() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    t.post_event(&acct.key, &seed_event("evt-postback", "sms.sent"))
        .await;
    let received = sink.wait_for(1).await;
    let body = received[0].body.clone();

    let verify = |key: Option<String>, body: String| {
        let mut request = t
            .http
            .post(t.url("/v1/ipn/verify"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Api-Key {key}"));
        }
        async move {
            let response = request.send().await.expect("answer");
            (
                response.status().as_u16(),
                response.text().await.expect("text"),
            )
        }
    };
    // The log records the body once the attempt is logged.
    eventually("VERIFIED", PATIENCE, || async {
        (verify(Some(acct.key.clone()), body.clone()).await == (200, "VERIFIED".into()))
            .then_some(())
    })
    .await;
    // One byte changed, a byte more, a byte less: INVALID.
    let changed = body.replacen("RESULT_OK", "RESULT_KO", 1);
    for tampered in [
        changed,
        format!("{body}&"),
        body[..body.len() - 1].to_owned(),
    ] {
        assert_eq!(
            verify(Some(acct.key.clone()), tampered).await,
            (200, "INVALID".into())
        );
    }
    // Another account did not receive it.
    let other = t.account(None).await;
    assert_eq!(
        verify(Some(other.key.clone()), body.clone()).await,
        (200, "INVALID".into())
    );
    let (status, text) = verify(None, body.clone()).await;
    assert_eq!(status, 401, "{text}");
    let (status, text) = verify(Some(acct.key.clone()), String::new()).await;
    assert!(
        status == 400 && text.contains("empty_body"),
        "{status} {text}"
    );
}

/// A key names its account, so even an instance that has never seen it
/// reads the key and the account in one DynamoDB call; a key of the older
/// shape (`inc_<64 hex>`, naming none) still works, in two reads the first
/// time and one after. A key naming an account it does not belong to, or an
/// account with another's secret, is a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_authenticates_in_one_call_from_its_first_request_and_an_older_key_still_works() {
    let t = TestStack::behind_proxy(&[]).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let acct = t.account(None).await;
    assert!(
        acct.key.starts_with(&format!("inc_{}_", acct.id)),
        "{}",
        acct.key
    );
    let one_batch_get = |calls: &std::collections::BTreeMap<String, usize>| {
        calls.get("DynamoDB_20120810.BatchGetItem") == Some(&1)
            && calls.values().sum::<usize>() == 1
    };

    proxy.take_calls();
    let (status, body) = t.get(&acct.key, "/v1/settings").await;
    assert_eq!(status, 200, "{body}");
    let calls = proxy.take_calls();
    assert!(
        one_batch_get(&calls),
        "a new key's first request: {calls:?}"
    );

    // A key of the older shape, stored as such keys were.
    let old_key = format!("inc_{}", "5a".repeat(32));
    aws_sdk_dynamodb::Client::new(&t.sdk)
        .put_item()
        .table_name(&t.config().tables.api_keys)
        .item("key_hash", AttributeValue::S(hash_api_key(&old_key)))
        .item("key_id", AttributeValue::S("key_older".into()))
        .item("account_id", AttributeValue::S(acct.id.clone()))
        .item(
            "created_at",
            AttributeValue::S("2026-01-01T00:00:00Z".into()),
        )
        .send()
        .await
        .expect("older key");
    proxy.take_calls();
    let (status, body) = t.get(&old_key, "/v1/settings").await;
    assert_eq!(status, 200, "{body}");
    let calls = proxy.take_calls();
    assert_eq!(
        calls.get("DynamoDB_20120810.GetItem"),
        Some(&2),
        "{calls:?}"
    );
    let (status, body) = t.get(&old_key, "/v1/settings").await;
    assert_eq!(status, 200, "{body}");
    let calls = proxy.take_calls();
    assert!(one_batch_get(&calls), "an older key, seen: {calls:?}");

    // The account a key names is a hint, never trusted on its own.
    let other = t.account(None).await;
    let secret = acct.key.rsplit_once('_').expect("secret").1;
    for forged in [
        format!("inc_{}_{}", acct.id, "0".repeat(64)),
        format!("inc_{}_{secret}", other.id),
    ] {
        let (status, body) = t.get(&forged, "/v1/settings").await;
        assert_eq!(status, 401, "{forged}: {body}");
    }
}

/// An API key authenticates with one DynamoDB call once an instance has
/// seen it (the key and its account read together), and a revoked key is
/// refused at its next request all the same — by the API and by ingest,
/// both of which have just used it. Another key of the account still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_at_its_next_request_by_a_warm_instance() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let store = t.store();
    let (info, second) = store.create_key(&acct.id).await.expect("key");
    let event = |id: &str| json!({"id": id, "type": "order.completed", "data": {}});
    for round in 0..3 {
        let (status, body) = t.get(&second, "/v1/settings").await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = t
            .post_event(&second, &event(&format!("warm-{round}")))
            .await;
        assert_eq!(status, 202, "round {round}: {body}");
    }
    store
        .revoke_key(&acct.id, &info.key_id)
        .await
        .expect("revoke");
    let (status, body) = t.get(&second, "/v1/settings").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = t.post_event(&second, &event("after-revoke")).await;
    assert_eq!(status, 401, "{body}");
    // The settings' receipt URLs name the account they belong to.
    let names = |body: &serde_json::Value, id: &str| {
        body["receipt_urls"]["sms"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("rct_{id}_")))
    };
    let (status, body) = t.get(&acct.key, "/v1/settings").await;
    assert_eq!(status, 200, "{body}");
    assert!(names(&body, &acct.id), "{body}");
    // A key of another account never reads this one.
    let other = t.account(None).await;
    let (_, body) = t.get(&other.key, "/v1/settings").await;
    assert!(names(&body, &other.id) && !names(&body, &acct.id), "{body}");
}
