//! Event claims: an event id is claimed, per account, in the same DynamoDB
//! transaction that stores the notifications it causes and the transaction
//! (payment) it changes — all or nothing. The transaction's write is
//! conditional on the version ingest read, so two events of one order at
//! once cannot overwrite each other: the loser is told, and re-reads.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, db_err, s, ser};
use crate::domain::{Notification, Transaction};
use crate::error::{Error, Result};

/// How long an event id stays claimed: far longer than any redelivery.
pub const EVENT_RETENTION: Duration = Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored; its messages not yet confirmed on the queue (the sweeper
    /// queues them if the request that stored them could not).
    Pending,
    /// Stored and queued.
    Completed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Completed => "completed",
        }
    }
}

/// What is kept of an event for idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub account_id: String,
    pub event_id: String,
    pub event_type: String,
    pub fingerprint: String,
    pub status: EventStatus,
    pub notification_ids: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub claimed_at: DateTime<Utc>,
    /// DynamoDB TTL, in epoch seconds.
    pub expires_at: i64,
}

/// The outcome of claiming an event id.
#[derive(Debug)]
pub enum Claim {
    /// The id was free; the event, its notifications and its transaction
    /// are now stored.
    Claimed,
    /// The id was taken; here is what holds it.
    Taken(EventRecord),
    /// Another event changed the transaction since it was read: read it
    /// again and retry.
    Contended,
}

impl Store {
    /// Claims an event id and stores the event's notifications (and the
    /// transaction it changes, if `version_read` still holds) with it, in
    /// one transaction: either all are stored or none.
    pub async fn claim_event(
        &self,
        record: &EventRecord,
        notifications: &[Notification],
        transaction: Option<&Transaction>,
    ) -> Result<Claim> {
        let event_put = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(ser(record)?))
            .condition_expression("attribute_not_exists(event_id)")
            .build()
            .map_err(Error::dependency)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(event_put).build());
        for put in self.new_notification_puts(notifications)? {
            request = request.transact_items(put);
        }
        if let Some(t) = transaction {
            // The version this write replaces: the one ingest read.
            let put = Put::builder()
                .table_name(&self.tables.transactions)
                .set_item(Some(ser(t)?));
            let put = match t.version.checked_sub(1).filter(|v| *v > 0) {
                Some(read) => put
                    .condition_expression("#v = :read")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":read", AttributeValue::N(read.to_string())),
                // The first write, or one over an item stored before
                // versions existed: nobody else may have written it since.
                None if t.history.len() <= 1 => {
                    put.condition_expression("attribute_not_exists(session_id)")
                }
                None => put
                    .condition_expression("attribute_not_exists(#v) AND size(history) = :before")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(
                        ":before",
                        AttributeValue::N((t.history.len() - 1).to_string()),
                    ),
            };
            request = request.transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(Error::dependency)?)
                    .build(),
            );
        }
        let Err(err) = request.send().await else {
            return Ok(Claim::Claimed);
        };
        let reasons: Vec<Option<String>> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
            _ => return Err(db_err(err)),
        };
        let failed = |code: Option<&String>| {
            code.is_some_and(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict")
        };
        if reasons.first().is_some_and(|c| failed(c.as_ref())) {
            return match self.get_event(&record.account_id, &record.event_id).await? {
                Some(existing) => Ok(Claim::Taken(existing)),
                // Taken and gone between our write and our read: contend.
                None => Ok(Claim::Contended),
            };
        }
        if transaction.is_some() && reasons.last().is_some_and(|c| failed(c.as_ref())) {
            return Ok(Claim::Contended);
        }
        Err(db_err(err))
    }

    pub async fn get_event(&self, account_id: &str, event_id: &str) -> Result<Option<EventRecord>> {
        self.get(
            &self.tables.events,
            &[("account_id", account_id), ("event_id", event_id)],
        )
        .await
    }

    /// Marks an event's messages as queued.
    pub async fn complete_event(&self, account_id: &str, event_id: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.events)
            .key("account_id", s(account_id))
            .key("event_id", s(event_id))
            .update_expression("SET #st = :done")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":done", s(EventStatus::Completed.as_str()))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
