//! A campaign's runs (`run_key` = `account#campaign`, `part` = `run#NNNNNN`),
//! their fan-out shards (`shard#NNNNNN#SS` beside them) and their counters
//! (`account#campaign#NNNNNN#CC`, `counts`: sixteen partition keys, so a
//! big run's counting is not one hot item).
//!
//! - A run starts in one transaction: the campaign's new version, the run,
//!   and its sixteen shards (each waiting at the start of its part of the
//!   list), so a start is whole or not at all.
//! - A page of a shard is taken with a lease, conditional on the shard's
//!   cursor being the page's: a duplicate message of a page already done
//!   finds another cursor and is dropped; a second worker on the same page
//!   finds the lease held.
//! - Members' messages are claimed a page at a time, in one transaction with
//!   the page's counts and a check that the campaign is still sending under
//!   this run: a claim never lands after a pause or a cancel, and a message
//!   claimed twice is refused the second time (its id is fixed).
//! - The shard then moves on, conditionally on its cursor, and the run
//!   counts a shard done in the same transaction.
//! - Every later change of a claimed message's count (sent, failed,
//!   delivered, replied, canceled) is written in the transaction that makes
//!   the change, so counts stay exact whatever runs twice.
//!
//! Shards not done and runs not finished carry `sweep_at` in the table's
//! `ByDue` index: the sweeper puts a stalled page on the queue again and
//! finishes a run whose last message ended while nobody looked.

mod ends;
mod pages;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::notifications::number;
use super::{Store, db_err, de, s, ser, ts};
use super::{applied, canceled_reason};
use crate::domain::campaigns::campaign::Campaign;
use crate::domain::campaigns::run::{
    COUNTER_SHARDS, Counts, FanoutMessage, Run, RunStatus, ShardProgress,
};
use crate::domain::delivery::notification::Notification;
use crate::domain::delivery::outbox::{SWEEP_SHARDS, sweep_shard};
use crate::error::{Error, Result};

/// The partition of a campaign's runs and shards.
fn run_key(account_id: &str, campaign_id: &str) -> String {
    format!("{account_id}#{campaign_id}")
}

fn run_part(run: u32) -> String {
    format!("run#{run:06}")
}

fn shard_part(run: u32, shard: u32) -> String {
    format!("shard#{run:06}#{shard:02}")
}

fn counter_key(account_id: &str, campaign_id: &str, run: u32, shard: u32) -> String {
    format!("{account_id}#{campaign_id}#{run:06}#{shard:02}")
}

fn due_shard(key: &str) -> String {
    format!("run#{}", sweep_shard(key))
}

/// A shard's page, taken or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Taken: this worker handles the page.
    Taken,
    /// Another worker holds it now: try again later.
    Busy,
    /// The shard is past this page, or done: a duplicate, dropped.
    Stale,
}

/// A page's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageClaim {
    Claimed,
    /// Some of the page's messages exist already (the page was handled
    /// before): nothing was written.
    Existing,
    /// The campaign is no longer sending this run (paused, canceled, or
    /// a later run): nothing was written.
    Stopped,
}

/// Something of a run the sweeper found past its `sweep_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuePart {
    /// A shard with no progress for a while: its page goes on the queue again.
    Shard {
        message: FanoutMessage,
        sweep_at: i64,
    },
    /// A run not finished (or owing an event): looked at again.
    Run {
        account_id: String,
        campaign_id: String,
        run: u32,
        sweep_at: i64,
    },
}

/// How the table keeps a run: the run's fields, and what it still owes.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunItem {
    run_key: String,
    part: String,
    #[serde(flatten)]
    run: Run,
    /// The events of the run not yet emitted (`campaign.started`, `campaign.finished`).
    #[serde(default)]
    events_owed: Vec<String>,
}

impl Store {
    /// The `ADD` of `counts` to one counter of a run, for a transaction.
    pub(super) fn counter_update(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
        shard: u32,
        counts: &Counts,
    ) -> Result<TransactWriteItem> {
        let mut adds = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.tables.campaign_runs)
            .key(
                "run_key",
                s(&counter_key(
                    account_id,
                    campaign_id,
                    run,
                    shard % COUNTER_SHARDS,
                )),
            )
            .key("part", s("counts"));
        for (name, value) in counts.fields() {
            if value != 0 {
                adds.push(format!("#{name} :{name}"));
                update = update
                    .expression_attribute_names(format!("#{name}"), name)
                    .expression_attribute_values(format!(":{name}"), number(value));
            }
        }
        if adds.is_empty() {
            adds.push("#members :zero".into());
            update = update
                .expression_attribute_names("#members", "members")
                .expression_attribute_values(":zero", number(0));
        }
        let update = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(db_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Starts run `run` of `campaign` (as it is once started: sending, with
    /// this run, its version one past the one read): the campaign, the run
    /// and its shards in one transaction. False if the campaign changed
    /// since it was read (another start, a cancel): nothing is written.
    pub async fn start_run(
        &self,
        campaign: &Campaign,
        run: &Run,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let key = run_key(&campaign.account_id, &campaign.campaign_id);
        let grace = (now + self.timing.grace).timestamp_millis();
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(self.campaign_put(campaign)?)
                .build(),
        );
        let mut item = ser(&RunItem {
            run_key: key.clone(),
            part: run_part(run.run),
            run: run.clone(),
            events_owed: vec![crate::domain::campaigns::run::STARTED.to_owned()],
        })?;
        item.insert(
            "sweep_shard".into(),
            s(&due_shard(&format!("{key}#{}", run.run))),
        );
        item.insert("sweep_at".into(), number(grace));
        request = request.transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.tables.campaign_runs)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(part)")
                        .build()
                        .map_err(db_err)?,
                )
                .build(),
        );
        for shard in 0..COUNTER_SHARDS {
            let part = shard_part(run.run, shard);
            let mut item = ser(&ShardProgress {
                shard,
                cursor: None,
                done: false,
            })?;
            item.insert("run_key".into(), s(&key));
            item.insert("part".into(), s(&part));
            item.insert("account_id".into(), s(&campaign.account_id));
            item.insert("campaign_id".into(), s(&campaign.campaign_id));
            item.insert("run".into(), number(run.run));
            item.insert("started".into(), number(run.started_at.timestamp_millis()));
            item.insert(
                "sweep_shard".into(),
                s(&due_shard(&format!("{key}#{part}"))),
            );
            item.insert("sweep_at".into(), number(grace));
            request = request.transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.campaign_runs)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(part)")
                            .build()
                            .map_err(db_err)?,
                    )
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if canceled_reason(&e).is_some_and(|r| {
                    r.iter()
                        .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict")
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Writes a campaign's new version (paused, resumed, canceled) and, when
    /// a run is active, that run's status with it, in one transaction.
    /// False if the campaign changed since it was read.
    pub async fn control_campaign(
        &self,
        campaign: &Campaign,
        run: Option<RunStatus>,
    ) -> Result<bool> {
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(self.campaign_put(campaign)?)
                .build(),
        );
        if let (Some(status), true) = (run, campaign.run > 0) {
            let update = Update::builder()
                .table_name(&self.tables.campaign_runs)
                .key(
                    "run_key",
                    s(&run_key(&campaign.account_id, &campaign.campaign_id)),
                )
                .key("part", s(&run_part(campaign.run)))
                .condition_expression("attribute_exists(part) AND #st IN (:sending, :paused)")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":sending", s("sending"))
                .expression_attribute_values(":paused", s("paused"))
                .expression_attribute_values(":status", s(run_status_str(status)));
            // A canceled run is over: it owes its campaign.finished.
            let update = match status {
                RunStatus::Canceled => update
                    .update_expression("SET #st = :status, finished_at = :now, events_owed = list_append(if_not_exists(events_owed, :empty), :finished)")
                    .expression_attribute_values(":now", ts(campaign.updated_at))
                    .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                    .expression_attribute_values(
                        ":finished",
                        AttributeValue::L(vec![s(crate::domain::campaigns::run::FINISHED)]),
                    ),
                _ => update.update_expression("SET #st = :status"),
            };
            let update = update.build().map_err(db_err)?;
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if canceled_reason(&e).is_some() => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// A run with its counts summed from its counters; `None` if there is none.
    pub async fn get_run(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
    ) -> Result<Option<Run>> {
        Ok(self
            .runs(account_id, campaign_id, &[run])
            .await?
            .into_iter()
            .next())
    }

    /// The runs `runs` of a campaign that exist, with their counts: their
    /// items and counters in batch reads.
    async fn runs(&self, account_id: &str, campaign_id: &str, runs: &[u32]) -> Result<Vec<Run>> {
        let key = run_key(account_id, campaign_id);
        let mut keys = Vec::new();
        for run in runs {
            keys.push(HashMap::from([
                ("run_key".to_owned(), s(&key)),
                ("part".to_owned(), s(&run_part(*run))),
            ]));
            for shard in 0..COUNTER_SHARDS {
                keys.push(HashMap::from([
                    (
                        "run_key".to_owned(),
                        s(&counter_key(account_id, campaign_id, *run, shard)),
                    ),
                    ("part".to_owned(), s("counts")),
                ]));
            }
        }
        let items = self
            .batch_get_items(&self.tables.campaign_runs, keys, None)
            .await?;
        let mut found: Vec<Run> = Vec::new();
        let mut counts: HashMap<u32, Counts> = HashMap::new();
        for item in items {
            let Some(AttributeValue::S(rk)) = item.get("run_key") else {
                continue;
            };
            if rk == &key {
                let run: RunItem = de(item)?;
                found.push(run.run);
            } else if let Some(run) = rk
                .strip_prefix(&format!("{key}#"))
                .and_then(|rest| rest.split('#').next())
                .and_then(|n| n.parse::<u32>().ok())
            {
                let c: Counts = de(item)?;
                counts.entry(run).or_default().add(&c);
            }
        }
        for run in &mut found {
            run.counts = counts.get(&run.run).copied().unwrap_or_default();
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.run));
        Ok(found)
    }

    /// Every run of a campaign, newest first, with its counts.
    pub async fn list_runs(&self, account_id: &str, campaign_id: &str) -> Result<Vec<Run>> {
        let items = self
            .query_items(
                self.client
                    .query()
                    .table_name(&self.tables.campaign_runs)
                    .key_condition_expression("run_key = :k AND begins_with(part, :p)")
                    .expression_attribute_values(":k", s(&run_key(account_id, campaign_id)))
                    .expression_attribute_values(":p", s("run#"))
                    .expression_attribute_names("#run", "run")
                    .projection_expression("#run"),
            )
            .await?;
        let numbers: Vec<u32> = items
            .iter()
            .filter_map(|i| match i.get("run") {
                Some(AttributeValue::N(n)) => n.parse().ok(),
                _ => None,
            })
            .collect();
        let mut runs = Vec::new();
        // A run is 17 keys: five runs a batch read.
        for chunk in numbers.chunks(5) {
            runs.extend(self.runs(account_id, campaign_id, chunk).await?);
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.run));
        Ok(runs)
    }
}

/// A number attribute of `item`, 0 if absent.
fn int(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn run_status_str(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Sending => "sending",
        RunStatus::Paused => "paused",
        RunStatus::Sent => "sent",
        RunStatus::Canceled => "canceled",
    }
}
