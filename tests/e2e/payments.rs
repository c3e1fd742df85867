//! Ottu's Message Notifications end to end: a payment changes state, the
//! customer hears on the channels the transaction asked for (email through
//! SES on moto, SMS and WhatsApp through loopback providers), and the
//! merchant resends by `session_id` or `order_no`.

use inc_shared::domain::PaymentState;
use inc_tests::{Account, PATIENCE, Sink, TestStack, eventually, json};
use serde_json::Value;

#[path = "payments/email_receipts.rs"]
mod email_receipts;
#[path = "payments/fallback.rs"]
mod fallback;
#[path = "payments/logs.rs"]
mod logs;
#[path = "payments/messages.rs"]
mod messages;
#[path = "payments/payment_templates.rs"]
mod payment_templates;
#[path = "payments/quiet_hours.rs"]
mod quiet_hours;
#[path = "payments/receipts.rs"]
mod receipts;
#[path = "payments/resend.rs"]
mod resend;
#[path = "payments/suppressions.rs"]
mod suppressions;

const SENDER: &str = "noreply@shop.example";

/// The three providers and the merchant's endpoint, each a loopback sink.
struct Shop {
    acct: Account,
    endpoint: Sink,
    sms: Sink,
    whatsapp: Sink,
}

async fn shop(t: &TestStack, sms_script: &[u16]) -> Shop {
    let endpoint = Sink::start().await;
    let sms = Sink::answering(sms_script).await;
    let whatsapp = Sink::start().await;
    let acct = t.account(Some(&endpoint.url())).await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"channels": {
                "sms": {"url": format!("http://{}/sms", sms.addr), "api_key": "gateway-key-1234", "sender": "SHOP"},
                "email": {"from": SENDER},
                "whatsapp": {"base_url": format!("http://{}/v21.0", whatsapp.addr), "phone_number_id": "1234567890",
                             "access_token": "wa-token-5678", "templates": {"paid": "payment_paid"}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["channels"]["sms"]["api_key"], "****1234",
        "secrets come back masked"
    );
    Shop {
        acct,
        endpoint,
        sms,
        whatsapp,
    }
}

fn payment(id: &str, session: &str, state: &str, extra: Value) -> Value {
    let mut data = json!({"session_id": session, "order_no": format!("order-{session}"), "state": state,
        "amount": "19.000", "currency_code": "KWD", "customer_email": "a@example.com",
        "customer_phone": "+96599999999", "customer_first_name": "Asha", "language": "en",
        "notifications": {"email": ["created", "paid"], "sms": ["paid"], "whatsapp": ["paid"]}});
    if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
        d.extend(e);
    }
    json!({"id": id, "type": "payment.state_changed", "data": data})
}

async fn notifications_of(t: &TestStack, key: &str, session: &str) -> Vec<Value> {
    let (_, body) = t
        .get(key, &format!("/v1/notifications?session_id={session}"))
        .await;
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The notification on `channel` among `items`.
fn of<'a>(items: &'a [Value], channel: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} notification in {items:?}"))
}

/// The notifications of `session`, once every one of them is final.
async fn settled(t: &TestStack, key: &str, session: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} final notifications"), PATIENCE, || async {
        let items = notifications_of(t, key, session).await;
        (items.len() == n
            && items
                .iter()
                .all(|i| i["status"] == "delivered" || i["status"] == "failed"))
        .then_some(items)
    })
    .await
}

async fn all_delivered(t: &TestStack, key: &str, session: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} delivered notifications"),
        PATIENCE,
        || async {
            let items = notifications_of(t, key, session).await;
            (items.len() == n && items.iter().all(|i| i["status"] == "delivered")).then_some(items)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_event_tells_the_customer_on_every_channel_and_the_merchant_by_json() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let (status, body) = t
        .post_event(&s.acct.key, &payment("pay-1", "s_1", "paid", json!({})))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["notifications"].as_array().map(Vec::len),
        Some(4),
        "{body}"
    );
    let items = all_delivered(&t, &s.acct.key, "s_1", 4).await;
    let mut channels: Vec<&str> = items.iter().filter_map(|i| i["channel"].as_str()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["email", "sms", "webhook", "whatsapp"]);

    // The merchant's webhook: JSON, signed.
    let hook = &s.endpoint.received()[0];
    assert_eq!(hook.headers["content-type"], "application/json");
    let hook_body: Value = serde_json::from_str(&hook.body).expect("JSON");
    assert_eq!(
        (&hook_body["type"], &hook_body["data"]["state"]),
        (&json!("payment.state_changed"), &json!("paid"))
    );
    assert!(hook.headers.contains_key("webhook-signature"));

    // SMS: Genio's send fields; `custom` is the notification id.
    let sms = &s.sms.received()[0];
    let fields: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(&sms.body).expect("form");
    let sms_id = items
        .iter()
        .find(|i| i["channel"] == "sms")
        .and_then(|i| i["id"].as_str())
        .expect("sms id");
    assert_eq!(fields["api"], "gateway-key-1234");
    assert_eq!(fields["to"], "+96599999999");
    assert_eq!(fields["custom"], sms_id);
    assert_eq!(fields["from"], "SHOP");
    assert_eq!(
        fields["msg"],
        "Hi Asha, we received your payment of 19.000 KWD for order order-s_1. Thank you!"
    );

    // WhatsApp: a Cloud API template message.
    let wa = &s.whatsapp.received()[0];
    assert_eq!(wa.path, "/v21.0/1234567890/messages");
    assert_eq!(wa.headers["authorization"], "Bearer wa-token-5678");
    let wa_body: Value = serde_json::from_str(&wa.body).expect("JSON");
    assert_eq!(wa_body["type"], "template");
    assert_eq!(wa_body["template"]["name"], "payment_paid");
    assert_eq!(wa_body["template"]["language"]["code"], "en");
    assert_eq!(wa_body["to"], "+96599999999");

    // Email: through SES, as moto recorded it.
    let emails = t.sent_emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["source"], SENDER);
    assert_eq!(emails[0]["destinations"]["ToAddresses"][0], "a@example.com");
    assert_eq!(emails[0]["subject"], "Your payment for order order-s_1");

    // A state the lists do not name notifies only the merchant.
    let (_, body) = t
        .post_event(&s.acct.key, &payment("pay-2", "s_1", "refunded", json!({})))
        .await;
    assert_eq!(
        body["notifications"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_and_channel_gets_exactly_the_tables_answer() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let whatsapp_states = [
        "created",
        "paid",
        "canceled",
        "failed",
        "expired",
        "authorized",
    ];
    for state in PaymentState::ALL {
        let session = format!("sweep_{}", state.as_str());
        let quiet = json!({"notifications": {"email": [], "sms": [], "whatsapp": []}});
        let (status, _) = t
            .post_event(
                &s.acct.key,
                &payment(&format!("e-{session}"), &session, state.as_str(), quiet),
            )
            .await;
        assert_eq!(status, 202);
        let (status, body) = t
            .send_json("/v1/notifications/resend", &s.acct.key, json!({"session_id": session, "channels": ["email", "sms", "whatsapp"], "dry_run": true}))
            .await;
        assert_eq!(status, 200, "{body}");
        for result in body["results"].as_array().expect("results") {
            let channel = result["channel"].as_str().expect("channel");
            let allowed = channel != "whatsapp" || whatsapp_states.contains(&state.as_str());
            let expected = if allowed {
                json!({"channel": channel, "state": state.as_str(), "status": "would_queue", "last": null})
            } else {
                json!({"channel": channel, "state": state.as_str(), "status": "skipped", "reason": "state_not_allowed", "last": null})
            };
            assert_eq!(result, &expected, "{state:?} {channel}");
        }
    }
    assert!(
        s.sms.received().is_empty() && s.whatsapp.received().is_empty(),
        "a dry run sends nothing"
    );

    // For real: refunded by email is queued and delivered; by WhatsApp refused.
    let (status, body) = t
        .send_json(
            "/v1/notifications/resend",
            &s.acct.key,
            json!({"session_id": "sweep_refunded", "channels": ["whatsapp", "email"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0],
        json!({"channel": "whatsapp", "state": "refunded", "status": "skipped", "reason": "state_not_allowed", "last": null})
    );
    assert_eq!(body["results"][1]["status"], "queued");
    let id = body["results"][1]["notification_id"].as_str().expect("id");
    t.notification_when(&s.acct.key, id, |n| n["status"] == "delivered")
        .await;
    let emails = t.sent_emails().await;
    assert!(
        emails.iter().any(|e| e["body"]
            .as_str()
            .is_some_and(|b| b.contains("was refunded"))),
        "{emails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_twice_then_recovers_still_delivers() {
    let t = TestStack::start().await;
    let s = shop(&t, &[500, 503]).await;
    t.post_event(
        &s.acct.key,
        &payment(
            "pay-1",
            "s_4",
            "paid",
            json!({"notifications": {"sms": ["paid"]}}),
        ),
    )
    .await;
    let items = all_delivered(&t, &s.acct.key, "s_4", 2).await;
    let sms = items
        .iter()
        .find(|i| i["channel"] == "sms")
        .expect("the SMS");
    let codes: Vec<&Value> = sms["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(s.sms.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_refuses_the_request_is_not_retried() {
    let t = TestStack::start().await;
    let s = shop(&t, &[400]).await;
    let (_, body) = t
        .post_event(
            &s.acct.key,
            &payment(
                "pay-1",
                "s_5",
                "paid",
                json!({"notifications": {"sms": ["paid"]}}),
            ),
        )
        .await;
    let sms_id = eventually("the failed SMS", PATIENCE, || async {
        let items = notifications_of(&t, &s.acct.key, "s_5").await;
        items
            .into_iter()
            .find(|i| i["channel"] == "sms" && i["status"] == "failed")
    })
    .await;
    assert_eq!(
        sms_id["attempts"].as_array().map(Vec::len),
        Some(1),
        "{sms_id}"
    );
    assert!(
        body["notifications"]
            .as_array()
            .is_some_and(|n| n.len() == 2)
    );
    assert_eq!(s.sms.received().len(), 1);
}
