//! Resends of a transaction's customer messages: by `order_no` after the
//! customer's phone changed, and Ottu's own route in Ottu's shapes.

use inc_tests::{TestStack, json};
use serde_json::Value;

use super::{all_delivered, payment, shop};

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
