//! Email receipts (contract section 10) end to end: deliver sends each email
//! through the template's SES configuration set, tagged with its account,
//! and keeps the message id SES returned; SES's own events, published to the
//! template's SNS topic, reach the receipts function through the local
//! stack's SNS trigger and land on the message — a permanent bounce and a
//! complaint opt the address out, a transient bounce does not. What is not
//! SES's event, or names a message INC does not know, changes nothing.

use inc_tests::{PATIENCE, TestStack, eventually, json, ses_event};
use serde_json::Value;

use super::shop;

/// An email message to `to`, delivered: its notification id and SES's id.
async fn delivered_email(t: &TestStack, key: &str, id: &str, to: &str) -> (String, String) {
    t.delivered_email(
        key,
        json!({"id": id, "channel": "email", "to": to, "subject": "Your order",
               "text": "It is on its way.", "reference": format!("order-{id}")}),
    )
    .await
}

async fn receipt_when(
    t: &TestStack,
    key: &str,
    nid: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, PATIENCE, || async {
        let receipt = t.get(key, &format!("/v1/notifications/{nid}")).await.1["receipt"].clone();
        check(&receipt).then_some(receipt)
    })
    .await
}

async fn suppressed(t: &TestStack, key: &str) -> Vec<(String, String)> {
    let (_, body) = t.get(key, "/v1/suppressions?channel=email").await;
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["to"].as_str().unwrap_or_default().to_owned(),
                i["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_events_mark_the_email_and_hard_bounces_and_complaints_opt_out() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let (key, account) = (&s.acct.key, s.acct.id.as_str());
    let (read, read_ses) = delivered_email(&t, key, "e-1", "ada@example.com").await;
    let (hard, hard_ses) = delivered_email(&t, key, "e-2", "gone@example.com").await;
    let (soft, soft_ses) = delivered_email(&t, key, "e-3", "full@example.com").await;
    // SES got the account's tag and INC kept the id it answered.
    assert_ne!(read_ses, hard_ses);

    t.publish_email_event(&ses_event(
        "Delivery",
        account,
        &read_ses,
        "ada@example.com",
        json!({"timestamp": "2026-12-02T10:00:02.000Z", "processingTimeMillis": 1200,
               "recipients": ["ada@example.com"], "smtpResponse": "250 2.6.0 Message received"}),
    ))
    .await;
    let receipt = receipt_when(&t, key, &read, "the delivery receipt", |r| {
        r["status"] == "delivered"
    })
    .await;
    assert_eq!(receipt["detail"], "250 2.6.0 Message received");
    assert_eq!(receipt["at"], "2026-12-02T10:00:02Z");

    let bounce = |kind: &str, to: &str| {
        json!({"bounceType": kind, "bounceSubType": "General", "timestamp": "2026-12-02T10:00:03.000Z",
               "feedbackId": "0100019a-feedback", "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com",
               "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": "5.1.1",
                                      "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]})
    };
    t.publish_email_event(&ses_event(
        "Bounce",
        account,
        &hard_ses,
        "gone@example.com",
        bounce("Permanent", "gone@example.com"),
    ))
    .await;
    t.publish_email_event(&ses_event(
        "Bounce",
        account,
        &soft_ses,
        "full@example.com",
        bounce("Transient", "full@example.com"),
    ))
    .await;
    t.publish_email_event(&ses_event(
        "Complaint",
        account,
        &read_ses,
        "ada@example.com",
        json!({"timestamp": "2026-12-02T11:00:00.000Z", "complaintFeedbackType": "abuse",
               "userAgent": "Mail feedback loop", "feedbackId": "0100019a-complaint",
               "complainedRecipients": [{"emailAddress": "ada@example.com"}]}),
    ))
    .await;
    let receipt = receipt_when(&t, key, &hard, "the hard bounce", |r| {
        r["status"] == "bounced"
    })
    .await;
    assert_eq!(
        receipt["detail"],
        "Permanent/General: smtp; 550 5.1.1 user unknown"
    );
    receipt_when(&t, key, &soft, "the soft bounce", |r| {
        r["status"] == "bounced"
    })
    .await;
    receipt_when(&t, key, &read, "the complaint", |r| {
        r["status"] == "complained"
    })
    .await;
    let mut listed = suppressed(&t, key).await;
    listed.sort();
    assert_eq!(
        listed,
        [
            ("ada@example.com".to_owned(), "email_complaint".to_owned()),
            ("gone@example.com".to_owned(), "email_bounce".to_owned()),
        ],
        "a permanent bounce and a complaint opt out; a transient bounce does not"
    );

    // Hostile or stale events: not JSON, not SES's, another account's tag
    // on this message id, a message INC never sent, a delivery older than
    // the complaint. Then one that counts: the trigger takes them in turn,
    // so once it is recorded, the others were read and changed nothing.
    let other = t.account(None).await;
    for hostile in [
        "not json".to_owned(),
        json!({"hello": "world"}).to_string(),
        ses_event(
            "Delivery",
            &other.id,
            &read_ses,
            "ada@example.com",
            json!({"timestamp": "2026-12-02T12:00:00.000Z"}),
        ),
        ses_event(
            "Bounce",
            account,
            "0100019a-never-sent",
            "ada@example.com",
            bounce("Permanent", "victim@example.com"),
        ),
        ses_event(
            "Delivery",
            account,
            &read_ses,
            "ada@example.com",
            json!({"timestamp": "2026-12-02T10:30:00.000Z"}),
        ),
    ] {
        t.publish_email_event(&hostile).await;
    }
    // This one `inc ses-event` publishes, as a developer would on the
    // local stack.
    let (last, _) = delivered_email(&t, key, "e-4", "bo@example.com").await;
    let store =
        inc_shared::store::Store::for_config(aws_sdk_dynamodb::Client::new(&t.sdk), &t.config());
    inc_cli::ses_event::publish(
        &t.sdk,
        &store,
        &t.stack.resources.topics["EmailEventsTopic"],
        account,
        &last,
        inc_cli::ses_event::Kind::Delivery,
    )
    .await
    .expect("inc ses-event");
    receipt_when(&t, key, &last, "the last delivery", |r| {
        r["status"] == "delivered"
    })
    .await;
    let (_, n) = t.get(key, &format!("/v1/notifications/{read}")).await;
    assert_eq!(n["receipt"]["status"], "complained", "{n}");
    assert_eq!(suppressed(&t, key).await.len(), 2);
    assert_eq!(
        t.get(&other.key, "/v1/suppressions").await.1["items"],
        json!([])
    );
    assert_eq!(t.template_queue_depth("ReceiptsDeadLetterQueue").await, 0);

    // The order's timeline shows the receipt; the next email to a bounced
    // address is not sent.
    let (_, timeline) = t.get(key, "/v1/transactions?order_no=order-e-2").await;
    let kinds: Vec<String> = timeline["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap_or_default(),
                e["channel"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(kinds.contains(&"receipt email".to_owned()), "{timeline}");
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "e-5", "channel": "email", "to": "gone@example.com", "subject": "Again", "text": "Hello?"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let nid = body["notification_id"].as_str().expect("id").to_owned();
    let failed = eventually("the suppressed email failed", PATIENCE, || async {
        let (_, n) = t.get(key, &format!("/v1/notifications/{nid}")).await;
        (n["status"] == "failed").then_some(n)
    })
    .await;
    assert_eq!(failed["last_error"], "suppressed", "{failed}");
}
