//! A pending notification told to wait for a time of its own (quiet hours,
//! contract section 9): its `next_attempt_at` moves to that time, and its
//! place in the sweeper's due index with it, so neither deliver nor the
//! sweeper takes it up before.

use chrono::{DateTime, Utc};

use super::Store;
use super::notifications::{Changes, millis, number};
use super::{s, ts};
use crate::domain::delivery::outbox;
use crate::domain::{Notification, Status};
use crate::error::Result;

impl Store {
    /// Makes `seen` (as deliver read it) due at `until`; false, changing
    /// nothing, if it has moved on since (an attempt, a lease, an end).
    pub async fn defer(
        &self,
        seen: &Notification,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut c = Changes::default();
        c.name("#st", "status")
            .set("next_attempt_at = :next", ":next", ts(until))
            .sweep(
                &seen.notification_id,
                outbox::sweep_at(seen.status, Some(until), false, now, self.timing),
            )
            // Its message was received: it is no longer staged.
            .remove("staged")
            .value(":queued", s(Status::Queued.as_str()))
            .value(":retrying", s(Status::Retrying.as_str()))
            .value(":scheduled", s(Status::Scheduled.as_str()))
            .value(":seen", number(seen.attempts.len()))
            .value(":now", millis(now));
        self.update_if(
            &seen.account_id,
            &seen.notification_id,
            "#st IN (:queued, :retrying, :scheduled) AND size(attempts) = :seen \
             AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            c,
        )
        .await
    }
}
