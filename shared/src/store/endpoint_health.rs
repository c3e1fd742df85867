//! An endpoint's health on its item: when its failure streak began, whether
//! the merchant was told, and its disabling (contract section 8). Each
//! change is one UpdateItem conditional on the streak the caller saw, so of
//! concurrent deliver invocations exactly one makes each transition — and
//! sends its alert. Each bumps the endpoint's version, so a concurrent
//! `PATCH` (conditional on the version it read) re-reads rather than erase it.
//!
//! The alert a transition causes is written with it, in one transaction:
//! a transition is never made without its alert stored (and, being a
//! queued notification, due for the sweeper should its message be lost).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::endpoints::condition_failed;
use super::{Store, applied, db_err, s, ts};
use crate::domain::Notification;
use crate::error::{Error, Result};

impl Store {
    /// Starts a failure streak at `at`, if none is running.
    pub async fn endpoint_failing(
        &self,
        account_id: &str,
        endpoint_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.health_update(
            (account_id, endpoint_id, &[]),
            "SET failing_since = :at ADD version :one",
            "attribute_exists(endpoint_id) AND attribute_not_exists(failing_since)",
            &[(":at", ts(at))],
        )
        .await
    }

    /// Notes that `endpoint.failing` is sent (`alerts`) for the streak begun at `since`.
    pub async fn endpoint_failing_alerted(
        &self,
        account_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        alerts: &[Notification],
    ) -> Result<bool> {
        self.health_update(
            (account_id, endpoint_id, alerts),
            "SET failing_alerted = :yes ADD version :one",
            "failing_since = :since AND attribute_not_exists(failing_alerted)",
            &[(":since", ts(since)), (":yes", AttributeValue::Bool(true))],
        )
        .await
    }

    /// Ends the streak begun at `since`: a 2xx came; `alerts` say so.
    pub async fn endpoint_recovered(
        &self,
        account_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        alerts: &[Notification],
    ) -> Result<bool> {
        self.health_update(
            (account_id, endpoint_id, alerts),
            "REMOVE failing_since, failing_alerted ADD version :one",
            "failing_since = :since",
            &[(":since", ts(since))],
        )
        .await
    }

    /// Disables an enabled endpoint whose streak begun at `since` lasted too long.
    pub async fn disable_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        reason: &str,
        alerts: &[Notification],
    ) -> Result<bool> {
        self.health_update(
            (account_id, endpoint_id, alerts),
            "SET enabled = :no, disabled_reason = :why, updated_at = :now ADD version :one",
            "failing_since = :since AND enabled = :yes",
            &[
                (":since", ts(since)),
                (":why", s(reason)),
                (":now", ts(Utc::now())),
                (":no", AttributeValue::Bool(false)),
                (":yes", AttributeValue::Bool(true)),
            ],
        )
        .await
    }

    /// Applies `update` to the endpoint if `condition` holds, with the
    /// alert notifications in the same transaction; false when it did not.
    async fn health_update(
        &self,
        (account_id, endpoint_id, alerts): (&str, &str, &[Notification]),
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut all: std::collections::HashMap<String, AttributeValue> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        all.insert(":one".into(), AttributeValue::N("1".into()));
        let key = std::collections::HashMap::from([
            ("account_id".to_owned(), s(account_id)),
            ("endpoint_id".to_owned(), s(endpoint_id)),
        ]);
        if alerts.is_empty() {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.endpoints)
                .set_key(Some(key))
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_values(Some(all))
                .send()
                .await;
            return applied(result);
        }
        let change = Update::builder()
            .table_name(&self.tables.endpoints)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(all))
            .build()
            .map_err(Error::dependency)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(change).build());
        for n in alerts {
            request = request.transact_items(self.new_notification_put(n)?);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }
}
