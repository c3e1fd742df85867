//! A recipient's devices (`device_key` = `account#recipient`, `token`): one
//! query finds them all for a push; a device FCM or APNs says is gone is
//! deleted by itself; erasing the recipient deletes them.
//! How many a recipient has is counted on a row of the same partition (its
//! sort key a space, which no token holds), in the same transaction as
//! each add and removal, so concurrent adds never pass [`MAX_DEVICES`].

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};

use super::notifications::number;
use super::{Store, canceled_reason, db_err, s, ser};
use crate::domain::apps::devices::{Device, MAX_DEVICES};
use crate::error::{Error, Result};

fn device_key(account_id: &str, recipient_id: &str) -> String {
    format!("{account_id}#{recipient_id}")
}

/// The sort key of a recipient's count of devices: tokens are printable
/// characters without spaces, so it is never a token's, and it sorts
/// before every one of them (which is how [`Store::devices_of`] leaves it
/// out).
const COUNT_ROW: &str = " count";

/// How often an add or a removal is tried again after a concurrent change
/// of the same recipient's devices refused it.
const MAX_TRIES: u32 = 5;

/// What became of one try of an add.
enum Added {
    Yes,
    Full,
    /// A concurrent change came first: read again and try again.
    Raced,
}

impl Store {
    /// Adds (or renews) a device; false if the recipient already has
    /// [`MAX_DEVICES`] others. A new token is counted in the same
    /// transaction as its row, under the limit; a renewal keeps the count.
    pub async fn put_device(&self, d: &Device) -> Result<bool> {
        let key = device_key(&d.account_id, &d.recipient_id);
        let mut item = ser(d)?;
        item.insert("device_key".into(), s(&key));
        for _ in 0..MAX_TRIES {
            let others = self.devices_of(&d.account_id, &d.recipient_id).await?;
            let renewal = others.iter().any(|o| o.token == d.token);
            let added = if renewal {
                self.renew_device(&item).await?
            } else if others.len() >= MAX_DEVICES {
                Added::Full
            } else {
                // Devices stored before the count was kept are counted by
                // the first add that finds none.
                self.add_device(&key, &item, others.len()).await?
            };
            match added {
                Added::Yes => return Ok(true),
                Added::Full => return Ok(false),
                Added::Raced => continue,
            }
        }
        Err(Error::Dependency(
            "this recipient's devices are being changed concurrently; retry shortly".into(),
        ))
    }

    /// Replaces a device still there; its count is unchanged.
    async fn renew_device(
        &self,
        item: &std::collections::HashMap<String, AttributeValue>,
    ) -> Result<Added> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.devices)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_exists(#t)")
            .expression_attribute_names("#t", "token")
            .send()
            .await;
        Ok(match super::applied(result)? {
            true => Added::Yes,
            // Removed meanwhile: it is a new device again.
            false => Added::Raced,
        })
    }

    /// Stores a new device and counts it, if the count is under the limit
    /// (`listed`: the count when none is kept yet).
    async fn add_device(
        &self,
        key: &str,
        item: &std::collections::HashMap<String, AttributeValue>,
        listed: usize,
    ) -> Result<Added> {
        let count = Update::builder()
            .table_name(&self.tables.devices)
            .key("device_key", s(key))
            .key("token", s(COUNT_ROW))
            .update_expression("SET #n = if_not_exists(#n, :listed) + :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_names("#n", "devices")
            .expression_attribute_values(":listed", number(listed))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(MAX_DEVICES))
            .build()
            .map_err(Error::dependency)?;
        let put = Put::builder()
            .table_name(&self.tables.devices)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(#t)")
            .expression_attribute_names("#t", "token")
            .build()
            .map_err(Error::dependency)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(count).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        let Err(e) = result else {
            return Ok(Added::Yes);
        };
        match canceled_reason(&e).as_deref() {
            // The count is at the limit.
            Some([full, put])
                if full == "ConditionalCheckFailed" && put != "ConditionalCheckFailed" =>
            {
                Ok(Added::Full)
            }
            // The token was added meanwhile (a renewal now), or another
            // change held the count.
            Some(_) => Ok(Added::Raced),
            None => Err(db_err(e)),
        }
    }

    /// Every device of a recipient: one query by key.
    pub async fn devices_of(&self, account_id: &str, recipient_id: &str) -> Result<Vec<Device>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.tables.devices)
                // Every token sorts after the count's row.
                .key_condition_expression("device_key = :k AND #t > :count")
                .expression_attribute_names("#t", "token")
                .expression_attribute_values(":k", s(&device_key(account_id, recipient_id)))
                .expression_attribute_values(":count", s(COUNT_ROW))
                .consistent_read(true),
        )
        .await
    }

    /// Removes a device, and its count; false if there was none.
    pub async fn delete_device(
        &self,
        account_id: &str,
        recipient_id: &str,
        token: &str,
    ) -> Result<bool> {
        let key = device_key(account_id, recipient_id);
        for _ in 0..MAX_TRIES {
            let delete = Delete::builder()
                .table_name(&self.tables.devices)
                .key("device_key", s(&key))
                .key("token", s(token))
                .condition_expression("attribute_exists(#t)")
                .expression_attribute_names("#t", "token")
                .build()
                .map_err(Error::dependency)?;
            let count = Update::builder()
                .table_name(&self.tables.devices)
                .key("device_key", s(&key))
                .key("token", s(COUNT_ROW))
                .update_expression("SET #n = #n - :one")
                .condition_expression("#n > :zero")
                .expression_attribute_names("#n", "devices")
                .expression_attribute_values(":zero", number(0))
                .expression_attribute_values(":one", number(1))
                .build()
                .map_err(Error::dependency)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(TransactWriteItem::builder().update(count).build())
                .send()
                .await;
            let Err(e) = result else {
                return Ok(true);
            };
            match canceled_reason(&e).as_deref() {
                Some([gone, _]) if gone == "ConditionalCheckFailed" => return Ok(false),
                // No count kept (devices stored before it was): remove the
                // row alone.
                Some([_, uncounted]) if uncounted == "ConditionalCheckFailed" => {
                    return self.delete_uncounted(&key, token).await;
                }
                Some(_) => continue,
                None => return Err(db_err(e)),
            }
        }
        Err(Error::Dependency(
            "this recipient's devices are being changed concurrently; retry shortly".into(),
        ))
    }

    async fn delete_uncounted(&self, key: &str, token: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.devices)
            .key("device_key", s(key))
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
        self.delete_uncounted(&device_key(account_id, recipient_id), COUNT_ROW)
            .await?;
        Ok(any)
    }
}

/// A device that is not there.
pub fn not_found() -> Error {
    Error::NotFound("device")
}
