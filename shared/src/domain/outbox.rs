//! The outbox: a notification is written to DynamoDB before its message is
//! put on the delivery queue, and the sweeper makes good whatever a failure
//! left between the two. These are its rules, as pure code.
//!
//! Every notification that still needs something done carries `sweep_at`,
//! the time by which that should have happened; the sparse index `ByDue`
//! finds those past it. What it needs:
//!
//! - **queued or retrying**: a message on the queue. `sweep_at` is when it
//!   is due plus a grace period (`INC_SWEEP_GRACE_SECS`); if it is still
//!   pending then, its message was lost (never sent, or redriven to the
//!   dead-letter queue after `maxReceiveCount`) and the sweeper queues it
//!   again — a duplicate message is harmless, since deliver's lease and the
//!   final status let only one send happen.
//! - **staged** (a resend whose request has not confirmed its message is on
//!   the queue): if the request failed and could not undo its write, the
//!   sweeper undoes it — restores what a requeue changed, or deletes a new
//!   notification — because that request was answered `503`, and its
//!   client's retry must be the only send.
//! - **failed with a dead-letter copy owed**: the copy is sent, then the
//!   flag cleared; the final status never hides a missing copy.
//! - **out of time**: pending longer than the whole retry schedule plus a
//!   day (deliver cannot complete an attempt): given up, with its copy.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::notification::{Notification, Status};

/// How many partitions the due index is spread over, so that a flood of
/// pending notifications does not make one hot partition.
pub const SWEEP_SHARDS: u32 = 8;

/// The default grace past a notification's due time before the sweeper
/// treats its message as lost: about the queue's visibility timeout, so a
/// record that failed and waits for SQS to hand it out again is not
/// duplicated needlessly.
pub const DEFAULT_GRACE: Duration = Duration::minutes(6);

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

impl Restore {
    pub fn of(n: &Notification) -> Restore {
        Restore {
            status: n.status,
            chain_start: n.chain_start,
            chain_started_at: n.chain_started_at,
            last_error: n.last_error.clone(),
        }
    }
}

/// When the sweeper should look at a notification in this state, in epoch
/// milliseconds; `None` when it needs nothing more.
pub fn sweep_at(
    status: Status,
    next_attempt_at: Option<DateTime<Utc>>,
    dead_letter_owed: bool,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<i64> {
    let due = match status {
        // A queued notification may wait for a time of its own (quiet hours).
        Status::Queued | Status::Retrying => next_attempt_at.unwrap_or(now).max(now),
        Status::Delivered => return None,
        Status::Failed if dead_letter_owed => now,
        Status::Failed => return None,
    };
    Some((due + grace).timestamp_millis())
}

/// Which partition of the due index a notification goes to.
pub fn sweep_shard(notification_id: &str) -> u32 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = notification_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % SWEEP_SHARDS
}

/// What the sweeper does with a notification found past its `sweep_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepAction {
    /// Nothing is owed (the index lagged behind a write).
    Nothing,
    /// Send the dead-letter copy with this reason, then clear the flag.
    DeadLetter(String),
    /// Undo a staged write its request never confirmed.
    Undo,
    /// Give up: final `failed` with this reason, and its dead-letter copy.
    GiveUp(String),
    /// Put a message on the delivery queue again.
    Requeue,
}

/// Decides what a notification past its `sweep_at` needs; `max_age` is
/// how long a chain may stay pending (the retry schedule plus a margin).
pub fn sweep_action(n: &Notification, now: DateTime<Utc>, max_age: Duration) -> SweepAction {
    if let Some(reason) = &n.dead_letter_pending {
        return SweepAction::DeadLetter(reason.clone());
    }
    if n.status.is_final() {
        return SweepAction::Nothing;
    }
    if n.staged.is_some() {
        return SweepAction::Undo;
    }
    let started = n.chain_started_at.unwrap_or(n.created_at);
    if now - started > max_age {
        return SweepAction::GiveUp(format!(
            "ran out of time: no attempt completed within {} hours",
            max_age.num_hours()
        ));
    }
    SweepAction::Requeue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notification::{NotificationDraft, Payload};

    fn pending(status: Status) -> Notification {
        let mut n = Notification::create(
            "acc",
            "evt",
            "sms.sent",
            NotificationDraft::new(Payload::Sms {
                to: "+15550000000".into(),
                text: "hi".into(),
            }),
            None,
            Utc::now() - Duration::minutes(10),
        );
        n.status = status;
        n
    }

    #[test]
    fn only_what_still_needs_something_is_due() {
        let now = Utc::now();
        let grace = Duration::seconds(60);
        let next = now + Duration::hours(2);
        let ms = |t: DateTime<Utc>| Some((t + grace).timestamp_millis());
        assert_eq!(sweep_at(Status::Queued, None, false, now, grace), ms(now));
        assert_eq!(
            sweep_at(Status::Retrying, Some(next), false, now, grace),
            ms(next)
        );
        assert_eq!(sweep_at(Status::Delivered, None, false, now, grace), None);
        assert_eq!(sweep_at(Status::Failed, None, false, now, grace), None);
        assert_eq!(sweep_at(Status::Failed, None, true, now, grace), ms(now));
    }

    #[test]
    fn the_sweeper_decides_in_this_order() {
        let now = Utc::now();
        let day = Duration::days(1);
        let mut n = pending(Status::Failed);
        assert_eq!(sweep_action(&n, now, day), SweepAction::Nothing);
        n.dead_letter_pending = Some("gave up".into());
        assert_eq!(
            sweep_action(&n, now, day),
            SweepAction::DeadLetter("gave up".into())
        );
        let mut n = pending(Status::Queued);
        assert_eq!(sweep_action(&n, now, day), SweepAction::Requeue);
        n.staged = Some(Staged {
            at: now,
            restore: None,
        });
        assert_eq!(sweep_action(&n, now, day), SweepAction::Undo);
        let mut n = pending(Status::Retrying);
        assert!(matches!(
            sweep_action(&n, now, Duration::minutes(5)),
            SweepAction::GiveUp(_)
        ));
        // A resend restarts the clock.
        n.chain_started_at = Some(now);
        assert_eq!(
            sweep_action(&n, now, Duration::minutes(5)),
            SweepAction::Requeue
        );
    }

    #[test]
    fn shards_spread_and_stay_put() {
        let shards: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| sweep_shard(&format!("ntf_{i:026}")))
            .collect();
        assert_eq!(shards.len(), SWEEP_SHARDS as usize);
        assert_eq!(sweep_shard("ntf_x"), sweep_shard("ntf_x"));
    }
}
