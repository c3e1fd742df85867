//! The `inc` command's library: creating accounts, the local stack that
//! `make dev` and the end-to-end tests run, the dead-letter redrive, a
//! webhook listener for the tour, SES's email events played locally, and
//! recipients imported from a CSV file, and a recipient's in-app feed
//! watched live.

pub mod accounts;
pub mod api;
pub mod campaigns;
pub mod dev;
pub mod dlq;
pub mod endpoints;
pub mod error;
pub mod feed;
pub mod import;
pub mod listen;
pub mod local;
pub mod ses_event;

pub use error::{Error, Result};
