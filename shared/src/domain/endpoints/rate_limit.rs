//! An endpoint's rate limit (contract section 7's `rate_limit`, enforced
//! as section 8 and issue 4 ask): at most `limit` webhooks in any second,
//! across every concurrent deliver invocation.
//!
//! Time is cut into windows of [`WINDOW_MS`], a little longer than a
//! second; each send takes a numbered place in a window (an atomic counter
//! in DynamoDB) and goes at its own instant, the window's start plus its
//! place times `WINDOW_MS / limit`. Sends are thus spaced evenly, never
//! closer than `WINDOW_MS / limit`, so any one second holds at most `limit`
//! of them, with a quarter of a second to spare for the jitter of a busy
//! runtime and network.
//! A send that finds the next few windows full is not attempted: its
//! message waits on the queue for them to pass.

use std::time::Duration;

/// A window: one second and a quarter, the margin for jitter under load.
pub const WINDOW_MS: i64 = 1_250;
/// How many windows ahead a send looks for a place before it waits on the queue.
pub const LOOKAHEAD: i64 = 3;

/// The window `now_ms` (Unix milliseconds) falls in.
pub fn window_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(WINDOW_MS)
}

/// When the send with `place` (from 1) in `window` goes, in Unix
/// milliseconds; `None` when the place is past the limit.
pub fn send_at(window: i64, place: u64, limit: u64) -> Option<i64> {
    if place == 0 || place > limit || limit == 0 {
        return None;
    }
    let offset = (place - 1) as i64 * WINDOW_MS / limit as i64;
    Some(window * WINDOW_MS + offset)
}

/// How long to wait, from `now_ms`, for `at_ms`.
pub fn wait(now_ms: i64, at_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(at_ms - now_ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn places_past_the_limit_have_no_instant() {
        assert_eq!(send_at(10, 1, 10), Some(12_500));
        assert_eq!(send_at(10, 10, 10), Some(12_500 + 1_125));
        assert_eq!(send_at(10, 11, 10), None);
        assert_eq!(send_at(10, 0, 10), None);
    }

    proptest! {
        /// Every place of consecutive windows: any second holds at most `limit`.
        #[test]
        fn no_second_holds_more_than_the_limit(limit in 1u64..200, start in 0i64..1_000_000) {
            let mut sends: Vec<i64> = (start..start + 4)
                .flat_map(|w| (1..=limit).filter_map(move |p| send_at(w, p, limit)))
                .collect();
            sends.sort_unstable();
            for (i, first) in sends.iter().enumerate() {
                let within = sends[i..].iter().take_while(|t| **t < first + 1_000).count();
                prop_assert!(within as u64 <= limit, "{within} > {limit} from {first}");
            }
        }
    }
}
