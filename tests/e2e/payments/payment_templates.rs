//! The payment messages as templates (contract section 9): an account's
//! `payment.<state>` template replaces the shipped text on its channel; an
//! older `channels.*.templates` override still wins over it; and a template
//! the transaction's fields do not fill fails that one message — the event
//! is accepted, its other notifications go, the explained resend says
//! `template_error`.

use inc_tests::{TestStack, json};
use reqwest::Method;
use serde_json::Value;

use super::{of, payment, settled, shop};

async fn put(t: &TestStack, key: &str, path: &str, languages: Value) {
    let (status, body) = t
        .call(
            Method::PUT,
            path,
            key,
            Some(json!({ "languages": languages })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_templates_replace_the_shipped_texts_and_overrides_still_win() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    put(
        &t,
        key,
        "/v1/templates/sms/payment.paid",
        json!({"en": {"body": "Thanks {{ first_name }}! {{ amount }} received for {{ order }}."},
               "ar": {"body": "شكراً {{ first_name }}"}}),
    )
    .await;
    put(
        &t,
        key,
        "/v1/templates/email/payment.paid",
        json!({"en": {"subject": "Paid: {{ order }}", "body": "We got {{ amount }}. Use code {{ coupon }} next time."}}),
    )
    .await;

    // SMS from the stored template; the email's template lacks `coupon`:
    // that message fails naming it, the rest of the event goes.
    let (status, body) = t
        .post_event(key, &payment("pt-1", "s_pt1", "paid", json!({})))
        .await;
    assert_eq!(status, 202, "{body}");
    let items = settled(&t, key, "s_pt1", 4).await;
    assert_eq!(of(&items, "sms")["status"], "delivered");
    assert_eq!(
        of(&items, "sms")["request"]["text"],
        "Thanks Asha! 19.000 KWD received for order-s_pt1."
    );
    let email = of(&items, "email");
    assert_eq!(email["status"], "failed", "{email}");
    assert!(
        email["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("data.coupon")),
        "{email}"
    );
    assert_eq!(of(&items, "webhook")["status"], "delivered");
    assert_eq!(of(&items, "whatsapp")["status"], "delivered");
    assert!(
        t.sent_emails().await.is_empty(),
        "the failed email was never sent"
    );

    // The explained resend says why it cannot send the email.
    let (status, body) = t
        .send_json(
            "/v1/notifications/resend",
            key,
            json!({"session_id": "s_pt1", "channels": ["email", "sms"], "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(
        (&results[0]["status"], &results[0]["reason"]),
        (&json!("skipped"), &json!("template_error")),
        "{body}"
    );
    assert_eq!(results[1]["status"], "would_queue", "{body}");

    // An override in the channel settings still comes first.
    let (status, body) = t
        .patch_settings(
            key,
            json!({"channels": {"sms": {"templates": {"paid": "Override: {{ order }} paid."}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = t
        .post_event(key, &payment("pt-2", "s_pt2", "paid", json!({})))
        .await;
    assert_eq!(status, 202);
    let items = settled(&t, key, "s_pt2", 4).await;
    assert_eq!(
        of(&items, "sms")["request"]["text"],
        "Override: order-s_pt2 paid."
    );
}
