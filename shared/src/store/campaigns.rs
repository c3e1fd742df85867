//! Campaigns (`account_id`, `campaign_id`): claimed by id with their first
//! answer's fingerprint, replaced whole on each change conditionally on the
//! version read, and found by the sweeper through their own due index
//! (`ByDue`) while a run is to start.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put};
use chrono::{DateTime, Utc};
use serde_dynamo::from_items;

use super::notifications::number;
use super::{Store, applied, db_err, decode_id_cursor, encode_id_cursor, s, ser};
use crate::domain::campaigns::campaign::{Campaign, CampaignStatus};
use crate::domain::delivery::outbox::{SWEEP_SHARDS, sweep_shard};
use crate::error::{Error, Result};

/// The due index's partition of a campaign.
fn campaign_shard(campaign_id: &str) -> String {
    format!("campaign#{}", sweep_shard(campaign_id))
}

impl Store {
    /// A campaign as stored: its fields, and its place in the due index
    /// while it waits for a run.
    pub(super) fn campaign_item(&self, c: &Campaign) -> Result<HashMap<String, AttributeValue>> {
        let mut item = ser(c)?;
        if let (CampaignStatus::Scheduled, Some(at)) = (c.status, c.next_run_at) {
            item.insert("sweep_shard".into(), s(&campaign_shard(&c.campaign_id)));
            item.insert("sweep_at".into(), number(at.timestamp_millis()));
        }
        Ok(item)
    }

    /// A put of `c` that holds only over the version it replaces (`c.version
    /// - 1`), or, for version 1, over no campaign at all.
    pub(super) fn campaign_put(&self, c: &Campaign) -> Result<Put> {
        let put = Put::builder()
            .table_name(&self.tables.campaigns)
            .set_item(Some(self.campaign_item(c)?));
        let put = match c.version {
            0 | 1 => put.condition_expression("attribute_not_exists(campaign_id)"),
            v => put
                .condition_expression("version = :read")
                .expression_attribute_values(":read", number(v - 1)),
        };
        put.build().map_err(db_err)
    }

    /// Stores a new campaign; false if its id is taken.
    pub async fn create_campaign(&self, c: &Campaign) -> Result<bool> {
        let put = self.campaign_put(c)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.campaigns)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        applied(result)
    }

    pub async fn get_campaign(
        &self,
        account_id: &str,
        campaign_id: &str,
    ) -> Result<Option<Campaign>> {
        self.get(
            &self.tables.campaigns,
            &[("account_id", account_id), ("campaign_id", campaign_id)],
        )
        .await
    }

    /// A page of the account's campaigns by id, after `cursor`.
    pub async fn list_campaigns(
        &self,
        account_id: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Campaign>, Option<String>)> {
        let start = cursor.map(decode_id_cursor).transpose()?.map(|last| {
            HashMap::from([
                ("account_id".to_owned(), s(account_id)),
                ("campaign_id".to_owned(), s(&last)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.campaigns)
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(db_err)?;
        let items: Vec<Campaign> = from_items(out.items.unwrap_or_default())
            .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?;
        let next = match (out.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(encode_id_cursor(&last.campaign_id)),
            _ => None,
        };
        Ok((items, next))
    }

    /// Campaigns of every account whose next run is due at `now`, at most
    /// `limit` from each shard of their due index: a key condition, no scan.
    pub async fn due_campaigns(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<Campaign>> {
        let mut due = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.tables.campaigns)
                .index_name("ByDue")
                .key_condition_expression("sweep_shard = :shard AND sweep_at <= :now")
                .expression_attribute_values(":shard", s(&format!("campaign#{shard}")))
                .expression_attribute_values(":now", number(now.timestamp_millis()))
                .limit(limit)
                .send()
                .await
                .map_err(db_err)?;
            due.extend(
                from_items::<_, Campaign>(page.items.unwrap_or_default())
                    .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?,
            );
        }
        Ok(due)
    }
}
