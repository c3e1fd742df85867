//! Customer messages (contract sections 9 and 10): templates, direct
//! messages (`POST /v1/messages`), opt-outs, and reading each provider's
//! delivery receipts. Quiet hours are an account setting
//! (`accounts::quiet_hours`); the WhatsApp → SMS fallback is fixed on the
//! notification and sent by deliver.

pub mod direct;
pub mod receipts;
pub mod suppression;
pub mod templates;
