//! How a notification item is stored: a webhook's body as bytes, read back
//! from either form.

use super::*;
use crate::domain::{Payload, WebhookPayload};
use crate::store::de;

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
