//! When a failed webhook is tried again.
//!
//! The default schedule follows Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, then
//! every 10 h, for a little over three days in all, each gap jittered by up to
//! ±20 % so that an endpoint coming back up is not hit by every retry at once.
//! `INC_RETRY_SCHEDULE` (comma-separated seconds) replaces it, so that tests
//! and demos run a whole schedule in seconds.
//!
//! Each gap is waited out on SQS by changing the received message's
//! visibility, which SQS caps at 12 hours; so no gap may exceed that.

use std::time::Duration;

use rand::Rng;

use crate::error::{Error, Result};

/// The longest single gap: SQS's maximum visibility timeout.
pub const MAX_GAP: Duration = Duration::from_secs(12 * 60 * 60);
/// How far a gap may be moved either way, as a fraction of it.
pub const JITTER: f64 = 0.2;

const DEFAULT_GAPS_SECS: &[u64] = &[
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    gaps: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            gaps: DEFAULT_GAPS_SECS
                .iter()
                .copied()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

impl RetrySchedule {
    /// Parses `INC_RETRY_SCHEDULE`: gaps in whole seconds, comma-separated.
    pub fn parse(spec: &str) -> Result<RetrySchedule> {
        let gaps = spec
            .split(',')
            .map(|part| {
                let secs: u64 = part.trim().parse().map_err(|_| {
                    Error::Config(format!(
                        "INC_RETRY_SCHEDULE: `{part}` is not a whole number of seconds (expected e.g. `1,1,2`)"
                    ))
                })?;
                let gap = Duration::from_secs(secs);
                if gap > MAX_GAP {
                    return Err(Error::Config(format!(
                        "INC_RETRY_SCHEDULE: {secs} s is longer than SQS's 12 h visibility limit"
                    )));
                }
                Ok(gap)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RetrySchedule { gaps })
    }

    /// How many attempts a notification gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.gaps.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// The whole schedule without jitter: the guaranteed retry horizon.
    pub fn total(&self) -> Duration {
        self.gaps.iter().sum()
    }

    /// The gap after failed attempt `attempt` (1-based), with `jitter` in
    /// [-1, 1] scaling the ±20 % band; `None` once the schedule is spent.
    pub fn gap_after(&self, attempt: u32, jitter: f64) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let gap = *self.gaps.get(index)?;
        let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
        Some(gap.mul_f64(factor).min(MAX_GAP))
    }

    /// [`gap_after`](Self::gap_after) with a random jitter.
    pub fn next_gap(&self, attempt: u32) -> Option<Duration> {
        self.gap_after(attempt, rand::rng().random_range(-1.0..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_for_at_least_three_days() {
        let s = RetrySchedule::default();
        assert!(
            s.total() >= Duration::from_secs(72 * 3600),
            "{:?}",
            s.total()
        );
        // Even with every gap jittered down as far as it goes.
        let shortest: Duration = (1..s.max_attempts())
            .filter_map(|a| s.gap_after(a, -1.0))
            .sum();
        assert!(shortest >= Duration::from_secs(60 * 3600), "{shortest:?}");
        assert!(
            s.gap_after(1, 1.0).unwrap() <= Duration::from_secs(30),
            "first retry within 30 s"
        );
        assert_eq!(s.gap_after(s.max_attempts(), 0.0), None);
        assert_eq!(s.gap_after(0, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_under_the_sqs_cap() {
        let s = RetrySchedule::default();
        for attempt in 1..s.max_attempts() {
            let base = s.gap_after(attempt, 0.0).unwrap();
            for _ in 0..50 {
                let g = s.next_gap(attempt).unwrap();
                assert!(
                    g >= base.mul_f64(0.8) && g <= base.mul_f64(1.2).min(MAX_GAP),
                    "{attempt}: {g:?}"
                );
            }
        }
    }

    #[test]
    fn parses_a_compressed_schedule() {
        let s = RetrySchedule::parse("1, 1,2").unwrap();
        assert_eq!(s.max_attempts(), 4);
        assert_eq!(s.gap_after(3, 0.0), Some(Duration::from_secs(2)));
        assert_eq!(s.gap_after(4, 0.0), None);
        assert_eq!(
            RetrySchedule::parse("0").unwrap().gap_after(1, 1.0),
            Some(Duration::ZERO)
        );
        for bad in ["", "1,,2", "-1", "1.5", "x", "43201"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
