//! The notification log: each notification, its attempts and its lease,
//! written so that the outbox rules of `domain::delivery::outbox` hold — every write
//! keeps `sweep_at` (the due index) in step with the status, and a
//! give-up owes its dead-letter copy until that is sent. A resend's staged
//! write is in `staging.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};

use super::conflicts::Refusal;
use super::{Store, applied, db_err, index_key, s, ts};
use crate::domain::campaigns::run::{Counts, Ended};
use crate::domain::delivery::outbox;
use crate::domain::{Attempt, Notification, Status};
use crate::error::{Error, Result};

pub(super) fn millis(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp_millis().to_string())
}

/// An update expression built clause by clause.
#[derive(Default)]
pub(super) struct Changes {
    set: Vec<String>,
    remove: Vec<&'static str>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Changes {
    pub(super) fn set(&mut self, clause: &str, name: &str, value: AttributeValue) -> &mut Self {
        self.set.push(clause.to_owned());
        self.values.insert(name.to_owned(), value);
        self
    }

    pub(super) fn remove(&mut self, attribute: &'static str) -> &mut Self {
        self.remove.push(attribute);
        self
    }

    pub(super) fn value(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        self.values.insert(name.to_owned(), value);
        self
    }

    /// An attribute name the expressions use (`#st`, `#at`).
    pub(super) fn name(&mut self, placeholder: &str, attribute: &str) -> &mut Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    /// The status and its index key.
    pub(super) fn status(&mut self, account_id: &str, status: Status) -> &mut Self {
        self.name("#st", "status")
            .set("#st = :status", ":status", s(status.as_str()))
            .set(
                "by_status = :by_status",
                ":by_status",
                status_key(account_id, status),
            )
    }

    /// `sweep_at` and its shard, or neither when nothing is owed.
    pub(super) fn sweep(&mut self, notification_id: &str, sweep_at: Option<i64>) -> &mut Self {
        match sweep_at {
            Some(at) => self
                .set("sweep_at = :sweep_at", ":sweep_at", number(at))
                .set(
                    "sweep_shard = :sweep_shard",
                    ":sweep_shard",
                    s(&shard_key(notification_id)),
                ),
            None => self.remove("sweep_at").remove("sweep_shard"),
        }
    }

    pub(super) fn expression(&self) -> String {
        let mut expression = String::new();
        if !self.set.is_empty() {
            expression = format!("SET {}", self.set.join(", "));
        }
        if !self.remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        expression
    }
}

impl Store {
    /// Applies `c` to one notification if `condition` holds; false when it
    /// did not.
    pub(super) async fn update_if(
        &self,
        account_id: &str,
        notification_id: &str,
        condition: &str,
        c: Changes,
    ) -> Result<bool> {
        let expression = c.expression();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .condition_expression(condition)
            .update_expression(expression)
            .set_expression_attribute_names(Some(c.names).filter(|n| !n.is_empty()))
            .set_expression_attribute_values(Some(c.values).filter(|v| !v.is_empty()))
            .send()
            .await;
        applied(result)
    }

    /// [`update_if`](Self::update_if), and for a campaign's message that
    /// this change ends (`ended`), its run's count in the same transaction:
    /// the change is then also conditional on the message not having ended
    /// already, so an end is counted once. False if a condition did not hold.
    pub(super) async fn update_counted(
        &self,
        n: &Notification,
        condition: &str,
        c: Changes,
        ended: Option<Ended>,
    ) -> Result<bool> {
        let (Some(campaign_id), Some(run), Some(ended)) = (&n.campaign_id, n.run, ended) else {
            return self
                .update_if(&n.account_id, &n.notification_id, condition, c)
                .await;
        };
        let mut c = c;
        c.name("#st", "status")
            .value(":was_queued", s(Status::Queued.as_str()))
            .value(":was_retrying", s(Status::Retrying.as_str()));
        let expression = c.expression();
        let update = Update::builder()
            .table_name(&self.tables.notifications)
            .key("account_id", s(&n.account_id))
            .key("notification_id", s(&n.notification_id))
            .condition_expression(format!(
                "({condition}) AND #st IN (:was_queued, :was_retrying)"
            ))
            .update_expression(expression)
            .set_expression_attribute_names(Some(c.names).filter(|n| !n.is_empty()))
            .set_expression_attribute_values(Some(c.values).filter(|v| !v.is_empty()))
            .build()
            .map_err(db_err)?;
        let shard = crate::domain::recipients::lists::shard_of(
            n.recipient_id.as_deref().unwrap_or(&n.notification_id),
        );
        let counter = self.counter_update(
            &n.account_id,
            campaign_id,
            run,
            shard,
            &Counts::ended(ended),
        )?;
        // Another transaction on the run's counter at the same moment is a
        // conflict, not a refusal: tried again.
        let items = vec![TransactWriteItem::builder().update(update).build(), counter];
        self.transact_retrying(items, Refusal::FirstItem, "a campaign's count")
            .await
    }

    pub async fn get_notification(
        &self,
        account_id: &str,
        notification_id: &str,
    ) -> Result<Option<Notification>> {
        self.get(
            &self.tables.notifications,
            &[
                ("account_id", account_id),
                ("notification_id", notification_id),
            ],
        )
        .await
    }

    /// When the sweeper should look at a notification in this state.
    pub(super) fn due(&self, n: &Notification, now: DateTime<Utc>) -> Option<i64> {
        outbox::sweep_at(
            n.status,
            n.next_attempt_at,
            n.dead_letter_pending.is_some(),
            now,
            self.timing,
        )
    }

    /// The write of a new notification, due for the sweeper by its status.
    pub(super) fn new_notification_put(&self, n: &Notification) -> Result<TransactWriteItem> {
        let due = self.due(n, Utc::now());
        self.new_item_put(notification_item(n, due)?)
    }

    /// The writes of new notifications stored together (an event's
    /// fan-out): as [`new_notification_put`](Self::new_notification_put)
    /// makes each, at a fraction of the CPU when they differ only in whom
    /// they go to (see [`notification_items`]).
    pub(super) fn new_notification_puts(
        &self,
        notifications: &[Notification],
    ) -> Result<Vec<TransactWriteItem>> {
        let now = Utc::now();
        notification_items(notifications, |n| self.due(n, now))?
            .into_iter()
            .map(|item| self.new_item_put(item))
            .collect()
    }

    fn new_item_put(&self, item: HashMap<String, AttributeValue>) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.tables.notifications)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(notification_id)")
            .build()
            .map_err(Error::dependency)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Stores new notifications in one transaction (a resend stages them:
    /// see [`Notification::staged`]).
    pub async fn put_notifications(&self, notifications: &[Notification]) -> Result<()> {
        if notifications.is_empty() {
            return Ok(());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(self.new_notification_puts(notifications)?))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Appends an attempt to a notification's log and sets its new status;
    /// `dead_letter_owed` marks a give-up whose dead-letter copy is still to
    /// be sent (`last_error` is its reason).
    pub async fn record_attempt(
        &self,
        n: &Notification,
        attempt: &Attempt,
        status: Status,
        next_attempt_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
        dead_letter_owed: bool,
    ) -> Result<()> {
        let now = Utc::now();
        let mut c = Changes::default();
        c.set(
            "attempts = list_append(if_not_exists(attempts, :empty), :attempt)",
            ":attempt",
            AttributeValue::L(vec![encode("attempt", attempt)?]),
        )
        .value(":empty", AttributeValue::L(Vec::new()))
        .status(&n.account_id, status)
        .set("updated_at = :now", ":now", ts(now))
        .remove("lease_until");
        match next_attempt_at {
            Some(at) => c.set("next_attempt_at = :next", ":next", ts(at)),
            None => c.remove("next_attempt_at"),
        };
        if let Some(id) = &attempt.provider_message_id {
            // The sparse index ByProviderId finds it from a receipt.
            c.set("provider_message_id = :provider_id", ":provider_id", s(id));
        }
        if let Some(hash) = &attempt.body_sha256 {
            // The sparse index ByBodyHash answers `POST /v1/ipn/verify`.
            c.set("body_sha256 = :body", ":body", s(hash));
        }
        match last_error {
            Some(err) => c.set("last_error = :err", ":err", s(err)),
            None => c.remove("last_error"),
        };
        match (dead_letter_owed, last_error) {
            (true, Some(reason)) => c.set("dead_letter_pending = :dlq", ":dlq", s(reason)),
            _ => c.remove("dead_letter_pending"),
        };
        let due = outbox::sweep_at(status, next_attempt_at, dead_letter_owed, now, self.timing);
        c.sweep(&n.notification_id, due);
        let ended = match status {
            Status::Delivered => Some(Ended::Sent),
            Status::Failed => Some(Ended::of_failure(last_error.unwrap_or_default())),
            _ => None,
        };
        self.write_existing(n, c, ended).await
    }

    /// Writes `c` to a notification that exists (a `404` if none), counted
    /// as [`update_counted`](Self::update_counted) says; a campaign message
    /// that ended already is left as it ended.
    async fn write_existing(
        &self,
        n: &Notification,
        c: Changes,
        ended: Option<Ended>,
    ) -> Result<()> {
        let written = self
            .update_counted(n, "attribute_exists(notification_id)", c, ended)
            .await?;
        match written || n.campaign_id.is_some() {
            true => Ok(()),
            false => Err(Error::NotFound("notification")),
        }
    }

    /// Takes the lease on a notification's next attempt, so that two
    /// invocations holding copies of its message cannot both send it: the
    /// condition holds only while it is pending, nobody else holds an
    /// unexpired lease, and nothing changed it since `seen` was read: no
    /// attempt logged, and no failure, resend or recovery (each writes
    /// `updated_at`) — an invocation that read it before those, and waited
    /// a moment for its due instant, must not send with what it read (the
    /// endpoint's URL may have changed meanwhile). Recording the attempt
    /// releases the lease; a crashed holder's lapses.
    /// Its message has reached deliver, so a staged mark is cleared too.
    ///
    /// A scheduled message becomes `queued` with its lease (so it can no
    /// longer be canceled), on the condition that it is still scheduled: a
    /// cancel and the send never both happen.
    pub async fn lease_attempt(
        &self,
        seen: &Notification,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool> {
        let mut c = Changes::default();
        c.name("#st", "status")
            .set("lease_until = :until", ":until", millis(now + lease))
            .remove("staged")
            .value(":seen", number(seen.attempts.len()))
            .value(":seen_updated", ts(seen.updated_at))
            .value(":now", millis(now));
        let statuses = match seen.status {
            Status::Scheduled => {
                c.status(&seen.account_id, Status::Queued)
                    .set("updated_at = :updated", ":updated", ts(now))
                    .sweep(
                        &seen.notification_id,
                        outbox::sweep_at(Status::Queued, None, false, now, self.timing),
                    )
                    .value(":scheduled", s(Status::Scheduled.as_str()));
                "#st = :scheduled"
            }
            _ => {
                c.value(":queued", s(Status::Queued.as_str()))
                    .value(":retrying", s(Status::Retrying.as_str()));
                "#st IN (:queued, :retrying)"
            }
        };
        let condition = format!(
            "{statuses} AND size(attempts) = :seen AND updated_at = :seen_updated \
             AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        );
        self.update_if(&seen.account_id, &seen.notification_id, &condition, c)
            .await
    }

    /// Gives a notification up without a new attempt (its account is
    /// gone), owing its dead-letter copy.
    pub async fn mark_failed(&self, n: &Notification, reason: &str) -> Result<()> {
        let mut c = self.failing(&n.account_id, &n.notification_id, reason);
        c.remove("lease_until");
        self.write_existing(n, c, Some(Ended::of_failure(reason)))
            .await
    }

    /// Cancels a queued campaign message whose campaign was canceled before
    /// it went: `canceled`, never sent, counted so.
    pub async fn cancel_campaign_message(&self, n: &Notification) -> Result<bool> {
        let now = Utc::now();
        let mut c = Changes::default();
        c.status(&n.account_id, Status::Canceled)
            .set("last_error = :err", ":err", s("the campaign was canceled"))
            .set("updated_at = :now", ":now", ts(now))
            .sweep(&n.notification_id, None)
            .remove("next_attempt_at")
            .remove("lease_until");
        self.update_counted(
            n,
            "attribute_exists(notification_id)",
            c,
            Some(Ended::Canceled),
        )
        .await
    }

    /// The changes that make a notification `failed` for `reason`, owing
    /// its dead-letter copy, with nothing left scheduled.
    fn failing(&self, account_id: &str, notification_id: &str, reason: &str) -> Changes {
        let now = Utc::now();
        let mut c = Changes::default();
        c.status(account_id, Status::Failed)
            .set("last_error = :err", ":err", s(reason))
            .set("dead_letter_pending = :err", ":err", s(reason))
            .set("updated_at = :now", ":now", ts(now))
            .sweep(
                notification_id,
                outbox::sweep_at(Status::Failed, None, true, now, self.timing),
            )
            .remove("next_attempt_at")
            .remove("staged");
        c
    }

    /// Fails a notification that is not final yet (an endpoint it was for
    /// is gone); false if it is final already — a delivery is never undone.
    /// It owes its dead-letter copy like any failure.
    pub async fn fail_pending(
        &self,
        account_id: &str,
        notification_id: &str,
        reason: &str,
    ) -> Result<bool> {
        let mut c = self.failing(account_id, notification_id, reason);
        // The lease is kept in milliseconds (`:now` here is the written
        // `updated_at`, a timestamp): a lapsed lease is compared as one.
        c.value(":queued", s(Status::Queued.as_str()))
            .value(":retrying", s(Status::Retrying.as_str()))
            .value(":lease_now", millis(Utc::now()));
        self.update_if(
            account_id,
            notification_id,
            "#st IN (:queued, :retrying) \
             AND (attribute_not_exists(lease_until) OR lease_until < :lease_now)",
            c,
        )
        .await
    }

    /// The dead-letter copy of a given-up notification is on its queue:
    /// nothing more is owed. (If a resend has put it back on the queue
    /// meanwhile, only the flag goes: the sweeper still watches it.)
    pub async fn dead_letter_sent(&self, n: &Notification) -> Result<()> {
        let base = || {
            self.client
                .update_item()
                .table_name(&self.tables.notifications)
                .key("account_id", s(&n.account_id))
                .key("notification_id", s(&n.notification_id))
        };
        let whole = base()
            .condition_expression("#st = :failed AND attribute_exists(dead_letter_pending)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":failed", s(Status::Failed.as_str()))
            .update_expression("REMOVE dead_letter_pending, sweep_at, sweep_shard")
            .send()
            .await;
        if applied(whole)? {
            return Ok(());
        }
        let flag = base()
            .condition_expression("attribute_exists(dead_letter_pending)")
            .update_expression("REMOVE dead_letter_pending")
            .send()
            .await;
        applied(flag).map(|_| ())
    }
}

/// The `by_status` key a status change writes with the status.
fn status_key(account_id: &str, status: Status) -> AttributeValue {
    s(&index_key(account_id, status.as_str()))
}

mod items;
#[cfg(test)]
mod tests;

pub(super) use items::{encode, number, shard_partition};
use items::{notification_item, notification_items, shard_key};
