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
//!
//! The default endpoint (`ep_default`, the settings' `endpoint_url`) keeps
//! the same state on its account item, under `default_*` names, and bumps
//! `settings_version`: the same expressions reach either item through
//! attribute-name placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{Account, Store, applied, de, s, ts};
use crate::domain::{DEFAULT_ENDPOINT_ID, Endpoint, Notification};
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
            (account_id, endpoint_id, &[], Reroutes::No),
            "SET #since = :at ADD #version :one",
            "attribute_exists(#id) AND attribute_not_exists(#since)",
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
            (account_id, endpoint_id, alerts, Reroutes::No),
            "SET #alerted = :yes ADD #version :one",
            "#since = :since AND attribute_not_exists(#alerted)",
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
            (account_id, endpoint_id, alerts, Reroutes::No),
            "REMOVE #since, #alerted ADD #version :one",
            "#since = :since",
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
            (account_id, endpoint_id, alerts, Reroutes::Yes),
            "SET #enabled = :no, #why = :why, #updated = :now ADD #version :one",
            "#since = :since AND (attribute_not_exists(#enabled) OR #enabled = :yes)",
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

    /// Enables or disables the default endpoint by hand (`PATCH
    /// /v1/endpoints/ep_default {"enabled"}`): enabled, its reason is
    /// forgotten and a streak it had (`failing_since`, as the caller read
    /// it) restarts now, as a stored endpoint's does. A blind write: it
    /// reads nothing it could lose. Answers the endpoint as it is now.
    pub async fn set_default_enabled(
        &self,
        account_id: &str,
        enabled: bool,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<Option<Endpoint>> {
        let now = Utc::now();
        let restarted = crate::domain::endpoints::input::restarted_streak(failing_since, now);
        let update = match (enabled, restarted) {
            (true, None) => format!(
                "SET default_updated_at = :now REMOVE {DEFAULT_HEALTH} ADD settings_version :one"
            ),
            (true, Some(_)) => "SET default_updated_at = :now, default_failing_since = :now \
                 REMOVE default_enabled, default_disabled_reason, default_failing_alerted \
                 ADD settings_version :one"
                .to_owned(),
            (false, _) => {
                "SET default_enabled = :no, default_updated_at = :now ADD settings_version :one"
                    .to_owned()
            }
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression(update)
            .condition_expression("attribute_exists(account_id)")
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if !enabled {
            request = request.expression_attribute_values(":no", AttributeValue::Bool(false));
        }
        match request.send().await {
            Ok(out) => {
                let account: Account = de(out.attributes.unwrap_or_default())?;
                Ok(account.default_endpoint())
            }
            Err(e) => {
                // A failed condition: the account is gone.
                applied::<(), _>(Err(e))?;
                Ok(None)
            }
        }
    }

    /// Applies `update` to the endpoint if `condition` holds, with the
    /// alert notifications in the same transaction (and, when it changes a
    /// stored endpoint's route, its account's `routes_version`); false when
    /// it did not.
    async fn health_update(
        &self,
        (account_id, endpoint_id, alerts, reroutes): (&str, &str, &[Notification], Reroutes),
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut all: HashMap<String, AttributeValue> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        all.insert(":one".into(), AttributeValue::N("1".into()));
        let item = HealthItem::of(endpoint_id);
        let (table, key) = match item {
            HealthItem::Default => (
                &self.tables.accounts,
                HashMap::from([("account_id".to_owned(), s(account_id))]),
            ),
            HealthItem::Stored => (
                &self.tables.endpoints,
                HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("endpoint_id".to_owned(), s(endpoint_id)),
                ]),
            ),
        };
        // Only the placeholders this expression uses: DynamoDB refuses others.
        let names: HashMap<String, String> = item
            .names()
            .iter()
            .filter(|(p, _)| update.contains(p) || condition.contains(p))
            .map(|(p, n)| ((*p).to_owned(), (*n).to_owned()))
            .collect();
        // The default endpoint's route is read with its account each time.
        let reroutes = matches!((reroutes, item), (Reroutes::Yes, HealthItem::Stored));
        if alerts.is_empty() && !reroutes {
            let result = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(all))
                .send()
                .await;
            return applied(result);
        }
        let change = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(all))
            .build()
            .map_err(Error::dependency)?;
        let mut items = vec![TransactWriteItem::builder().update(change).build()];
        if reroutes {
            items.push(self.reroute(account_id)?);
        }
        for n in alerts {
            items.push(self.new_notification_put(n)?);
        }
        self.endpoint_write(&items).await
    }
}

/// Whether a health change changes the endpoint's route (its `enabled`).
#[derive(Clone, Copy)]
enum Reroutes {
    Yes,
    No,
}

/// The attributes the default endpoint's health takes on its account item,
/// removed when its URL changes or it is enabled again.
pub(super) const DEFAULT_HEALTH: &str =
    "default_enabled, default_disabled_reason, default_failing_since, default_failing_alerted";

/// Which item holds an endpoint's health.
#[derive(Clone, Copy)]
enum HealthItem {
    /// A stored endpoint's own item.
    Stored,
    /// The account's item, for `ep_default`.
    Default,
}

impl HealthItem {
    fn of(endpoint_id: &str) -> HealthItem {
        match endpoint_id == DEFAULT_ENDPOINT_ID {
            true => HealthItem::Default,
            false => HealthItem::Stored,
        }
    }

    /// What each placeholder of the health expressions names on the item.
    fn names(self) -> [(&'static str, &'static str); 7] {
        match self {
            HealthItem::Stored => [
                ("#id", "endpoint_id"),
                ("#since", "failing_since"),
                ("#alerted", "failing_alerted"),
                ("#enabled", "enabled"),
                ("#why", "disabled_reason"),
                ("#updated", "updated_at"),
                ("#version", "version"),
            ],
            HealthItem::Default => [
                ("#id", "account_id"),
                ("#since", "default_failing_since"),
                ("#alerted", "default_failing_alerted"),
                ("#enabled", "default_enabled"),
                ("#why", "default_disabled_reason"),
                ("#updated", "default_updated_at"),
                ("#version", "settings_version"),
            ],
        }
    }
}
