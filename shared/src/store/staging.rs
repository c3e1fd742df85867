//! A manual resend's staged write (the outbox rule of
//! `domain::delivery::outbox`): the notification goes back to `queued`
//! marked staged, and its request then confirms that the message is on the
//! queue, or undoes the write exactly if it cannot.

use chrono::Utc;

use super::notifications::{Changes, encode, millis, number};
use super::{Store, applied, s, ts};
use crate::domain::delivery::outbox::{self, Restore, Staged};
use crate::domain::{Notification, Status};
use crate::error::{Error, Result};

impl Store {
    /// Puts a delivered or failed notification back to `queued`, staged, for
    /// a manual resend: a new chain, its attempts kept in the log. Answers
    /// the notification as written, for [`confirm_staged`] or
    /// [`undo_staged`]; 404 if there is none, 409 while it is still queued
    /// or retrying (a second chain would send it twice) or another resend
    /// of it is being queued.
    ///
    /// [`confirm_staged`]: Store::confirm_staged
    /// [`undo_staged`]: Store::undo_staged
    pub async fn requeue_notification(
        &self,
        account_id: &str,
        notification_id: &str,
    ) -> Result<Notification> {
        let Some(current) = self.get_notification(account_id, notification_id).await? else {
            return Err(Error::NotFound("notification"));
        };
        let pending = Error::Conflict {
            code: "notification_pending",
            message:
                "this notification is still queued or retrying; it will be sent without a resend"
                    .into(),
        };
        if current.status == Status::Canceled {
            return Err(Error::Conflict {
                code: "message_canceled",
                message: "this message was canceled before it was sent; send a new one".into(),
            });
        }
        let now = Utc::now();
        // A stage whose request gave up queueing (it answered 503 and could
        // not undo) is taken over: its retry need not wait for the sweeper.
        let abandoned = current
            .staged
            .as_ref()
            .filter(|staged| current.status == Status::Queued && staged.abandoned(now));
        if abandoned.is_none() && (!current.status.is_final() || current.staged.is_some()) {
            return Err(pending);
        }
        let mut next = current.clone();
        next.status = Status::Queued;
        next.chain_start = u32::try_from(current.attempts.len()).unwrap_or(u32::MAX);
        next.chain_started_at = Some(now);
        next.next_attempt_at = None;
        next.last_error = None;
        next.staged = Some(Staged {
            at: now,
            // Taken over, it still undoes to the chain before any resend.
            restore: match abandoned {
                Some(staged) => staged.restore.clone(),
                None => Some(Restore::of(&current)),
            },
        });
        next.sweep_at = self.due(&next, now);
        let mut c = Changes::default();
        c.status(account_id, Status::Queued)
            .set("updated_at = :now", ":now", ts(now))
            .set("chain_start = :start", ":start", number(next.chain_start))
            .set("chain_started_at = :started", ":started", ts(now))
            .set(
                "staged = :staged",
                ":staged",
                encode("staged", &next.staged)?,
            )
            .sweep(notification_id, next.sweep_at)
            .remove("next_attempt_at")
            .remove("last_error")
            .remove("lease_until")
            .value(":was", s(current.status.as_str()))
            .value(":seen", number(current.attempts.len()));
        let condition = match abandoned {
            // Deliver clears the stage when it takes the lease: a stage
            // still there, unleased, was never sent.
            Some(staged) => {
                c.name("#at", "at")
                    .value(":staged_at", ts(staged.at))
                    .value(":lease_now", millis(now));
                "#st = :was AND size(attempts) = :seen AND staged.#at = :staged_at \
                 AND (attribute_not_exists(lease_until) OR lease_until < :lease_now)"
            }
            None => "#st = :was AND size(attempts) = :seen AND attribute_not_exists(staged)",
        };
        match self
            .update_if(account_id, notification_id, condition, c)
            .await?
        {
            true => Ok(next),
            false => Err(pending),
        }
    }

    /// The request that staged `n` has queued its message: nothing to undo.
    /// (Deliver clears the mark too, when it takes the lease.)
    pub async fn confirm_staged(&self, n: &Notification) -> Result<()> {
        let Some(staged) = &n.staged else {
            return Ok(());
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(&n.account_id))
            .key("notification_id", s(&n.notification_id))
            .condition_expression("staged.#at = :at")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", ts(staged.at))
            .update_expression("REMOVE staged")
            .send()
            .await;
        applied(result).map(|_| ())
    }

    /// Undoes a staged write whose message never reached the queue, if
    /// nothing has touched it since: a requeue is put back as it was (its
    /// status, chain, last error), a new notification deleted. False when
    /// it was touched (deliver has it: the message did get through).
    pub async fn undo_staged(&self, n: &Notification) -> Result<bool> {
        let Some(staged) = &n.staged else {
            return Ok(false);
        };
        let now = Utc::now();
        let condition = "staged.#at = :at AND size(attempts) = :seen \
                         AND (attribute_not_exists(lease_until) OR lease_until < :now)";
        let Some(restore) = &staged.restore else {
            let result = self
                .client
                .delete_item()
                .table_name(&self.tables.notifications)
                .key("account_id", s(&n.account_id))
                .key("notification_id", s(&n.notification_id))
                .condition_expression(condition)
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":at", ts(staged.at))
                .expression_attribute_values(":seen", number(n.attempts.len()))
                .expression_attribute_values(":now", millis(now))
                .send()
                .await;
            return applied(result);
        };
        let mut c = Changes::default();
        c.status(&n.account_id, restore.status)
            .set("updated_at = :updated", ":updated", ts(now))
            .set(
                "chain_start = :start",
                ":start",
                number(restore.chain_start),
            )
            .value(":at", ts(staged.at))
            .value(":seen", number(n.attempts.len()))
            .value(":now", millis(now))
            .name("#at", "at")
            .remove("staged");
        match restore.chain_started_at {
            Some(t) => c.set("chain_started_at = :started", ":started", ts(t)),
            None => c.remove("chain_started_at"),
        };
        match &restore.last_error {
            Some(e) => c.set("last_error = :err", ":err", s(e)),
            None => c.remove("last_error"),
        };
        let owed = n.dead_letter_pending.is_some();
        c.sweep(
            &n.notification_id,
            outbox::sweep_at(restore.status, None, owed, now, self.timing),
        );
        self.update_if(&n.account_id, &n.notification_id, condition, c)
            .await
    }
}
