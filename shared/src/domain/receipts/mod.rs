//! Delivery receipts (contract section 10): what a provider tells INC after
//! it took a message — the customer got it, read it, or never will — and
//! the opt-outs its reports carry. A provider's 2xx keeps its meaning
//! (`delivered` = accepted); a receipt rides beside it.
//!
//! One module per provider: [`sms`] reads Genio's IPNs, [`whatsapp`] Meta's
//! signed status webhooks, [`email`] SES's event publishing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;

pub mod email;
pub mod sms;
pub mod whatsapp;

pub use sms::{SmsInbound, sms_inbound};
pub use whatsapp::{whatsapp_signature, whatsapp_signature_ok, whatsapp_statuses};

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

pub(super) fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}
