//! Where a notification stands: its status, and which of them are final.

use serde::{Deserialize, Serialize};

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, not yet attempted.
    Queued,
    /// An attempt failed; another is scheduled at `next_attempt_at`.
    Retrying,
    /// The endpoint accepted it (2xx).
    Delivered,
    /// Given up: the schedule ran out, or the endpoint answered 410.
    Failed,
    /// A message waiting for its `send_at` (`next_attempt_at`); it becomes
    /// `queued` when deliver takes it up.
    Scheduled,
    /// A scheduled message canceled before it was sent: never sent.
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Retrying => "retrying",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Scheduled => "scheduled",
            Status::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "queued" => Some(Status::Queued),
            "retrying" => Some(Status::Retrying),
            "delivered" => Some(Status::Delivered),
            "failed" => Some(Status::Failed),
            "scheduled" => Some(Status::Scheduled),
            "canceled" => Some(Status::Canceled),
            _ => None,
        }
    }

    /// Delivered, failed and canceled notifications are never attempted
    /// again by the queue; only an explicit resend starts a new chain.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Failed | Status::Canceled)
    }
}
