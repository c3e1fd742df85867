//! A staged write: a notification written before its message is on the
//! queue, marked so that a failure between the two can be undone exactly
//! (the outbox's rules are `outbox`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::delivery::status::Status;

/// A write whose message the request has not yet confirmed on the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// When it was staged; undoing is conditional on it.
    pub at: DateTime<Utc>,
    /// What a requeue changed, to put back; `None`: the notification is
    /// new, and undoing deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

/// How long the request that staged a write may still put its message on
/// the queue: it gives up queueing by then (and answers `503`). A stage
/// older than this was abandoned by its request, so the client's retry may
/// take it over (conditionally on the stage it saw) instead of waiting for
/// the sweeper's grace. Should the abandoned request's message have reached
/// the queue after all, the two copies meet deliver's lease: one send.
pub const STAGE_DEADLINE: Duration = Duration::seconds(5);

impl Staged {
    /// When the request that staged it stops trying to queue its message.
    pub fn deadline(&self) -> DateTime<Utc> {
        self.at + STAGE_DEADLINE
    }

    /// Whether its request has given up: a retry may take the stage over.
    pub fn abandoned(&self, now: DateTime<Utc>) -> bool {
        now >= self.deadline()
    }

    /// Whole seconds from `now` until it may be taken over (at least 1):
    /// the `Retry-After` of the `503` its request answers.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> u64 {
        let left = (self.deadline() - now).num_milliseconds().max(0);
        u64::try_from((left + 999) / 1000).unwrap_or(1).max(1)
    }
}

/// A notification's chain as it was before a resend started a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub status: Status,
    pub chain_start: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
