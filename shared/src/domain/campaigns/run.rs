//! One run of a campaign: every member of its list at the time, reached
//! once. Its counts live in [`COUNTER_SHARDS`] counters, each changed
//! atomically with what it counts (a member's message claimed, sent,
//! failed, delivered, answered), and are summed when read: one counter
//! would be one DynamoDB item taking every write of a million-member run.
//!
//! The fan-out reads the list's shards side by side (one chain of pages
//! each), a page a unit of work; it is paced so that the queue holds about
//! a page per shard ahead of the run's rate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::recipients::lists::SHARDS;

/// How many counters a run's counts are spread over: one per list shard,
/// so each fan-out chain writes its own.
pub const COUNTER_SHARDS: u32 = SHARDS;
/// The most members per page of the fan-out: a transaction holds 100
/// items, two of them the campaign's check and the counter's update (the
/// page size is a setting, `INC_FANOUT_PAGE_SIZE`, up to this).
pub const PAGE: usize = 98;
const _: () = assert!(
    PAGE + 2 <= 100,
    "a page's claim is one transaction of at most 100 items"
);
/// How long a fan-out worker holds a shard's page before another may take
/// it over (it crashed).
pub const LEASE_SECS: i64 = 120;
/// The event a run emits when it starts.
pub const STARTED: &str = "campaign.started";
/// The event a run emits when it ends (sent or canceled), with its counts.
pub const FINISHED: &str = "campaign.finished";

/// A run's counts (contract section 13), plus `canceled`: members whose
/// message was not sent because the campaign was canceled first.
/// members = sent + failed + suppressed + skipped + canceled + queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(default)]
    pub members: i64,
    #[serde(default)]
    pub queued: i64,
    #[serde(default)]
    pub sent: i64,
    #[serde(default)]
    pub delivered: i64,
    #[serde(default)]
    pub failed: i64,
    #[serde(default)]
    pub suppressed: i64,
    #[serde(default)]
    pub skipped: i64,
    #[serde(default)]
    pub replied: i64,
    #[serde(default)]
    pub canceled: i64,
}

impl Counts {
    /// Each count by name, for the counter's `ADD`.
    pub fn fields(&self) -> [(&'static str, i64); 9] {
        [
            ("members", self.members),
            ("queued", self.queued),
            ("sent", self.sent),
            ("delivered", self.delivered),
            ("failed", self.failed),
            ("suppressed", self.suppressed),
            ("skipped", self.skipped),
            ("replied", self.replied),
            ("canceled", self.canceled),
        ]
    }

    pub fn add(&mut self, other: &Counts) {
        self.members += other.members;
        self.queued += other.queued;
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.suppressed += other.suppressed;
        self.skipped += other.skipped;
        self.replied += other.replied;
        self.canceled += other.canceled;
    }

    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|(_, v)| *v == 0)
    }

    /// A queued message that ended: sent, or why not (the reason deliver
    /// gave up with: an opt-out or a preference is `suppressed`).
    pub fn ended(outcome: Ended) -> Counts {
        let mut c = Counts {
            queued: -1,
            ..Counts::default()
        };
        match outcome {
            Ended::Sent => c.sent = 1,
            Ended::Failed => c.failed = 1,
            Ended::Suppressed => c.suppressed = 1,
            Ended::Canceled => c.canceled = 1,
        }
        c
    }
}

/// How a queued campaign message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Sent,
    Failed,
    Suppressed,
    Canceled,
}

impl Ended {
    /// The end a give-up with `reason` counts as.
    pub fn of_failure(reason: &str) -> Ended {
        use crate::domain::messages::suppression::SUPPRESSED;
        use crate::domain::recipients::preferences::PREFERENCE;
        match reason {
            r if r == SUPPRESSED || r == PREFERENCE => Ended::Suppressed,
            _ => Ended::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Sending,
    Paused,
    Sent,
    Canceled,
}

/// A run as stored, with its counts summed from its counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub account_id: String,
    pub campaign_id: String,
    pub run: u32,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The list's `member_count` when the run started.
    #[serde(default)]
    pub list_members: u64,
    /// How many of the list's shards the fan-out has read to the end.
    #[serde(default)]
    pub shards_done: u32,
    /// Not stored on the run: summed from its counters when read.
    #[serde(default, skip_serializing)]
    pub counts: Counts,
}

impl Run {
    /// Every member reached and every message ended.
    pub fn is_finished(&self) -> bool {
        self.shards_done >= COUNTER_SHARDS && self.counts.queued <= 0
    }

    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "run": self.run,
            "status": self.status,
            "counts": self.counts,
            "list_members": self.list_members,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        })
    }
}

/// A shard's place in the fan-out: the last member reached, or done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    pub shard: u32,
    /// The last recipient id of the last page handled; none before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default)]
    pub done: bool,
}

/// The fan-out message: one page of one shard of one run, from `cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanoutMessage {
    pub account_id: String,
    pub campaign_id: String,
    pub run: u32,
    /// When the run started (Unix milliseconds): the time its messages'
    /// fixed ids carry.
    pub started: i64,
    pub shard: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// How long the next page of a shard waits so that the run keeps about
/// `rate` messages a second across its shards: a page of `page_len`
/// members takes `page_len / rate` seconds of the run, and the shards go
/// side by side. Whole seconds, at most SQS's 900; none without a rate.
pub fn page_delay(page_len: usize, rate: Option<u32>) -> u32 {
    let Some(rate) = rate.filter(|r| *r > 0) else {
        return 0;
    };
    let seconds = (page_len as u64 * u64::from(COUNTER_SHARDS)).div_ceil(u64::from(rate));
    u32::try_from(seconds.min(900)).unwrap_or(900)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_and_an_ended_message_leaves_the_queue() {
        let mut c = Counts {
            members: 3,
            queued: 3,
            ..Counts::default()
        };
        c.add(&Counts::ended(Ended::Sent));
        c.add(&Counts::ended(Ended::of_failure("suppressed")));
        c.add(&Counts::ended(Ended::of_failure("gateway answered 400")));
        assert_eq!((c.queued, c.sent, c.suppressed, c.failed), (0, 1, 1, 1));
        assert_eq!(
            c.members,
            c.sent + c.failed + c.suppressed + c.skipped + c.canceled + c.queued
        );
    }

    #[test]
    fn the_pace_spreads_a_rate_over_the_shards() {
        assert_eq!(page_delay(PAGE, None), 0);
        assert_eq!(page_delay(PAGE, Some(100)), 16, "98 × 16 shards at 100/s");
        assert_eq!(page_delay(PAGE, Some(10_000)), 1);
        assert_eq!(page_delay(PAGE, Some(1)), 900, "SQS's most");
        assert_eq!(page_delay(0, Some(10)), 0);
    }

    #[test]
    fn a_run_is_finished_when_every_shard_is_read_and_nothing_is_queued() {
        let mut run = Run {
            account_id: "a".into(),
            campaign_id: "c".into(),
            run: 1,
            status: RunStatus::Sending,
            started_at: Utc::now(),
            finished_at: None,
            list_members: 10,
            shards_done: COUNTER_SHARDS - 1,
            counts: Counts::default(),
        };
        assert!(!run.is_finished());
        run.shards_done = COUNTER_SHARDS;
        run.counts.queued = 1;
        assert!(!run.is_finished());
        run.counts.queued = 0;
        assert!(run.is_finished());
    }
}
