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

use crate::domain::delivery::notification::{Notification, Status};
pub use crate::domain::delivery::staged::{Restore, STAGE_DEADLINE, Staged};

/// How many partitions the due index is spread over, so that a flood of
/// pending notifications does not make one hot partition.
pub const SWEEP_SHARDS: u32 = 8;

/// The default grace past a notification's due time before the sweeper
/// treats its message as lost: about the queue's visibility timeout, so a
/// record that failed and waits for SQS to hand it out again is not
/// duplicated needlessly.
pub const DEFAULT_GRACE: Duration = Duration::minutes(6);

/// How long past its `send_at` a released scheduled message may wait for
/// deliver to take it up before the sweeper releases it again (its delayed
/// message was lost): short, since a scheduled message is late after 60 s.
pub const RELEASE_GRACE: Duration = Duration::seconds(30);

/// The longest SQS can delay a message.
pub const MAX_DELAY_SECS: i64 = 900;

/// The sweeper's clocks: the grace past a due time before a message counts
/// as lost, and how long before its `send_at` a scheduled message is put on
/// the queue, delayed by SQS for the rest (at most [`MAX_DELAY_SECS`], less
/// a sweep period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub grace: Duration,
    pub lead: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            grace: DEFAULT_GRACE,
            lead: DEFAULT_LEAD,
        }
    }
}

/// The default lead: ten minutes, well inside SQS's fifteen.
pub const DEFAULT_LEAD: Duration = Duration::minutes(10);

/// Whether a message scheduled for `send_at` goes on the queue now (its
/// send is within the lead), rather than when the sweeper reaches it.
pub fn release_now(send_at: DateTime<Utc>, now: DateTime<Utc>, timing: Timing) -> bool {
    send_at - timing.lead <= now
}

/// How long SQS should delay the message of a scheduled send released at
/// `now`: whole seconds, rounded up so it never comes early, within what
/// SQS allows.
pub fn release_delay(send_at: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    let millis = (send_at - now).num_milliseconds().max(0);
    let secs = (millis + 999) / 1000;
    u32::try_from(secs.min(MAX_DELAY_SECS)).unwrap_or(0)
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
///
/// A scheduled message is looked at `lead` before its send, to be put on
/// the queue with a delay; once released (its send within the lead), just
/// after its send, in case that delayed message was lost.
pub fn sweep_at(
    status: Status,
    next_attempt_at: Option<DateTime<Utc>>,
    dead_letter_owed: bool,
    now: DateTime<Utc>,
    timing: Timing,
) -> Option<i64> {
    let due = match status {
        // A queued notification may wait for a time of its own (quiet hours).
        Status::Queued | Status::Retrying => next_attempt_at.unwrap_or(now).max(now) + timing.grace,
        Status::Scheduled => {
            let send_at = next_attempt_at.unwrap_or(now);
            match release_now(send_at, now, timing) {
                true => send_at.max(now) + RELEASE_GRACE,
                false => send_at - timing.lead,
            }
        }
        Status::Delivered | Status::Canceled => return None,
        Status::Failed if dead_letter_owed => now + timing.grace,
        Status::Failed => return None,
    };
    Some(due.timestamp_millis())
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
    /// Put a scheduled message on the queue, delayed until its send.
    Release,
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
    // A scheduled message's chain starts at its send.
    let started = n.chain_started_at.unwrap_or(n.created_at);
    if now - started > max_age {
        return SweepAction::GiveUp(format!(
            "ran out of time: no attempt completed within {} hours",
            max_age.num_hours()
        ));
    }
    match n.status {
        Status::Scheduled => SweepAction::Release,
        _ => SweepAction::Requeue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::notification::{NotificationDraft, Payload};

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
        let timing = Timing {
            grace,
            lead: Duration::minutes(10),
        };
        let next = now + Duration::hours(2);
        let ms = |t: DateTime<Utc>| Some((t + grace).timestamp_millis());
        assert_eq!(sweep_at(Status::Queued, None, false, now, timing), ms(now));
        assert_eq!(
            sweep_at(Status::Retrying, Some(next), false, now, timing),
            ms(next)
        );
        assert_eq!(sweep_at(Status::Delivered, None, false, now, timing), None);
        assert_eq!(sweep_at(Status::Canceled, None, false, now, timing), None);
        assert_eq!(sweep_at(Status::Failed, None, false, now, timing), None);
        assert_eq!(sweep_at(Status::Failed, None, true, now, timing), ms(now));
    }

    #[test]
    fn a_scheduled_message_is_released_a_lead_before_its_send_and_watched_after() {
        let now = Utc::now();
        let timing = Timing {
            grace: Duration::minutes(6),
            lead: Duration::minutes(10),
        };
        let far = now + Duration::hours(3);
        assert_eq!(
            sweep_at(Status::Scheduled, Some(far), false, now, timing),
            Some((far - timing.lead).timestamp_millis())
        );
        assert!(!release_now(far, now, timing));
        let near = now + Duration::minutes(4);
        assert!(release_now(near, now, timing));
        assert_eq!(
            sweep_at(Status::Scheduled, Some(near), false, now, timing),
            Some((near + RELEASE_GRACE).timestamp_millis())
        );
        // Found again after its send (the delayed message was lost): due
        // again a grace after now.
        let past = now - Duration::minutes(1);
        assert_eq!(
            sweep_at(Status::Scheduled, Some(past), false, now, timing),
            Some((now + RELEASE_GRACE).timestamp_millis())
        );
    }

    #[test]
    fn a_release_delay_never_comes_early_and_stays_within_sqs() {
        let now = Utc::now();
        assert_eq!(release_delay(now - Duration::seconds(5), now), 0);
        assert_eq!(release_delay(now, now), 0);
        assert_eq!(release_delay(now + Duration::milliseconds(1), now), 1);
        assert_eq!(release_delay(now + Duration::milliseconds(4001), now), 5);
        assert_eq!(release_delay(now + Duration::hours(1), now), 900);
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
        let mut n = pending(Status::Scheduled);
        n.chain_started_at = Some(now + Duration::days(30));
        assert_eq!(sweep_action(&n, now, day), SweepAction::Release);
        n.status = Status::Canceled;
        assert_eq!(sweep_action(&n, now, day), SweepAction::Nothing);
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

    #[test]
    fn a_stage_is_abandoned_at_its_deadline_and_its_retry_after_reaches_it() {
        let at = Utc::now();
        let staged = Staged { at, restore: None };
        assert!(!staged.abandoned(at));
        assert!(!staged.abandoned(at + Duration::milliseconds(4_999)));
        assert!(staged.abandoned(at + STAGE_DEADLINE));
        assert_eq!(staged.retry_after_secs(at), 5);
        assert_eq!(
            staged.retry_after_secs(at + Duration::milliseconds(3_200)),
            2
        );
        // Waiting what it says is always enough.
        for ms in [0, 1, 999, 1_000, 4_999, 5_000, 60_000] {
            let now = at + Duration::milliseconds(ms);
            let wait = i64::try_from(staged.retry_after_secs(now)).unwrap_or(i64::MAX);
            assert!(staged.abandoned(now + Duration::seconds(wait)), "{ms}");
        }
        assert_eq!(staged.retry_after_secs(at + Duration::seconds(9)), 1);
    }
}
