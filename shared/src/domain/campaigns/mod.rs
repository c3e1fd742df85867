//! Campaigns and surveys (contract section 13): one message to every member
//! of a list, once each per run, at a pace, with live counts and the
//! replies.
//!
//! - [`campaign`]: what `POST /v1/campaigns` says, checked, and the
//!   campaign as stored, with its status and the moves between them;
//! - [`recurrence`]: RFC 5545 rules in a time zone, the next run of each;
//! - [`run`]: one run of a campaign: its counts (kept in sharded counters
//!   and summed), when it is finished, the fan-out's pace;
//! - [`member`]: what one member gets: its message, or why not (opted
//!   out, preference off, no address), under an id fixed by the campaign,
//!   the run and the member, so that a member is sent once per run;
//! - [`replies`]: an inbound message and the campaign message it answers.

pub mod campaign;
pub mod member;
pub mod recurrence;
pub mod replies;
pub mod run;

use crate::error::Error;

/// A `400` naming `field`.
pub(crate) fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}
