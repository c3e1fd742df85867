//! When a failed notification is tried again, and how the wait is built on SQS.
//!
//! # The schedule
//! The default follows Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, then every
//! 10 h, for a little over three days in all, each gap jittered by up to
//! ±20 % so that an endpoint coming back up is not hit by every retry at once.
//! `INC_RETRY_SCHEDULE` (comma-separated seconds) replaces it, so that tests
//! and demos run a whole schedule in seconds. On top of the gap:
//! - a timeout or a `429` waits at least the *slow floor*
//!   (`INC_RETRY_FLOOR_SECS`, 30 s by default): an endpoint that is slow or
//!   throttling is not helped by an immediate retry;
//! - a `Retry-After` is honoured when it asks for longer than the gap, up to
//!   [`MAX_RETRY_AFTER`], so one endpoint cannot park a message for ever;
//! - a webhook's `410 Gone` (or a provider's permanent refusal) stops, and a
//!   3xx is a failure like any other (redirects are never followed).
//!
//! # Waiting on SQS
//! SQS can delay a *new* message by at most 15 minutes and hide a *received*
//! one by at most 12 hours, while the schedule has gaps of 10 h ± 20 % and
//! accepts longer ones. INC waits this way:
//! 1. The due time of the next attempt is written to the notification in
//!    DynamoDB (`next_attempt_at`) together with the failed attempt. That
//!    record, not the message, is the truth.
//! 2. The message that carried the attempt is hidden for the gap, capped at
//!    12 h ([`MAX_HIDE`]) with `ChangeMessageVisibility`, and reported as a
//!    batch-item failure so SQS keeps it. No new message is sent, so there
//!    is never a window in which the attempt is recorded but no message
//!    exists to carry the next one.
//! 3. When a message comes back before `next_attempt_at` (a gap longer than
//!    12 h, or a duplicate copy SQS handed out), deliver does not send: it
//!    hides the message again for what remains ([`wait_on_sqs`]). Long gaps
//!    are chained from 12-hour waits this way.
//!
//! Every receive counts towards the queue's `maxReceiveCount`, so
//! [`RetrySchedule::receives_needed`] tells how many a whole chain takes and
//! the configuration refuses a `maxReceiveCount` below it. The message's
//! retention (14 days) bounds the whole chain: [`MAX_HORIZON`].

use std::time::Duration;

use rand::Rng;

use crate::domain::delivery::notification::Attempt;
use crate::domain::delivery::outcome::AttemptOutcome;
use crate::error::{Error, Result};

/// The longest INC hides a received message: SQS allows 12 hours from the
/// receive in all, so two minutes are left for the attempt itself.
pub const MAX_HIDE: Duration = Duration::from_secs(12 * 60 * 60 - 120);
/// The longest a `Retry-After` may make INC wait.
pub const MAX_RETRY_AFTER: Duration = MAX_HIDE;
/// The longest a whole chain may take: SQS keeps a message 14 days at most;
/// one day is left for outages of INC itself.
pub const MAX_HORIZON: Duration = Duration::from_secs(13 * 24 * 60 * 60);
/// How far a gap may be moved either way, as a fraction of it.
pub const JITTER: f64 = 0.2;
/// The default slow floor.
pub const DEFAULT_FLOOR: Duration = Duration::from_secs(30);

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
    /// The least a timeout or a 429 waits.
    floor: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            gaps: DEFAULT_GAPS_SECS
                .iter()
                .copied()
                .map(Duration::from_secs)
                .collect(),
            floor: DEFAULT_FLOOR,
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
                Ok(Duration::from_secs(secs))
            })
            .collect::<Result<Vec<_>>>()?;
        let schedule = RetrySchedule {
            gaps,
            floor: DEFAULT_FLOOR,
        };
        let longest = schedule
            .gaps
            .iter()
            .map(|g| g.mul_f64(1.0 + JITTER))
            .sum::<Duration>();
        if longest > MAX_HORIZON {
            return Err(Error::Config(format!(
                "INC_RETRY_SCHEDULE: with jitter it can take {} h, more than the {} h an SQS message is kept",
                longest.as_secs() / 3600,
                MAX_HORIZON.as_secs() / 3600
            )));
        }
        Ok(schedule)
    }

    /// The same schedule with another slow floor (`INC_RETRY_FLOOR_SECS`).
    pub fn with_floor(mut self, floor: Duration) -> RetrySchedule {
        self.floor = floor.min(MAX_HIDE);
        self
    }

    /// How many attempts a notification gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.gaps.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// The whole schedule without jitter: the guaranteed retry horizon.
    pub fn total(&self) -> Duration {
        self.gaps.iter().sum()
    }

    /// How many times SQS hands out a message whose every attempt fails
    /// with the longest waits: one receive per attempt, plus the wake-ups
    /// that chain waits longer than [`MAX_HIDE`].
    pub fn receives_needed(&self) -> u32 {
        let chained: u32 = self
            .gaps
            .iter()
            .map(|g| {
                let longest = jittered(*g, 1.0).max(self.floor).max(MAX_RETRY_AFTER);
                let hides = longest.as_secs().div_ceil(MAX_HIDE.as_secs()).max(1);
                u32::try_from(hides - 1).unwrap_or(u32::MAX / 2)
            })
            .sum();
        self.max_attempts().saturating_add(chained)
    }

    /// The gap after failed attempt `attempt` (1-based), with `jitter` in
    /// [-1, 1] scaling the ±20 % band; `None` once the schedule is spent.
    pub fn gap_after(&self, attempt: u32, jitter: f64) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        Some(jittered(*self.gaps.get(index)?, jitter))
    }

    /// How long to wait after attempt `attempt` of the current chain
    /// (1-based) ended with `outcome`, or `None` to give up; `jitter` in
    /// [-1, 1]. Pure, so the table of cases is tested without a clock.
    pub fn delay(
        &self,
        attempt: u32,
        outcome: AttemptOutcome,
        result: &Attempt,
        jitter: f64,
    ) -> Option<Duration> {
        if outcome != AttemptOutcome::Retry {
            return None;
        }
        let mut delay = self.gap_after(attempt, jitter)?;
        if result.timed_out || result.status_code == Some(429) {
            delay = delay.max(self.floor);
        }
        if let Some(secs) = result.retry_after_secs {
            delay = delay.max(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
        }
        Some(delay)
    }

    /// [`delay`](Self::delay) with a random jitter.
    pub fn next_delay(
        &self,
        attempt: u32,
        outcome: AttemptOutcome,
        result: &Attempt,
    ) -> Option<Duration> {
        self.delay(
            attempt,
            outcome,
            result,
            rand::rng().random_range(-1.0..=1.0),
        )
    }
}

/// `gap` moved by `jitter` ∈ [-1, 1] times the ±20 % band. Jitter does not
/// turn a gap that fits one SQS wait into two.
fn jittered(gap: Duration, jitter: f64) -> Duration {
    let moved = gap.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
    match gap <= MAX_HIDE {
        true => moved.min(MAX_HIDE),
        false => moved,
    }
}

/// How long a received message must stay hidden for its notification to be
/// due after `remaining`: at most SQS's limit, so longer waits take several.
pub fn wait_on_sqs(remaining: Duration) -> Duration {
    remaining.min(MAX_HIDE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn answered(code: Option<u16>) -> Attempt {
        Attempt {
            status_code: code,
            latency_ms: 1,
            ..Attempt::begin(1, Utc::now(), "")
        }
    }

    const H: u64 = 3600;

    #[test]
    fn the_default_schedule_retries_for_at_least_three_days() {
        let s = RetrySchedule::default();
        assert!(s.total() >= Duration::from_secs(72 * H), "{:?}", s.total());
        // Even with every gap jittered down as far as it goes.
        let shortest: Duration = (1..s.max_attempts())
            .filter_map(|a| s.gap_after(a, -1.0))
            .sum();
        assert!(shortest >= Duration::from_secs(60 * H), "{shortest:?}");
        assert!(
            s.gap_after(1, 1.0).unwrap() <= Duration::from_secs(30),
            "first retry within 30 s"
        );
        assert_eq!(s.gap_after(s.max_attempts(), 0.0), None);
        assert_eq!(s.gap_after(0, 0.0), None);
        assert_eq!(s.max_attempts(), 13);
        // Every gap fits one SQS wait, so a chain takes one receive per attempt.
        assert_eq!(s.receives_needed(), 13);
    }

    #[test]
    fn the_full_schedule_with_its_jitter_bounds() {
        let s = RetrySchedule::default();
        let failed = answered(Some(503));
        let mut low = Duration::ZERO;
        let mut high = Duration::ZERO;
        let mut table = String::from("attempt  gap(-20%)  gap(0)  gap(+20%)  cumulative(0)\n");
        let mut cumulative = Duration::ZERO;
        for attempt in 1..s.max_attempts() {
            let [a, b, c] = [-1.0, 0.0, 1.0]
                .map(|j| s.delay(attempt, AttemptOutcome::Retry, &failed, j).unwrap());
            assert!(a <= b && b <= c);
            assert_eq!(a, b.mul_f64(0.8));
            assert_eq!(c, b.mul_f64(1.2).min(MAX_HIDE));
            for _ in 0..50 {
                let random = s
                    .next_delay(attempt, AttemptOutcome::Retry, &failed)
                    .unwrap();
                assert!(random >= a && random <= c, "{attempt}: {random:?}");
            }
            low += a;
            high += c;
            cumulative += b;
            table.push_str(&format!(
                "{attempt:>7}  {:>9}  {:>6}  {:>9}  {:>12}\n",
                a.as_secs(),
                b.as_secs(),
                c.as_secs(),
                cumulative.as_secs()
            ));
        }
        println!("{table}");
        assert_eq!(
            s.delay(13, AttemptOutcome::Retry, &failed, 0.0),
            None,
            "13 attempts in all"
        );
        assert!(low >= Duration::from_secs(60 * H) && high <= Duration::from_secs(96 * H));
    }

    #[test]
    fn what_each_answer_does_to_the_next_wait() {
        let s = RetrySchedule::parse("1,1,2")
            .unwrap()
            .with_floor(Duration::from_secs(30));
        let secs = Duration::from_secs;
        let with = |f: fn(&mut Attempt)| {
            let mut a = answered(None);
            f(&mut a);
            a
        };
        let cases: Vec<(&str, AttemptOutcome, Attempt, Option<Duration>)> = vec![
            (
                "5xx follows the schedule",
                AttemptOutcome::Retry,
                answered(Some(500)),
                Some(secs(1)),
            ),
            (
                "3xx is a failure",
                AttemptOutcome::Retry,
                answered(Some(302)),
                Some(secs(1)),
            ),
            (
                "connection refused",
                AttemptOutcome::Retry,
                answered(None),
                Some(secs(1)),
            ),
            (
                "2xx is done",
                AttemptOutcome::Delivered,
                answered(Some(204)),
                None,
            ),
            ("410 stops", AttemptOutcome::Stop, answered(Some(410)), None),
            (
                "429 waits the floor",
                AttemptOutcome::Retry,
                answered(Some(429)),
                Some(secs(30)),
            ),
            (
                "a timeout waits the floor",
                AttemptOutcome::Retry,
                with(|a| a.timed_out = true),
                Some(secs(30)),
            ),
            (
                "Retry-After longer than the gap",
                AttemptOutcome::Retry,
                with(|a| a.retry_after_secs = Some(90)),
                Some(secs(90)),
            ),
            (
                "Retry-After shorter than the gap",
                AttemptOutcome::Retry,
                with(|a| a.retry_after_secs = Some(0)),
                Some(secs(1)),
            ),
            (
                "Retry-After is capped",
                AttemptOutcome::Retry,
                with(|a| a.retry_after_secs = Some(30 * 24 * H)),
                Some(MAX_RETRY_AFTER),
            ),
        ];
        for (what, outcome, attempt, expected) in cases {
            assert_eq!(s.delay(1, outcome, &attempt, 0.0), expected, "{what}");
        }
        // The schedule ends, whatever the endpoint asks.
        assert_eq!(
            s.delay(
                4,
                AttemptOutcome::Retry,
                &with(|a| a.retry_after_secs = Some(5)),
                0.0
            ),
            None
        );
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
        for bad in ["", "1,,2", "-1", "1.5", "x", "1000000000"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        // Gaps longer than SQS's 12 h are fine: they are chained.
        let long = RetrySchedule::parse("86400,86400,86400").unwrap();
        // 24 h + 20 % is three 12 h waits: two wake-ups each.
        assert_eq!(long.receives_needed(), 4 + 3 * 2);
    }

    /// A simulated SQS with a virtual clock: the message is hidden at most
    /// 12 h at a time, deliver re-hides it while the notification is not yet
    /// due, and sends when it is. Runs a schedule with day-long gaps (and the
    /// default one) and checks every attempt happens at its due time, no wait
    /// breaks SQS's limits, and the receives fit the count it promised.
    #[test]
    fn long_gaps_are_chained_from_sqs_waits_on_a_virtual_clock() {
        for schedule in [
            RetrySchedule::parse("5,86400,259200").unwrap(),
            RetrySchedule::default(),
        ] {
            let failed = answered(Some(503));
            let mut clock = Duration::ZERO;
            let mut due = Duration::ZERO;
            let mut attempts = Vec::new();
            let mut receives = 0;
            loop {
                receives += 1; // SQS hands the message out at `clock`.
                if due > clock {
                    let hide = wait_on_sqs(due - clock);
                    assert!(hide <= MAX_HIDE);
                    clock += hide;
                    continue;
                }
                attempts.push(clock);
                let number = u32::try_from(attempts.len()).unwrap();
                match schedule.next_delay(number, AttemptOutcome::Retry, &failed) {
                    Some(delay) => {
                        due = clock + delay;
                        clock += wait_on_sqs(delay);
                    }
                    None => break,
                }
            }
            assert_eq!(attempts.len() as u32, schedule.max_attempts());
            for (i, pair) in attempts.windows(2).enumerate() {
                let gap = pair[1] - pair[0];
                let base = schedule
                    .gap_after(u32::try_from(i).unwrap() + 1, 0.0)
                    .unwrap();
                assert!(
                    gap >= base.mul_f64(0.8) && gap <= base.mul_f64(1.2),
                    "{i}: {gap:?}"
                );
            }
            assert!(receives <= schedule.receives_needed(), "{receives}");
            assert!(clock >= schedule.total().mul_f64(0.8) && clock <= MAX_HORIZON);
        }
    }
}
