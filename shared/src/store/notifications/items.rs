//! A notification as stored: its fields as `serde_dynamo` writes them, a
//! webhook's body as bytes, and the partition keys of the indexes it
//! belongs to.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_dynamo::to_attribute_value;

use crate::domain::delivery::outbox;
use crate::domain::{Notification, Payload};
use crate::error::{Error, Result};
use crate::store::{index_key, s, ser};

type Item = HashMap<String, AttributeValue>;

pub(in crate::store) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(in crate::store) fn encode<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<AttributeValue> {
    to_attribute_value(value).map_err(|e| Error::Dependency(format!("cannot encode {what}: {e}")))
}

/// A partition of the due index.
pub(in crate::store) fn shard_partition(shard: u32) -> String {
    format!("sweep#{shard}")
}

/// The due index's partition for a notification.
pub(in crate::store) fn shard_key(notification_id: &str) -> String {
    shard_partition(outbox::sweep_shard(notification_id))
}

/// A notification as stored: its fields, plus the partition keys of the
/// history indexes it belongs to (`by_session` and `by_order` only when
/// it is about a payment, `by_endpoint` only for a webhook, `by_recipient`
/// only for a message to a recipient by its id, so those
/// indexes are sparse) and of the due
/// index while it is due (`sweep_at`, which replaces the notification's own).
pub(in crate::store) fn notification_item(n: &Notification, sweep_at: Option<i64>) -> Result<Item> {
    let mut item = fields(n)?;
    add_keys(&mut item, n, sweep_at);
    Ok(item)
}

/// The items of notifications stored together, each as
/// [`notification_item`] makes it, `sweep_at` by `due`. Those of an
/// event's fan-out differ only in whom they go to
/// ([`Notification::same_but_target`]): each is then the first one's
/// item, index keys and all, with its own id, endpoint, payload and the
/// keys those decide, rather than serialised and keyed again — which was
/// most of what each extra endpoint cost an event.
pub(in crate::store) fn notification_items(
    notifications: &[Notification],
    due: impl Fn(&Notification) -> Option<i64>,
) -> Result<Vec<Item>> {
    let Some(first) = notifications.first() else {
        return Ok(Vec::new());
    };
    let shared = notification_item(first, due(first))?;
    let mut items = Vec::with_capacity(notifications.len());
    for n in notifications {
        if !n.same_but_target(first) {
            items.push(notification_item(n, due(n))?);
            continue;
        }
        let mut item = shared.clone();
        set(&mut item, "notification_id", s(&n.notification_id));
        match &n.endpoint_id {
            Some(endpoint_id) => set(&mut item, "endpoint_id", s(endpoint_id)),
            None => drop(item.remove("endpoint_id")),
        }
        if n.payload != first.payload {
            set(&mut item, "payload", payload(&n.payload)?);
        }
        add_target_keys(&mut item, n, due(n));
        items.push(item);
    }
    Ok(items)
}

/// Replaces an attribute in place (its name is not allocated again) or
/// adds it.
fn set(item: &mut Item, attribute: &str, value: AttributeValue) {
    match item.get_mut(attribute) {
        Some(old) => *old = value,
        None => drop(item.insert(attribute.to_owned(), value)),
    }
}

/// The notification's own fields.
fn fields(n: &Notification) -> Result<Item> {
    let mut item = ser(n)?;
    if let Some(payload) = item.get_mut("payload") {
        binary_body(payload);
    }
    Ok(item)
}

/// A payload as stored (as in [`fields`]).
fn payload(p: &Payload) -> Result<AttributeValue> {
    let mut payload = encode("payload", p)?;
    binary_body(&mut payload);
    Ok(payload)
}

/// A webhook's body goes as a binary attribute: base64 on the wire, where
/// a string would be JSON escaped quote by quote (the largest single cost of
/// writing an event's notifications); it is stored as the same bytes, and
/// [`WebhookPayload`](crate::domain::WebhookPayload) reads it back from
/// either form.
fn binary_body(payload: &mut AttributeValue) {
    let AttributeValue::M(payload) = payload else {
        return;
    };
    if let Some(body) = payload.get_mut("body")
        && let AttributeValue::S(text) = body
    {
        *body = AttributeValue::B(Blob::new(std::mem::take(text).into_bytes()));
    }
}

/// The index keys `n` is found by, and its place in the due index.
fn add_keys(item: &mut Item, n: &Notification, sweep_at: Option<i64>) {
    let account = &n.account_id;
    let mut key = |attribute: &str, value: &str| {
        item.insert(attribute.to_owned(), s(&index_key(account, value)));
    };
    key("by_status", n.status.as_str());
    key("by_channel", n.channel.as_str());
    key("by_type", &n.event_type);
    if let Some(recipient_id) = &n.recipient_id {
        key("by_recipient", recipient_id);
    }
    if let Some(campaign_id) = &n.campaign_id {
        key("by_campaign", campaign_id);
    }
    if let Some(session_id) = &n.session_id {
        key("by_session", session_id);
    }
    // A direct message's reference is found as an order number is.
    if let Some(order_no) = n.order_no.as_ref().or(n.reference.as_ref()) {
        key("by_order", order_no);
    }
    add_target_keys(item, n, sweep_at);
}

/// The keys that follow what [`Notification::same_but_target`] leaves
/// free (its id, endpoint and payload), each set or removed, so that they
/// can be put on a copy of another notification's item.
fn add_target_keys(item: &mut Item, n: &Notification, sweep_at: Option<i64>) {
    let account = &n.account_id;
    let mut key = |attribute: &str, value: Option<&str>| match value {
        Some(value) => set(item, attribute, s(&index_key(account, value))),
        None => drop(item.remove(attribute)),
    };
    key("by_endpoint", n.endpoint());
    // The message an inbound reply answers: by channel and address.
    let address = n
        .payload
        .to()
        .map(|to| format!("{}#{to}", n.channel.as_str()));
    key("by_address", address.as_deref());
    match sweep_at {
        Some(at) => {
            set(item, "sweep_at", number(at));
            set(item, "sweep_shard", s(&shard_key(&n.notification_id)));
        }
        None => {
            item.remove("sweep_at");
            item.remove("sweep_shard");
        }
    }
}
