//! Receipts on the notifications they report (contract section 10). A
//! receipt is written only onto a customer message of its channel, and only
//! over an older one (`receipt_ms`), so two receipts of one message at once
//! leave the later standing whichever write lands last.

use super::notifications::{Changes, number};
use super::{Store, s};
use crate::domain::Channel;
use crate::domain::receipts::Receipt;
use crate::error::{Error, Result};

impl Store {
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
        self.update_if(
            account_id,
            notification_id,
            "attribute_exists(notification_id) AND #ch = :channel \
             AND (attribute_not_exists(receipt_ms) OR receipt_ms <= :ms)",
            c,
        )
        .await
    }
}
