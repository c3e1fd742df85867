//! The common crate of INC.
//!
//! - [`domain`]: the rules, as pure code — events and their validation,
//!   settings, which notifications an event causes, Genio's IPN encoding,
//!   the retry schedule, webhook signing.
//! - [`config`]: what a function reads from its environment, once, at init.
//! - [`store`], [`queue`], [`webhook`]: the adapters to DynamoDB, SQS and
//!   the merchant's HTTP endpoint.
//! - [`tls`]: the compiled-in roots every connection trusts, and the SDK
//!   configuration built on them.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`fallback`]: a failed WhatsApp message sent again by SMS.
//! - [`api`]: what every HTTP function shares: the error shape,
//!   authentication, body reading.

//!
//! The adapters sit behind the default feature `adapters`; without it the
//! crate is the pure domain alone, which is what the fuzz targets build.

#[cfg(feature = "adapters")]
pub mod api;
pub mod config;
pub mod domain;
pub mod error;
#[cfg(feature = "adapters")]
pub mod fallback;
pub mod metrics;
#[cfg(feature = "adapters")]
pub mod providers;
#[cfg(feature = "adapters")]
pub mod queue;
#[cfg(feature = "adapters")]
pub mod store;
#[cfg(feature = "adapters")]
pub mod telemetry;
#[cfg(feature = "adapters")]
pub mod tls;
#[cfg(feature = "adapters")]
pub mod webhook;

pub use config::Config;
pub use error::{Error, Result};
