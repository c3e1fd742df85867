//! Transactions (payments) as ingest keeps them, and the lookups the
//! resend routes and the timeline need.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, db_err, s};
use crate::domain::Transaction;
use crate::error::Result;

impl Store {
    pub async fn get_transaction(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> Result<Option<Transaction>> {
        self.get(
            &self.tables.transactions,
            &[("account_id", account_id), ("session_id", session_id)],
        )
        .await
    }

    /// The account's transaction with this order number; the most recently
    /// updated one if several share it.
    pub async fn find_transaction_by_order(
        &self,
        account_id: &str,
        order_no: &str,
    ) -> Result<Option<Transaction>> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.transactions)
            .index_name("ByOrderNo")
            .key_condition_expression("account_id = :a AND order_no = :o")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(":o", s(order_no))
            .send()
            .await
            .map_err(db_err)?;
        // The index holds keys only and is eventually consistent: read the
        // items themselves, and take the most recently updated.
        let mut newest: Option<Transaction> = None;
        for item in page.items.unwrap_or_default() {
            let Some(AttributeValue::S(session_id)) = item.get("session_id") else {
                continue;
            };
            if let Some(t) = self.get_transaction(account_id, session_id).await?
                && t.order_no.as_deref() == Some(order_no)
                && newest.as_ref().is_none_or(|n| t.updated_at > n.updated_at)
            {
                newest = Some(t);
            }
        }
        Ok(newest)
    }
}
