//! A WhatsApp message's SMS fallback (contract section 10): the SMS is
//! written with the link on the WhatsApp message in one transaction, on the
//! condition that it has none yet — so however many deliver copies or
//! receipts report its failure at once, there is one fallback.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::Utc;

use super::{Store, db_err, first_item_refused, s};
use crate::domain::Notification;
use crate::error::{Error, Result};

impl Store {
    /// Stores the SMS that stands in for `failed` (a WhatsApp message that
    /// failed for good) and links both; `None` if it has a fallback already
    /// or none to send. The caller queues the answer's message; if that
    /// fails, the sweeper does.
    pub async fn fall_back(&self, failed: &Notification) -> Result<Option<Notification>> {
        let Some(sms) = failed.fallback_message(Utc::now()) else {
            return Ok(None);
        };
        let link = Update::builder()
            .table_name(&self.tables.notifications)
            .key("account_id", s(&failed.account_id))
            .key("notification_id", s(&failed.notification_id))
            .update_expression("SET fallback = :sms")
            .condition_expression(
                "attribute_exists(notification_id) AND attribute_not_exists(fallback)",
            )
            .expression_attribute_values(":sms", s(&sms.notification_id))
            .build()
            .map_err(Error::dependency)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(link).build())
            .transact_items(self.new_notification_put(&sms)?)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Some(sms));
        };
        // Linked already: its one fallback exists.
        match first_item_refused(&err) {
            true => Ok(None),
            false => Err(db_err(err)),
        }
    }
}
