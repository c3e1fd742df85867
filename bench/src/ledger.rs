//! The scale rows' two shared counts: the ledger (how many of what was sent
//! arrived once, more than once, or not at all) and AWS calls per unit of
//! work, from the stub's call counts.

use std::collections::BTreeMap;
use std::fmt;

/// Of `expected` things sent, how many arrived once, more than once, or not
/// at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ledger {
    pub expected: usize,
    pub once: usize,
    pub twice: usize,
    pub lost: usize,
}

impl Ledger {
    /// Counts from how many times each thing that arrived did.
    pub fn count<N: Into<u64>>(expected: usize, arrivals: impl IntoIterator<Item = N>) -> Self {
        let (mut once, mut twice, mut seen) = (0, 0, 0);
        for n in arrivals.into_iter().map(Into::into).filter(|n| *n > 0) {
            seen += 1;
            if n == 1 {
                once += 1;
            } else {
                twice += 1;
            }
        }
        Self {
            expected,
            once,
            twice,
            lost: expected.saturating_sub(seen),
        }
    }

    /// Panics, naming `what` and the counts, unless each of the `expected`
    /// arrived once and nothing else did.
    pub fn assert_whole(self, what: &str) -> Self {
        assert!(
            self.once == self.expected && self.twice == 0 && self.lost == 0,
            "{what}'s ledger: {self} of {} sent",
            self.expected
        );
        self
    }
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} once, {} twice, {} lost",
            self.once, self.twice, self.lost
        )
    }
}

/// "TransactWriteItems 1.00, SendMessageBatch 2.00, …": each AWS operation the
/// stub answered, per unit of work.
pub fn calls_per(calls: &BTreeMap<String, usize>, units: usize) -> String {
    calls
        .iter()
        .map(|(target, n)| {
            let name = target.rsplit('.').next().unwrap_or(target);
            format!("{name} {:.2}", *n as f64 / units.max(1) as f64)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_once_twice_and_lost() {
        let l = Ledger::count(4, [1u32, 2, 1]);
        assert_eq!(
            l,
            Ledger {
                expected: 4,
                once: 2,
                twice: 1,
                lost: 1
            }
        );
        assert_eq!(l.to_string(), "2 once, 1 twice, 1 lost");
    }

    #[test]
    #[should_panic(expected = "run's ledger: 1 once, 0 twice, 1 lost of 2 sent")]
    fn a_loss_fails_the_bench() {
        Ledger::count(2, [1u32]).assert_whole("run");
    }

    #[test]
    #[should_panic(expected = "run's ledger: 3 once, 0 twice, 0 lost of 2 sent")]
    fn an_arrival_nobody_sent_fails_the_bench() {
        Ledger::count(2, [1u32, 1, 1]).assert_whole("run");
    }

    #[test]
    fn each_sent_once_is_whole() {
        Ledger::count(2, [1u32, 1]).assert_whole("run");
    }

    #[test]
    fn calls_are_named_by_operation() {
        let calls = BTreeMap::from([("AmazonSQS.SendMessageBatch".to_string(), 3)]);
        assert_eq!(calls_per(&calls, 2), "SendMessageBatch 1.50");
    }
}
