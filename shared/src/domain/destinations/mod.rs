//! Destinations (contract section 15): where an endpoint's webhooks land —
//! an HTTP URL, an SQS queue, an SNS topic or an EventBridge bus — each
//! target checked at save ([`target`]), and the jq transformation that
//! reshapes a webhook before it goes ([`transformation`]: its size and what
//! its output may be; the runner is `crate::jq`).

pub mod target;
pub mod transformation;

pub use target::Destination;
