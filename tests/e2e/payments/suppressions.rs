//! Opt-outs (contract section 9) end to end: the list through its API, a
//! payment's messages to a listed recipient ending `failed` / `suppressed`
//! with nothing sent, the explained resend skipping them, and removal
//! letting the next message through.

use inc_tests::{TestStack, json};
use reqwest::Method;
use serde_json::Value;

use super::{of, payment, settled, shop};

const PHONE: &str = "+96588880001";
const EMAIL: &str = "optout@example.com";

/// `POST /v1/suppressions` with `body`.
async fn suppress(t: &TestStack, key: &str, body: Value) -> (u16, Value) {
    t.send_json("/v1/suppressions", key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppressed_recipient_is_sent_nothing_on_that_channel_until_removed() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;

    // Bad input: a 400 naming the field, and nothing listed.
    for (body, field) in [
        (json!({"channel": "pigeon", "to": PHONE}), "channel"),
        (json!({"channel": "sms", "to": "88880001"}), "to"),
        (json!({"channel": "email", "to": PHONE}), "to"),
        (json!({"channel": "sms"}), "to"),
        (json!({"channel": "sms", "to": PHONE, "note": "x"}), "note"),
    ] {
        let (status, answer) = suppress(&t, key, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
    }
    let (_, listed) = t.get(key, "/v1/suppressions").await;
    assert_eq!(listed, json!({"items": [], "next_cursor": null}));

    // SMS by number, email by address whatever its case; adding twice
    // keeps the first entry.
    let (status, sms) = suppress(
        &t,
        key,
        json!({"channel": "sms", "to": PHONE, "reason": "replied STOP"}),
    )
    .await;
    assert_eq!(status, 201, "{sms}");
    let (status, again) = suppress(
        &t,
        key,
        json!({"channel": "sms", "to": PHONE, "reason": "another"}),
    )
    .await;
    assert_eq!((status, &again), (200, &sms));
    assert_eq!(sms["reason"], "replied STOP");
    let (status, email) = suppress(
        &t,
        key,
        json!({"channel": "email", "to": "OptOut@Example.com"}),
    )
    .await;
    assert_eq!((status, &email["to"]), (201, &json!(EMAIL)), "{email}");

    // Listed, by channel, and page by page.
    let (_, all) = t.get(key, "/v1/suppressions").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
    let (_, only_sms) = t.get(key, "/v1/suppressions?channel=sms").await;
    assert_eq!(only_sms["items"], json!([sms]));
    let (_, first) = t.get(key, "/v1/suppressions?limit=1").await;
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let (_, second) = t
        .get(key, &format!("/v1/suppressions?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(first["items"][0], second["items"][0]);
    let (status, answer) = t.get(key, "/v1/suppressions?channel=fax").await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("channel"))
    );
    // Another account's list is its own.
    let other = t.account(None).await;
    let (_, theirs) = t.get(&other.key, "/v1/suppressions").await;
    assert_eq!(theirs["items"], json!([]));

    // A payment: SMS and email end `failed` / `suppressed`, never sent;
    // WhatsApp (not listed) and the merchant's webhook go out.
    let contacts = json!({"customer_phone": PHONE, "customer_email": EMAIL});
    let (status, body) = t
        .post_event(key, &payment("opt-1", "s_opt", "paid", contacts.clone()))
        .await;
    assert_eq!(status, 202, "{body}");
    let items = settled(&t, key, "s_opt", 4).await;
    for channel in ["sms", "email"] {
        let n = of(&items, channel);
        assert_eq!(
            (&n["status"], &n["last_error"]),
            (&json!("failed"), &json!("suppressed")),
            "{n}"
        );
    }
    assert_eq!(of(&items, "whatsapp")["status"], "delivered");
    assert_eq!(of(&items, "webhook")["status"], "delivered");
    assert!(s.sms.received().is_empty(), "no SMS to a suppressed number");
    let to_them = |emails: &[Value]| {
        emails
            .iter()
            .filter(|e| e["destinations"]["ToAddresses"][0] == EMAIL)
            .count()
    };
    assert_eq!(to_them(&t.sent_emails().await), 0);

    // The explained resend says why, and queues what it may.
    let (status, body) = t
        .send_json(
            "/v1/notifications/resend",
            key,
            json!({"session_id": "s_opt", "channels": ["sms", "email", "whatsapp"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(
        (
            &results[0]["channel"],
            &results[0]["status"],
            &results[0]["reason"]
        ),
        (&json!("sms"), &json!("skipped"), &json!("suppressed"))
    );
    // Beside it, the last SMS: the one the opt-out stopped.
    assert_eq!(
        (
            &results[0]["last"]["notification_id"],
            &results[0]["last"]["status"]
        ),
        (&of(&items, "sms")["id"], &json!("failed"))
    );
    assert_eq!(results[1]["reason"], "suppressed");
    assert_eq!(results[2]["status"], "queued");

    // Removed: 204, then 404; a path naming no recipient is 404 too.
    let remove = format!("/v1/suppressions/sms/{PHONE}");
    let (status, _) = t.call(Method::DELETE, &remove, key, None).await;
    assert_eq!(status, 204);
    let (status, _) = t.call(Method::DELETE, &remove, key, None).await;
    assert_eq!(status, 404);
    let (status, _) = t
        .call(Method::DELETE, "/v1/suppressions/fax/123", key, None)
        .await;
    assert_eq!(status, 404);

    // Now the SMS goes through; the email, still listed, does not.
    let (_, body) = t
        .send_json(
            "/v1/notifications/resend",
            key,
            json!({"session_id": "s_opt", "channels": ["sms", "email"]}),
        )
        .await;
    assert_eq!(body["results"][0]["status"], "queued", "{body}");
    assert_eq!(body["results"][1]["reason"], "suppressed", "{body}");
    let received = s.sms.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert!(
        received[0].body.contains("to=%2B96588880001"),
        "{}",
        received[0].body
    );
}

/// A suppression added after a message was planned still stops it: deliver
/// checks the list at send, not only when the message was planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_checked_again_at_send() {
    let mut t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    t.stop_workers().await;
    let contacts = json!({"customer_phone": "+96588880002", "notifications": {"sms": ["paid"]}});
    let (status, body) = t
        .post_event(key, &payment("opt-2", "s_late", "paid", contacts))
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = suppress(&t, key, json!({"channel": "sms", "to": "+96588880002"})).await;
    assert_eq!(status, 201);
    t.stack.start_workers();
    let items = settled(&t, key, "s_late", 2).await;
    let sms = of(&items, "sms");
    assert_eq!(
        (&sms["status"], &sms["last_error"]),
        (&json!("failed"), &json!("suppressed"))
    );
    assert_eq!(of(&items, "webhook")["status"], "delivered");
    assert!(s.sms.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_of_one_recipient_keep_one_entry() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let adds = (0..8).map(|i| {
        t.send_json(
            "/v1/suppressions",
            &acct.key,
            json!({"channel": "whatsapp", "to": "+96588880003", "reason": format!("add {i}")}),
        )
    });
    let answers = futures::future::join_all(adds).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    // Every answer shows the one entry that stands: the first add's.
    let (_, winner) = answers.iter().find(|(s, _)| *s == 201).expect("one 201");
    assert!(
        answers
            .iter()
            .all(|(s, b)| matches!(s, 200 | 201) && b == winner),
        "{answers:?}"
    );
    let (_, listed) = t.get(&acct.key, "/v1/suppressions").await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}
