//! The local stack: what `make dev` runs and what the end-to-end tests start.
//!
//! It reads `template.yaml` — not a second list — and on a local AWS endpoint
//! (moto in server mode) creates every table, queue and topic the template declares,
//! resolves every function's environment the way CloudFormation would, serves
//! every HTTP route of the template with the function's own axum router, and
//! feeds each SQS queue to its function with Lambda's event-source-mapping
//! semantics: batches of up to `BatchSize`, `ReportBatchItemFailures`, receive
//! counts, and the queue's own redrive to its dead-letter queue; fires each
//! `Schedule` event (the sweeper) at its rate, as EventBridge would; and
//! invokes each `SNS`-triggered function (receipts) with its topic's
//! messages, as SNS would; and serves each `WEBSOCKET` API on
//! `ws://127.0.0.1:3001` with its `@connections` endpoint, invoking its
//! function at connect, disconnect and each message, as API Gateway would.

pub mod gateway;
pub mod moto;
pub mod poller;
pub mod provision;
pub mod scheduler;
pub mod sockets;
pub mod stack;
pub mod template;
pub mod topics;

pub use moto::Moto;
pub use stack::{Stack, StackOptions, sdk_config};
pub use template::Template;
