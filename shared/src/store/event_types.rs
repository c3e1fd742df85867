//! The event-type catalog: one item per declared type (`account_id`,
//! `event_type`), its schema kept as the JSON text the merchant sent.

use super::{Store, db_err, de, s, ts};
use crate::domain::EventType;
use crate::error::Result;

impl Store {
    /// Declares (or replaces) a type in one write; a replaced type keeps
    /// its `created_at`, so concurrent declarations need no read first.
    pub async fn put_event_type(&self, declared: &EventType) -> Result<EventType> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.event_types)
            .key("account_id", s(&declared.account_id))
            .key("event_type", s(&declared.event_type))
            .expression_attribute_values(":d", s(&declared.description))
            .expression_attribute_values(":c", ts(declared.created_at))
            .expression_attribute_values(":u", ts(declared.updated_at))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let set = "SET description = :d, updated_at = :u, \
                   created_at = if_not_exists(created_at, :c)";
        request = match &declared.schema {
            Some(schema) => request
                .update_expression(format!("{set}, #schema = :s"))
                .expression_attribute_names("#schema", "schema")
                .expression_attribute_values(":s", s(schema)),
            None => request
                .update_expression(format!("{set} REMOVE #schema"))
                .expression_attribute_names("#schema", "schema"),
        };
        let out = request.send().await.map_err(db_err)?;
        de(out.attributes.unwrap_or_default())
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
