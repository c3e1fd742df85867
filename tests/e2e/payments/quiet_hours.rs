//! Quiet hours (contract section 9) end to end: inside the account's
//! window an SMS or WhatsApp message waits for its end — shown queued with
//! that `next_attempt_at`, sent no earlier — while email and the merchant's
//! webhook go at once.

use chrono::{DateTime, Duration, Utc};
use inc_tests::{PATIENCE, TestStack, eventually, json};
use serde_json::Value;

use super::{notifications_of, of, payment, shop};

fn at(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("a time: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_and_whatsapp_wait_for_the_window_to_end_email_and_webhooks_do_not() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;

    // Bad windows: a 400 naming the field; the settings keep none.
    for (window, field) in [
        (
            json!({"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"}),
            "quiet_hours.timezone",
        ),
        (
            json!({"start": "25:00", "end": "08:00", "timezone": "UTC"}),
            "quiet_hours.start",
        ),
        (
            json!({"start": "21:00", "end": "21:00", "timezone": "UTC"}),
            "quiet_hours.end",
        ),
        (
            json!({"start": "21:00", "timezone": "UTC"}),
            "quiet_hours.end",
        ),
    ] {
        let (status, body) = t
            .patch_settings(key, json!({ "quiet_hours": window }))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{window}: {body}"
        );
    }
    let (_, settings) = t.get(key, "/v1/settings").await;
    assert_eq!(settings["quiet_hours"], Value::Null);

    // A window that began a minute ago and ends in ten seconds (UTC, to the
    // second; across midnight it wraps, which the rules allow).
    let now = Utc::now();
    let end = now + Duration::seconds(10);
    let window = json!({
        "start": (now - Duration::minutes(1)).format("%H:%M:%S").to_string(),
        "end": end.format("%H:%M:%S").to_string(),
        "timezone": "UTC",
    });
    let (status, body) = t
        .patch_settings(key, json!({ "quiet_hours": window }))
        .await;
    assert_eq!((status, &body["quiet_hours"]), (200, &window), "{body}");
    let end = at(&json!(end.format("%Y-%m-%dT%H:%M:%SZ").to_string()));

    let (status, body) = t
        .post_event(key, &payment("quiet-1", "s_quiet", "paid", json!({})))
        .await;
    assert_eq!(status, 202, "{body}");

    // While the window lasts: email and webhook delivered; SMS and
    // WhatsApp queued, due at the window's end.
    let items = eventually("email and webhook delivered", PATIENCE, || async {
        let items = notifications_of(&t, key, "s_quiet").await;
        let delivered = |c| {
            items
                .iter()
                .any(|i| i["channel"] == c && i["status"] == "delivered")
        };
        let waiting = |c| {
            items
                .iter()
                .any(|i| i["channel"] == c && !i["next_attempt_at"].is_null())
        };
        (delivered("email") && delivered("webhook") && waiting("sms") && waiting("whatsapp"))
            .then_some(items)
    })
    .await;
    for channel in ["sms", "whatsapp"] {
        let n = of(&items, channel);
        if Utc::now() < end {
            assert_eq!(n["status"], "queued", "{n}");
        }
        assert_eq!(at(&n["next_attempt_at"]), end, "{n}");
    }
    for channel in ["email", "webhook"] {
        let sent = at(&of(&items, channel)["attempts"][0]["at"]);
        assert!(
            sent < end,
            "{channel} did not wait: sent {sent}, window ends {end}"
        );
    }

    // After it: each sent once, no earlier than the end.
    let items = eventually("SMS and WhatsApp delivered", PATIENCE, || async {
        let items = notifications_of(&t, key, "s_quiet").await;
        items
            .iter()
            .all(|i| i["status"] == "delivered")
            .then_some(items)
    })
    .await;
    for channel in ["sms", "whatsapp"] {
        let n = of(&items, channel);
        let attempts = n["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "{n}");
        let sent = at(&attempts[0]["at"]);
        assert!(
            sent >= end,
            "{channel} sent at {sent}, before the window's end {end}"
        );
    }
    assert_eq!(s.sms.received().len(), 1);
    assert_eq!(s.whatsapp.received().len(), 1);

    // `null` removes the window.
    let (status, body) = t.patch_settings(key, json!({"quiet_hours": null})).await;
    assert_eq!(
        (status, &body["quiet_hours"]),
        (200, &Value::Null),
        "{body}"
    );
}
