//! The event-type catalog: one item per declared type (`account_id`,
//! `event_type`), its schema kept as the JSON text the merchant sent.

use super::{Store, db_err, s, ser};
use crate::domain::EventType;
use crate::error::Result;

impl Store {
    /// Declares (or replaces) a type; its `created_at` is kept on replace.
    pub async fn put_event_type(&self, declared: &EventType) -> Result<EventType> {
        let previous = self
            .get_event_type(&declared.account_id, &declared.event_type)
            .await?;
        let stored = EventType {
            created_at: previous.map_or(declared.created_at, |p| p.created_at),
            ..declared.clone()
        };
        self.client
            .put_item()
            .table_name(&self.tables.event_types)
            .set_item(Some(ser(&stored)?))
            .send()
            .await
            .map_err(db_err)?;
        Ok(stored)
    }

    pub async fn get_event_type(&self, account_id: &str, name: &str) -> Result<Option<EventType>> {
        self.get(
            &self.tables.event_types,
            &[("account_id", account_id), ("event_type", name)],
        )
        .await
    }

    /// Every type the account declared, by name.
    pub async fn event_types_of(&self, account_id: &str) -> Result<Vec<EventType>> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.event_types)
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id));
        self.query_all(query).await
    }

    /// Removes a declared type; false if there was none.
    pub async fn delete_event_type(&self, account_id: &str, name: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.event_types)
            .key("account_id", s(account_id))
            .key("event_type", s(name))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
