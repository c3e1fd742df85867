//! Receipts on the notifications they report (contract section 10). A
//! receipt is written only onto a customer message of its channel, and only
//! over an older one (`receipt_ms`), so two receipts of one message at once
//! leave the later standing whichever write lands last.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::conflicts::Refusal;
use super::notifications::{Changes, number};
use super::{Store, db_err, s};
use crate::domain::Channel;
use crate::domain::campaigns::run::Counts;
use crate::domain::messages::receipts::{Receipt, ReceiptStatus};
use crate::error::{Error, Result};

impl Store {
    /// The notification a provider knows as `provider_message_id` (the id
    /// its send returned), through the sparse index `ByProviderId`.
    pub async fn notification_for_provider_id(
        &self,
        account_id: &str,
        provider_message_id: &str,
    ) -> Result<Option<String>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.notifications)
            .index_name("ByProviderId")
            .key_condition_expression("account_id = :a AND provider_message_id = :p")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(":p", s(provider_message_id))
            .limit(1)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out
            .items
            .unwrap_or_default()
            .first()
            .and_then(|item| item.get("notification_id"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    /// Records `receipt` on the notification `notification_id` of the
    /// account, if it is a message on `channel` and holds no later receipt;
    /// false (nothing changed) otherwise — an unknown id included.
    pub async fn record_receipt(
        &self,
        account_id: &str,
        notification_id: &str,
        channel: Channel,
        receipt: &Receipt,
    ) -> Result<bool> {
        let value = serde_dynamo::to_attribute_value(receipt)
            .map_err(|e| Error::Dependency(format!("cannot encode a receipt: {e}")))?;
        let mut c = Changes::default();
        c.name("#ch", "channel")
            .set("receipt = :receipt", ":receipt", value)
            .set(
                "receipt_ms = :ms",
                ":ms",
                number(receipt.at.timestamp_millis()),
            )
            .value(":channel", s(channel.as_str()));
        let recorded = self
            .update_if(
                account_id,
                notification_id,
                "attribute_exists(notification_id) AND #ch = :channel \
                 AND (attribute_not_exists(receipt_ms) OR receipt_ms <= :ms)",
                c,
            )
            .await?;
        if recorded
            && matches!(
                receipt.status,
                ReceiptStatus::Delivered | ReceiptStatus::Read
            )
        {
            self.count_delivered(account_id, notification_id).await?;
        }
        Ok(recorded)
    }

    /// A campaign's message reached its customer (contract 13's
    /// `delivered`): counted once, however many receipts say so, by a flag
    /// on the message written with the count in one transaction.
    async fn count_delivered(&self, account_id: &str, notification_id: &str) -> Result<()> {
        let Some(n) = self.get_notification(account_id, notification_id).await? else {
            return Ok(());
        };
        let (Some(campaign_id), Some(run)) = (&n.campaign_id, n.run) else {
            return Ok(());
        };
        let flag = Update::builder()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .condition_expression(
                "attribute_exists(notification_id) AND attribute_not_exists(delivered_counted)",
            )
            .update_expression("SET delivered_counted = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .build()
            .map_err(db_err)?;
        let shard = crate::domain::recipients::lists::shard_of(
            n.recipient_id.as_deref().unwrap_or(notification_id),
        );
        let count = self.counter_update(
            account_id,
            campaign_id,
            run,
            shard,
            &Counts {
                delivered: 1,
                ..Counts::default()
            },
        )?;
        // False: counted already.
        let items = vec![TransactWriteItem::builder().update(flag).build(), count];
        self.transact_retrying(items, Refusal::FirstItem, "a campaign's count")
            .await?;
        Ok(())
    }
}
