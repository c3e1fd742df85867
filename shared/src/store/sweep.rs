//! The due index (`ByDue`: `sweep_shard`, `sweep_at`) as the sweeper reads
//! it, and the sweeper's own conditional writes: each holds only if the
//! notification is as the sweeper saw it (`sweep_at` unchanged), so a
//! sweeper never races deliver or a resend into a double send.

use chrono::{DateTime, Utc};
use serde_dynamo::from_items;

use super::notifications::{Changes, number, shard_partition};
use super::{Store, db_err, s, ts};
use crate::domain::campaigns::run::Ended;
use crate::domain::delivery::outbox::{self, SWEEP_SHARDS};
use crate::domain::{Notification, Status};
use crate::error::{Error, Result};

impl Store {
    /// Notifications of every account whose `sweep_at` has passed, at most
    /// `limit` from each shard of the index: a key condition, no scan.
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Notification>> {
        let mut due = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.tables.notifications)
                .index_name("ByDue")
                .key_condition_expression("sweep_shard = :shard AND sweep_at <= :now")
                .expression_attribute_values(":shard", s(&shard_partition(shard)))
                .expression_attribute_values(":now", number(now.timestamp_millis()))
                .limit(limit)
                .send()
                .await
                .map_err(db_err)?;
            due.extend(
                from_items::<_, Notification>(page.items.unwrap_or_default())
                    .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?,
            );
        }
        Ok(due)
    }

    /// The sweeper is about to queue `n` again: moves its `sweep_at` on by
    /// the grace period, if it is still pending as seen. False if anything
    /// changed it meanwhile (the sweeper then leaves it alone).
    pub async fn claim_requeue(&self, n: &Notification, now: DateTime<Utc>) -> Result<bool> {
        let Some(seen) = n.sweep_at else {
            return Ok(false);
        };
        let mut c = Changes::default();
        c.set(
            "sweep_at = :next",
            ":next",
            number((now + self.timing.grace).timestamp_millis()),
        )
        .name("#st", "status")
        .value(":seen", number(seen))
        .value(":queued", s(Status::Queued.as_str()))
        .value(":retrying", s(Status::Retrying.as_str()));
        let condition = "sweep_at = :seen AND #st IN (:queued, :retrying)";
        self.update_if(&n.account_id, &n.notification_id, condition, c)
            .await
    }

    /// The sweeper is about to put scheduled `n` on the queue, delayed until
    /// its send: moves its `sweep_at` to just after the send (in case that
    /// message is lost), if it is still scheduled as seen. False if
    /// anything changed it meanwhile (canceled, taken up, released by
    /// another sweeper).
    pub async fn claim_release(&self, n: &Notification, now: DateTime<Utc>) -> Result<bool> {
        let Some(seen) = n.sweep_at else {
            return Ok(false);
        };
        let mut c = Changes::default();
        c.sweep(
            &n.notification_id,
            outbox::sweep_at(
                Status::Scheduled,
                n.next_attempt_at,
                false,
                now,
                self.timing,
            ),
        )
        .name("#st", "status")
        .value(":seen", number(seen))
        .value(":scheduled", s(Status::Scheduled.as_str()));
        let condition = "sweep_at = :seen AND #st = :scheduled";
        self.update_if(&n.account_id, &n.notification_id, condition, c)
            .await
    }

    /// The sweeper gives `n` up (out of time): final `failed`, owing its
    /// dead-letter copy, if it is still pending as seen and nobody holds
    /// its lease.
    pub async fn sweep_give_up(
        &self,
        n: &Notification,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(seen) = n.sweep_at else {
            return Ok(false);
        };
        let mut c = Changes::default();
        c.status(&n.account_id, Status::Failed)
            .set("last_error = :err", ":err", s(reason))
            .set("dead_letter_pending = :err", ":err", s(reason))
            .set("updated_at = :now_t", ":now_t", ts(now))
            .sweep(
                &n.notification_id,
                outbox::sweep_at(Status::Failed, None, true, now, self.timing),
            )
            .remove("next_attempt_at")
            .value(":seen", number(seen))
            .value(":queued", s(Status::Queued.as_str()))
            .value(":retrying", s(Status::Retrying.as_str()))
            .value(":scheduled", s(Status::Scheduled.as_str()))
            .value(":now", number(now.timestamp_millis()));
        let condition = "sweep_at = :seen AND #st IN (:queued, :retrying, :scheduled) \
                         AND (attribute_not_exists(lease_until) OR lease_until < :now)";
        // A campaign's message is counted failed with it.
        self.update_counted(n, condition, c, Some(Ended::Failed))
            .await
    }
}
