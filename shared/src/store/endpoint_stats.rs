//! Endpoint statistics: one item per endpoint and hour, whose counters
//! deliver adds to with DynamoDB's atomic `ADD` — once per batch for each
//! endpoint and hour it touched — so concurrent invocations never lose
//! each other's counts and no read precedes the write.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{Store, db_err, s};
use crate::domain::endpoints::stats::{Counts, LATENCY_BINS, StatsView, hour_of, view};
use crate::error::Result;

/// How long an hour's counters are kept.
const KEPT: Duration = Duration::days(35);

const HOUR_FORMAT: &str = "%Y-%m-%dT%H";

fn endpoint_key(account_id: &str, endpoint_id: &str) -> String {
    format!("{account_id}#{endpoint_id}")
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

impl Store {
    /// Adds `counts` to the hour of `at` of an endpoint.
    pub async fn add_endpoint_counts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        at: DateTime<Utc>,
        counts: &Counts,
    ) -> Result<()> {
        let hour = hour_of(at);
        let mut adds = vec![
            "delivered :d".to_owned(),
            "failed :f".to_owned(),
            "attempts :a".to_owned(),
            "failed_attempts :fa".to_owned(),
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.endpoint_stats)
            .key("endpoint_key", s(&endpoint_key(account_id, endpoint_id)))
            .key("hour", s(&hour.format(HOUR_FORMAT).to_string()))
            .expression_attribute_values(":d", n(counts.delivered))
            .expression_attribute_values(":f", n(counts.failed))
            .expression_attribute_values(":a", n(counts.attempts))
            .expression_attribute_values(":fa", n(counts.failed_attempts))
            .expression_attribute_values(":at", s(&hour.to_rfc3339()))
            .expression_attribute_values(
                ":exp",
                n(u64::try_from((hour + KEPT).timestamp()).unwrap_or(0)),
            );
        for (bin, count) in counts.latency.iter().enumerate() {
            if *count > 0 {
                adds.push(format!("lat{bin} :l{bin}"));
                request = request.expression_attribute_values(format!(":l{bin}"), n(*count));
            }
        }
        request
            .update_expression(format!(
                "SET hour_at = :at, expires_at = :exp ADD {}",
                adds.join(", ")
            ))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The endpoint's statistics for the hours `since..=until`.
    pub async fn endpoint_stats(
        &self,
        account_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<StatsView> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.endpoint_stats)
            .key_condition_expression("endpoint_key = :k AND #h BETWEEN :from AND :to")
            .expression_attribute_names("#h", "hour")
            .expression_attribute_values(":k", s(&endpoint_key(account_id, endpoint_id)))
            .expression_attribute_values(
                ":from",
                s(&hour_of(since).format(HOUR_FORMAT).to_string()),
            )
            .expression_attribute_values(":to", s(&hour_of(until).format(HOUR_FORMAT).to_string()));
        let items = self.query_items(query).await?;
        let mut hours = BTreeMap::new();
        for item in items {
            let Some(AttributeValue::S(at)) = item.get("hour_at") else {
                continue;
            };
            let Ok(at) = DateTime::parse_from_rfc3339(at) else {
                continue;
            };
            let mut counts = Counts {
                delivered: number(&item, "delivered"),
                failed: number(&item, "failed"),
                attempts: number(&item, "attempts"),
                failed_attempts: number(&item, "failed_attempts"),
                ..Counts::default()
            };
            for bin in 0..LATENCY_BINS {
                counts.latency[bin] = number(&item, &format!("lat{bin}"));
            }
            hours.insert(at.with_timezone(&Utc), counts);
        }
        Ok(view(&hours, since, until))
    }
}

impl Store {
    /// Takes the next place in an endpoint's rate window `window` (an item
    /// beside its hours, kept a minute): answers the place, from 1; a place
    /// past the endpoint's limit means the window is full. One atomic
    /// `ADD`, so concurrent invocations never share a place.
    pub async fn take_rate_place(
        &self,
        account_id: &str,
        endpoint_id: &str,
        window: i64,
    ) -> Result<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.endpoint_stats)
            .key("endpoint_key", s(&endpoint_key(account_id, endpoint_id)))
            .key("hour", s(&format!("rate#{window}")))
            .update_expression("SET expires_at = :exp ADD places :one")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(
                ":exp",
                n(u64::try_from(Utc::now().timestamp() + 60).unwrap_or(0)),
            )
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.attributes.as_ref().map_or(0, |a| number(a, "places")))
    }
}
