//! A recipient's devices (`device_key` = `account#recipient`, `token`): one
//! query finds them all for a push; a device FCM or APNs says is gone is
//! deleted by itself; erasing the recipient deletes them.

use aws_sdk_dynamodb::types::ReturnValue;

use super::{Store, db_err, s, ser};
use crate::domain::apps::devices::{Device, MAX_DEVICES};
use crate::error::{Error, Result};

fn device_key(account_id: &str, recipient_id: &str) -> String {
    format!("{account_id}#{recipient_id}")
}

impl Store {
    /// Adds (or replaces) a device; false if the recipient already has
    /// [`MAX_DEVICES`] others.
    pub async fn put_device(&self, d: &Device) -> Result<bool> {
        let others = self.devices_of(&d.account_id, &d.recipient_id).await?;
        if others.len() >= MAX_DEVICES && !others.iter().any(|o| o.token == d.token) {
            return Ok(false);
        }
        let mut item = ser(d)?;
        item.insert(
            "device_key".into(),
            s(&device_key(&d.account_id, &d.recipient_id)),
        );
        self.client
            .put_item()
            .table_name(&self.tables.devices)
            .set_item(Some(item))
            .send()
            .await
            .map_err(db_err)?;
        Ok(true)
    }

    /// Every device of a recipient: one query by key.
    pub async fn devices_of(&self, account_id: &str, recipient_id: &str) -> Result<Vec<Device>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.tables.devices)
                .key_condition_expression("device_key = :k")
                .expression_attribute_values(":k", s(&device_key(account_id, recipient_id)))
                .consistent_read(true),
        )
        .await
    }

    /// Removes a device; false if there was none.
    pub async fn delete_device(
        &self,
        account_id: &str,
        recipient_id: &str,
        token: &str,
    ) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.devices)
            .key("device_key", s(&device_key(account_id, recipient_id)))
            .key("token", s(token))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Removes every device of a recipient (its erasure).
    pub(super) async fn delete_devices(
        &self,
        account_id: &str,
        recipient_id: &str,
    ) -> Result<bool> {
        let mut any = false;
        for d in self.devices_of(account_id, recipient_id).await? {
            any |= self
                .delete_device(account_id, recipient_id, &d.token)
                .await?;
        }
        Ok(any)
    }
}

/// A device that is not there.
pub fn not_found() -> Error {
    Error::NotFound("device")
}
