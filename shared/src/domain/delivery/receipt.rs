//! A customer message's receipt (contract section 10): what its provider
//! said after it took the message. The notification carries it; reading
//! each provider's reports is `messages::receipts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a receipt says happened to a message after the provider took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Read,
    Undelivered,
    Bounced,
    Complained,
}

/// The latest receipt of a customer message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub status: ReceiptStatus,
    pub at: DateTime<Utc>,
    /// The provider's own words (`RESULT_ERROR -5`), when it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
