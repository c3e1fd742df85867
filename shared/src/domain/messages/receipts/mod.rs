//! Delivery receipts (contract section 10): what a provider tells INC after
//! it took a message — the customer got it, read it, or never will — and
//! the opt-outs its reports carry. A provider's 2xx keeps its meaning
//! (`delivered` = accepted); a receipt rides beside it.
//!
//! One module per provider: [`sms`] reads Genio's IPNs, [`whatsapp`] Meta's
//! signed status webhooks, [`email`] SES's event publishing.

use crate::error::Error;

pub mod email;
pub mod sms;
pub mod whatsapp;

pub use crate::domain::delivery::receipt::{Receipt, ReceiptStatus};
pub use sms::{SmsInbound, sms_inbound};
pub use whatsapp::{
    WhatsappInbound, whatsapp_messages, whatsapp_signature, whatsapp_signature_ok,
    whatsapp_statuses,
};

pub(super) fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}
