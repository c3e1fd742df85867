//! The common crate of INC.
//!
//! - [`domain`]: the rules, as pure code, one folder per concept (its
//!   module doc has the table and the rule between them).
//! - [`config`]: what a function reads from its environment, once, at init.
//! - [`store`], [`queue`], [`webhook`]: the adapters to DynamoDB, SQS and
//!   the merchant's HTTP endpoint, side by side: none uses another.
//! - [`providers`]: the SMS gateway, WhatsApp and SES, on the webhook's
//!   HTTP client; [`push`]: FCM and APNs; [`realtime`]: frames to the
//!   in-app feed's sockets; [`emit`]: INC's own events, claimed and queued as a
//!   merchant's are.
//! - [`tls`]: the compiled-in roots every connection trusts, and the SDK
//!   configuration built on them.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`api`]: what every HTTP function shares: the error shape,
//!   authentication, body reading.
//!
//! They are layered as [`LAYERS`] says, and `tests/layout.rs` holds them to it.

//!
//! The adapters sit behind the default feature `adapters`; without it the
//! crate is the pure domain alone, which is what the fuzz targets build.

#[cfg(feature = "adapters")]
pub mod api;
pub mod config;
#[cfg(feature = "adapters")]
pub mod destinations;
pub mod domain;
#[cfg(feature = "adapters")]
pub mod emit;
pub mod error;
pub mod jq;
pub mod metrics;
#[cfg(feature = "adapters")]
pub mod providers;
#[cfg(feature = "adapters")]
pub mod push;
#[cfg(feature = "adapters")]
pub mod queue;
#[cfg(feature = "adapters")]
pub mod realtime;
#[cfg(feature = "adapters")]
pub mod store;
#[cfg(feature = "adapters")]
pub mod telemetry;
#[cfg(feature = "adapters")]
pub mod tls;
#[cfg(feature = "adapters")]
pub mod webhook;

/// The crate's layers, lowest first: a module imports only from the
/// layers below its own, never from a part beside it in its own layer
/// (the store does not reach into the adapters that send, nor they into
/// it). `tests/layout.rs` holds the crate to it.
pub const LAYERS: &[&[&str]] = &[
    &["error"],
    &["domain"],
    &["config", "metrics", "jq"],
    &["tls", "telemetry"],
    &["store", "queue", "webhook", "destinations"],
    &["providers", "push", "realtime", "emit"],
    &["api"],
];

pub use config::Config;
pub use error::{Error, Result};
