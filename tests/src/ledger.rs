//! The ledger of a fault test: every notification INC accepted is delivered,
//! failed or still pending — never lost — and none was delivered twice.

use std::fmt;

use inc_shared::domain::{Notification, Status};
use inc_shared::store::Store;

use crate::{PATIENCE, TestStack};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Notifications INC answered for (ids from ingest's 202s).
    pub accepted: usize,
    pub delivered: usize,
    pub failed: usize,
    /// Queued or retrying.
    pub pending: usize,
    /// Scheduled messages not yet sent.
    pub scheduled: usize,
    /// Scheduled messages canceled (never sent).
    pub canceled: usize,
    /// Accepted ids with no record at all: lost.
    pub missing: usize,
    /// Records of the account that no 202 announced.
    pub unannounced: usize,
    /// Notifications with more than one successful attempt in one chain
    /// (a resend starts a new chain, which may succeed again).
    pub delivered_twice: usize,
    /// Attempts logged, over all notifications.
    pub attempts: usize,
}

impl Ledger {
    /// Accepted = delivered + failed + pending + scheduled + canceled,
    /// nothing missing or extra, nothing delivered twice.
    pub fn assert_balanced(&self) {
        assert_eq!(
            self.accepted,
            self.delivered + self.failed + self.pending + self.scheduled + self.canceled,
            "{self}"
        );
        assert_eq!(
            (self.missing, self.unannounced, self.delivered_twice),
            (0, 0, 0),
            "{self}"
        );
    }
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ledger: accepted={} delivered={} failed={} pending={} scheduled={} canceled={} missing={} unannounced={} delivered_twice={} attempts={}",
            self.accepted,
            self.delivered,
            self.failed,
            self.pending,
            self.scheduled,
            self.canceled,
            self.missing,
            self.unannounced,
            self.delivered_twice,
            self.attempts
        )
    }
}

impl TestStack {
    /// The stack's store, straight to its tables.
    pub fn store(&self) -> Store {
        let tables =
            inc_shared::config::Tables::from_lookup(&|k| self.stack.environment.get(k).cloned())
                .expect("tables");
        Store::new(aws_sdk_dynamodb::Client::new(&self.sdk), tables)
    }

    /// The notifications with these ids, straight from the table.
    pub async fn notifications(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> Vec<Option<Notification>> {
        let store = self.store();
        let mut out = Vec::new();
        for id in ids {
            out.push(
                store
                    .get_notification(account_id, id)
                    .await
                    .expect("read a notification"),
            );
        }
        out
    }

    /// The ledger of `accepted` (and of everything else the account has),
    /// read from the notifications table directly.
    pub async fn ledger(&self, account_id: &str, accepted: &[String]) -> Ledger {
        let mut ledger = Ledger {
            accepted: accepted.len(),
            ..Ledger::default()
        };
        for n in self.notifications(account_id, accepted).await {
            let Some(n) = n else {
                ledger.missing += 1;
                continue;
            };
            ledger.attempts += n.attempts.len();
            let chain = usize::try_from(n.chain_start).unwrap_or(0);
            let successes = n
                .attempts
                .iter()
                .skip(chain)
                .filter(|a| matches!(a.status_code, Some(200..=299)))
                .count();
            if successes > 1 {
                ledger.delivered_twice += 1;
            }
            match n.status {
                Status::Delivered => ledger.delivered += 1,
                Status::Failed => ledger.failed += 1,
                Status::Queued | Status::Retrying => ledger.pending += 1,
                Status::Scheduled => ledger.scheduled += 1,
                Status::Canceled => ledger.canceled += 1,
            }
        }
        let stored = aws_sdk_dynamodb::Client::new(&self.sdk)
            .query()
            .table_name(self.env("INC_NOTIFICATIONS_TABLE"))
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(
                ":a",
                aws_sdk_dynamodb::types::AttributeValue::S(account_id.to_owned()),
            )
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .expect("count notifications")
            .count;
        let stored = usize::try_from(stored).unwrap_or(0);
        ledger.unannounced = stored.saturating_sub(accepted.len() - ledger.missing);
        ledger
    }

    /// Waits until nothing of `accepted` is pending, then prints and checks
    /// the ledger.
    pub async fn settled_ledger(
        &self,
        scenario: &str,
        account_id: &str,
        accepted: &[String],
    ) -> Ledger {
        let deadline = std::time::Instant::now() + PATIENCE;
        let ledger = loop {
            let l = self.ledger(account_id, accepted).await;
            if l.pending + l.scheduled == 0 {
                break l;
            }
            if std::time::Instant::now() > deadline {
                for n in self
                    .notifications(account_id, accepted)
                    .await
                    .into_iter()
                    .flatten()
                {
                    if !n.status.is_final() {
                        println!(
                            "pending: {} {:?} next={:?} attempts={}",
                            n.notification_id,
                            n.status,
                            n.next_attempt_at,
                            n.attempts.len()
                        );
                    }
                }
                panic!("{scenario}: not settled after {PATIENCE:?}: {l}");
            }
            // Polling with a deadline, not synchronising by sleep.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        println!("{scenario}: {ledger}");
        ledger.assert_balanced();
        ledger
    }
}
