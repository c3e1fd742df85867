//! How a notification item is stored: a webhook's body as bytes, read back
//! from either form.

use super::*;
use crate::domain::{Payload, WebhookPayload};
use crate::store::{de, ser};

fn webhook() -> Notification {
    let mut n: Notification = serde_json::from_value(serde_json::json!({
        "account_id": "acc_1", "notification_id": "ntf_1", "event_id": "evt_1",
        "event_type": "order.completed", "channel": "webhook", "status": "queued",
        "created_at": "2026-12-06T10:00:00Z", "updated_at": "2026-12-06T10:00:00Z",
        "endpoint_id": "ep_1",
        "payload": {"kind": "webhook", "content_type": "application/json", "body": "{}"}
    }))
    .unwrap();
    n.payload = Payload::Webhook(WebhookPayload {
        content_type: "application/json".into(),
        body: r#"{"type":"order.completed","data":{"note":"a \"quoted\" é"}}"#.into(),
        ipn_type: None,
        source: None,
    });
    n
}

#[test]
fn a_webhook_body_is_stored_as_bytes_and_read_back_as_it_was() {
    let n = webhook();
    let item = notification_item(&n, None).unwrap();
    let payload = item["payload"].as_m().unwrap();
    let Payload::Webhook(sent) = &n.payload else {
        unreachable!()
    };
    assert_eq!(
        payload["body"].as_b().unwrap().as_ref(),
        sent.body.as_bytes()
    );
    let read: Notification = de(item).unwrap();
    assert_eq!(read, n);
}

#[test]
fn a_webhook_body_stored_as_a_string_still_reads() {
    let n = webhook();
    let read: Notification = de(ser(&n).unwrap()).unwrap();
    assert_eq!(read, n);
}

#[test]
fn a_fan_out_is_stored_exactly_as_each_notification_alone() {
    let first = webhook();
    let to = |id: &str, endpoint: Option<&str>| {
        let mut n = first.clone();
        n.notification_id = id.to_owned();
        n.endpoint_id = endpoint.map(str::to_owned);
        n
    };
    let same = to("ntf_2", Some("ep_2"));
    let default = to("ntf_3", None);
    let mut other_format = to("ntf_4", Some("ep_4"));
    other_format.payload = Payload::Webhook(WebhookPayload {
        content_type: "application/x-www-form-urlencoded".into(),
        body: "type=order.completed".into(),
        ipn_type: None,
        source: None,
    });
    // Not a fan-out's: another status (so another due time) and type.
    let mut unlike = to("ntf_5", Some("ep_5"));
    unlike.status = crate::domain::Status::Scheduled;
    unlike.event_type = "order.refunded".into();
    assert!(same.same_but_target(&first) && other_format.same_but_target(&first));
    assert!(!unlike.same_but_target(&first));

    let due = |n: &Notification| (n.status == crate::domain::Status::Queued).then_some(42);
    // Led by a stored endpoint, then by the default one (whose item has
    // no endpoint_id for the others to drop).
    let led_by_stored = [first, same, default, other_format, unlike];
    let mut led_by_default = led_by_stored.clone();
    led_by_default.swap(0, 2);
    for all in [led_by_stored, led_by_default] {
        let items = notification_items(&all, due).unwrap();
        assert_eq!(items.len(), all.len());
        for (n, item) in all.iter().zip(&items) {
            assert_eq!(
                item,
                &notification_item(n, due(n)).unwrap(),
                "{}",
                n.notification_id
            );
            let read: Notification = de(item.clone()).unwrap();
            assert_eq!(read.notification_id, n.notification_id);
            assert_eq!(read.payload, n.payload);
        }
    }
}
