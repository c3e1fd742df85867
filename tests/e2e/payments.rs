//! Ottu's Message Notifications end to end: a payment changes state, the
//! customer hears on the channels the transaction asked for (email through
//! SES on moto, SMS and WhatsApp through loopback providers), and the
//! merchant resends by `session_id` or `order_no`.

use inc_shared::domain::PaymentState;
use inc_tests::{Account, PATIENCE, Sink, TestStack, eventually, json};
use serde_json::Value;

#[path = "payments/fallback.rs"]
mod fallback;
#[path = "payments/messages.rs"]
mod messages;
#[path = "payments/payment_templates.rs"]
mod payment_templates;
#[path = "payments/quiet_hours.rs"]
mod quiet_hours;
#[path = "payments/receipts.rs"]
mod receipts;
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
async fn a_resend_by_order_no_after_the_phone_changed_reaches_the_new_number() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    t.post_event(
        &s.acct.key,
        &payment(
            "pay-1",
            "s_2",
            "created",
            json!({"notifications": {"sms": ["paid"]}}),
        ),
    )
    .await;
    // A later event corrects the phone number; created is not in the list, so nothing goes out.
    let (_, body) = t
        .post_event(
            &s.acct.key,
            &payment(
                "pay-2",
                "s_2",
                "created",
                json!({"customer_phone": "+96511111111", "notifications": {"sms": ["paid"]}}),
            ),
        )
        .await;
    assert_eq!(
        body["notifications"].as_array().map(Vec::len),
        Some(1),
        "only the merchant's webhook: {body}"
    );

    let response = t
        .http
        .post(t.url("/b/pbl/v2/message-notification/"))
        .header("Authorization", format!("Api-Key {}", s.acct.key))
        .json(&json!({"order_no": "order-s_2", "channels": ["sms"]}))
        .send()
        .await
        .expect("resend");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"message": "Customer notified."})
    );
    let got = s.sms.wait_for(1).await;
    let fields: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(&got[0].body).expect("form");
    assert_eq!(fields["to"], "+96511111111");
    assert!(fields["msg"].contains("order-s_2"), "{fields:?}");

    // The same as a form post, Ottu's other accepted encoding.
    let response = t
        .http
        .post(t.url("/b/pbl/v2/message-notification/"))
        .header("Authorization", format!("Api-Key {}", s.acct.key))
        .form(&[("session_id", "s_2"), ("channels", "sms")])
        .send()
        .await
        .expect("resend");
    assert_eq!(response.status().as_u16(), 200);
    s.sms.wait_for(2).await;
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
                json!({"channel": channel, "state": state.as_str(), "status": "would_queue"})
            } else {
                json!({"channel": channel, "state": state.as_str(), "status": "skipped", "reason": "state_not_allowed"})
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
        json!({"channel": "whatsapp", "state": "refunded", "status": "skipped", "reason": "state_not_allowed"})
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
async fn resend_answers_in_ottus_shapes_and_stores_nothing_it_should_not() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let other = t.account(None).await;
    t.post_event(
        &s.acct.key,
        &payment(
            "pay-1",
            "s_3",
            "refunded",
            json!({"notifications": {"whatsapp": ["paid"]}}),
        ),
    )
    .await;
    all_delivered(&t, &s.acct.key, "s_3", 1).await;
    let before = t.scan("INC_NOTIFICATIONS_TABLE").await;
    let ottu = "/b/pbl/v2/message-notification/";
    let cases = [
        (
            Some(&s.acct.key),
            json!({"channels": ["sms"]}),
            400,
            json!({"session_id": ["This field is required."], "order_no": ["This field is required."]}),
        ),
        (
            Some(&s.acct.key),
            json!({"order_no": "order-s_3"}),
            400,
            json!({"channels": ["This field is required."]}),
        ),
        (
            Some(&s.acct.key),
            json!({"order_no": "order-s_3", "channels": ["pigeon"]}),
            400,
            json!({"channels": ["\"pigeon\" is not a valid choice."]}),
        ),
        (
            Some(&s.acct.key),
            json!({"order_no": "nope", "channels": ["sms"]}),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Some(&other.key),
            json!({"order_no": "order-s_3", "channels": ["sms"]}),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Some(&s.acct.key),
            json!({"order_no": "order-s_3", "channels": ["whatsapp"]}),
            400,
            json!({"channels": ["whatsapp: state_not_allowed"], "result": "failed"}),
        ),
        (
            None,
            json!({"order_no": "order-s_3", "channels": ["sms"]}),
            401,
            json!({"detail": "Authentication credentials were not provided or are invalid."}),
        ),
    ];
    for (key, body, status, expected) in cases {
        let mut request = t.http.post(t.url(ottu)).json(&body);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Api-Key {key}"));
        }
        let response = request.send().await.expect("answer");
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(
            response.json::<Value>().await.expect("JSON"),
            expected,
            "{body}"
        );
    }
    // The explained route uses the /v1 error shape.
    let (status, body) = t
        .send_json(
            "/v1/notifications/resend",
            &s.acct.key,
            json!({"channels": ["sms"]}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("order_no")),
        "{body}"
    );
    let (status, _) = t
        .send_json(
            "/v1/notifications/resend",
            &other.key,
            json!({"session_id": "s_3", "channels": ["sms"]}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        t.scan("INC_NOTIFICATIONS_TABLE").await,
        before,
        "nothing was stored"
    );
    assert_eq!(
        t.queue_depth("INC_DELIVERY_QUEUE_URL").await,
        0,
        "nothing was queued"
    );
    assert!(s.sms.received().is_empty() && s.whatsapp.received().is_empty());
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
