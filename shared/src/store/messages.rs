//! Direct messages (contract section 9): the record under each message id
//! (idempotency, as event claims are) is written with the message's
//! notification in one transaction, and a scheduled message is canceled by
//! a conditional write on that notification — so a cancel and the send
//! (deliver's lease, which makes it `queued`) never both happen.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::notifications::Changes;
use super::{Store, db_err, first_item_refused, s, ser, ts};
use crate::domain::messages::direct::MessageRecord;
use crate::domain::{Notification, Status};
use crate::error::{Error, Result};

/// What claiming a message id did.
#[derive(Debug)]
pub enum MessageClaim {
    /// The id was free: the message and its notification are stored.
    Claimed,
    /// A message with this id exists: this one.
    Taken(MessageRecord),
}

impl Store {
    /// Claims `record`'s id and stores `notification` with it, in one
    /// transaction: both or neither.
    pub async fn claim_message(
        &self,
        record: &MessageRecord,
        notifications: &[Notification],
    ) -> Result<MessageClaim> {
        let put = Put::builder()
            .table_name(&self.tables.messages)
            .set_item(Some(ser(record)?))
            .condition_expression("attribute_not_exists(message_id)")
            .build()
            .map_err(Error::dependency)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for n in notifications {
            items.push(self.new_notification_put(n)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else {
            return Ok(MessageClaim::Claimed);
        };
        if !first_item_refused(&err) {
            return Err(db_err(err));
        }
        // Two requests with one id at once: the other one's write may not
        // be readable for a moment after its conflict.
        for _ in 0..MAX_READS {
            if let Some(existing) = self
                .get_message(&record.account_id, &record.message_id)
                .await?
            {
                return Ok(MessageClaim::Taken(existing));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(Error::Dependency(
            "a message with this id is being written concurrently; retry shortly".into(),
        ))
    }

    pub async fn get_message(
        &self,
        account_id: &str,
        message_id: &str,
    ) -> Result<Option<MessageRecord>> {
        self.get(
            &self.tables.messages,
            &[("account_id", account_id), ("message_id", message_id)],
        )
        .await
    }

    /// Cancels the message whose notification is `notification_id`, if it
    /// is still scheduled; false (nothing changed) once anything else.
    pub async fn cancel_scheduled(
        &self,
        account_id: &str,
        notification_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut c = Changes::default();
        c.status(account_id, Status::Canceled)
            .set("updated_at = :now", ":now", ts(now))
            .sweep(notification_id, None)
            .value(":scheduled", s(Status::Scheduled.as_str()));
        self.update_if(account_id, notification_id, "#st = :scheduled", c)
            .await
    }
}

/// How many times a conflicting claim reads the message that won.
const MAX_READS: u32 = 10;
