//! An endpoint's delivery statistics (contract section 8): counters kept
//! per endpoint and hour, added to by every attempt — never computed by
//! scanning the log. Latency is kept as a histogram of fixed bins, so that
//! p50 and p95 come from counters too (each reported as its bin's upper
//! bound).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

/// Upper bounds of the latency bins, in milliseconds; a last bin holds
/// everything slower.
pub const LATENCY_BOUNDS_MS: [u64; 12] =
    [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];
pub const LATENCY_BINS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The longest range one stats request may cover.
pub const MAX_RANGE: Duration = Duration::days(31);

/// The bin of an attempt that took `ms`.
pub fn latency_bin(ms: u64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// The hour an attempt at `at` is counted in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

/// What one batch adds to one endpoint's hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Notifications delivered (their 2xx attempt).
    pub delivered: u64,
    /// Notifications given up.
    pub failed: u64,
    pub attempts: u64,
    /// Attempts without a 2xx.
    pub failed_attempts: u64,
    pub latency: [u64; LATENCY_BINS],
}

impl Counts {
    /// One attempt that took `latency_ms`, answered 2xx or not.
    pub fn attempt(&mut self, latency_ms: u64, succeeded: bool) {
        self.attempts += 1;
        if !succeeded {
            self.failed_attempts += 1;
        }
        self.latency[latency_bin(latency_ms)] += 1;
    }

    pub fn add(&mut self, other: &Counts) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.attempts += other.attempts;
        self.failed_attempts += other.failed_attempts;
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency) {
            *mine += theirs;
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    /// The latency under which `p` % of the attempts fell (the upper bound
    /// of that bin; the last bound for the slowest bin); `None` without
    /// attempts.
    pub fn percentile_ms(&self, p: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(LATENCY_BOUNDS_MS[bin.min(LATENCY_BOUNDS_MS.len() - 1)]);
            }
        }
        LATENCY_BOUNDS_MS.last().copied()
    }
}

/// `GET /v1/endpoints/{id}/stats`: totals over the range and one bucket
/// per hour of it, empty hours included.
#[derive(Debug, Serialize, PartialEq)]
pub struct StatsView {
    pub totals: Totals,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Totals {
    pub delivered: u64,
    pub failed: u64,
    pub attempts: u64,
    pub failed_attempts: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Bucket {
    pub at: DateTime<Utc>,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

/// The view of the hours `since..=until` from the stored counts by hour.
pub fn view(
    hours: &BTreeMap<DateTime<Utc>, Counts>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StatsView {
    let mut all = Counts::default();
    let mut buckets = Vec::new();
    let mut at = hour_of(since);
    let empty = Counts::default();
    while at <= until {
        let counts = hours.get(&at).unwrap_or(&empty);
        all.add(counts);
        buckets.push(Bucket {
            at,
            delivered: counts.delivered,
            failed_attempts: counts.failed_attempts,
            p50_ms: counts.percentile_ms(50.0),
            p95_ms: counts.percentile_ms(95.0),
        });
        at += Duration::hours(1);
    }
    StatsView {
        totals: Totals {
            delivered: all.delivered,
            failed: all.failed,
            attempts: all.attempts,
            failed_attempts: all.failed_attempts,
        },
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_latency_falls_in_the_first_bin_that_holds_it() {
        assert_eq!(latency_bin(0), 0);
        assert_eq!(latency_bin(5), 0);
        assert_eq!(latency_bin(6), 1);
        assert_eq!(latency_bin(30000), 11);
        assert_eq!(latency_bin(30001), 12);
    }

    #[test]
    fn percentiles_come_from_the_bins() {
        let mut c = Counts::default();
        assert_eq!(c.percentile_ms(50.0), None);
        for _ in 0..90 {
            c.attempt(20, true);
        }
        for _ in 0..10 {
            c.attempt(700, false);
        }
        assert_eq!(c.percentile_ms(50.0), Some(25));
        assert_eq!(c.percentile_ms(90.0), Some(25));
        assert_eq!(c.percentile_ms(95.0), Some(1000));
        assert_eq!((c.attempts, c.failed_attempts), (100, 10));
        c.attempt(60_000, false);
        assert_eq!(c.percentile_ms(100.0), Some(30000));
    }

    #[test]
    fn the_view_has_one_bucket_per_hour_and_sums_them() {
        let t = |h: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-12-01T{h:02}:00:00Z"))
                .expect("time")
                .with_timezone(&Utc)
        };
        let mut hours = BTreeMap::new();
        let mut one = Counts::default();
        one.attempt(30, true);
        one.delivered = 1;
        hours.insert(t(2), one.clone());
        hours.insert(t(5), one);
        let v = view(
            &hours,
            t(1) + Duration::minutes(30),
            t(5) + Duration::minutes(1),
        );
        assert_eq!(v.buckets.len(), 5);
        assert_eq!(v.buckets[0].at, t(1));
        assert_eq!(v.buckets[1].delivered, 1);
        assert_eq!(v.buckets[1].p50_ms, Some(50));
        assert_eq!(v.buckets[2].p50_ms, None);
        assert_eq!((v.totals.delivered, v.totals.attempts), (2, 2));
    }
}
