//! The in-app feed (contract section 14): each in-app message is an item
//! of its recipient's feed, with an unread count kept exactly — an item and
//! its count in one transaction, a read and its count in another, each
//! conditional on the item being unread — and sent live to the recipient's
//! open sockets as a frame.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An item as stored (its id is its notification's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    pub account_id: String,
    pub recipient_id: String,
    pub item_id: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: std::collections::BTreeMap<String, String>,
    pub category: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

impl FeedItem {
    pub fn view(&self) -> Value {
        json!({
            "id": self.item_id,
            "title": self.title,
            "body": self.body,
            "data": self.data,
            "category": self.category,
            "created_at": self.created_at,
            "seen_at": self.seen_at,
            "read_at": self.read_at,
        })
    }
}

/// The frame a new item is sent to a socket as.
pub fn item_frame(item: &FeedItem, unread_count: i64) -> String {
    json!({"type": "feed.item", "item": item.view(), "unread_count": unread_count}).to_string()
}

/// The frame a read is sent as.
pub fn read_frame(ids: &[String], unread_count: i64) -> String {
    json!({"type": "feed.read", "ids": ids, "unread_count": unread_count}).to_string()
}
