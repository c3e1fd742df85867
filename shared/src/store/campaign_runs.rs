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

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::notifications::number;
use super::{Store, db_err, de, s, ser, ts};
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

fn canceled_reason(
    e: &aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => Some(
            cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
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

    /// Takes the page `m` names: its shard must be at `m.cursor`, not done,
    /// and free (or its lease lapsed).
    pub async fn lease_shard(&self, m: &FanoutMessage, now: DateTime<Utc>) -> Result<Lease> {
        let key = run_key(&m.account_id, &m.campaign_id);
        let part = shard_part(m.run, m.shard);
        let at = match &m.cursor {
            Some(_) => "#cursor = :cursor",
            None => "attribute_not_exists(#cursor)",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&key))
            .key("part", s(&part))
            .condition_expression(format!(
                "attribute_exists(part) AND {at} AND #done = :false AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ))
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_names("#done", "done")
            .update_expression("SET lease_until = :until")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", number(now.timestamp_millis()))
            .expression_attribute_values(":until", number((now + self.page_lease()).timestamp_millis()));
        if let Some(cursor) = &m.cursor {
            request = request.expression_attribute_values(":cursor", s(cursor));
        }
        if super::applied(request.send().await)? {
            return Ok(Lease::Taken);
        }
        let shard: Option<HashMap<String, AttributeValue>> = self
            .client
            .get_item()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&key))
            .key("part", s(&part))
            .consistent_read(true)
            .send()
            .await
            .map_err(db_err)?
            .item;
        let Some(shard) = shard else {
            return Ok(Lease::Stale);
        };
        let cursor = match shard.get("cursor") {
            Some(AttributeValue::S(c)) => Some(c.clone()),
            _ => None,
        };
        let done = matches!(shard.get("done"), Some(AttributeValue::Bool(true)));
        Ok(match (done, cursor == m.cursor) {
            (false, true) => Lease::Busy,
            _ => Lease::Stale,
        })
    }

    /// How long a page is a worker's: `LEASE_SECS`, or the sweeper's grace if
    /// shorter (a worker killed mid-page holds its shard no longer than the
    /// sweeper waits to queue the page again).
    fn page_lease(&self) -> chrono::Duration {
        self.timing.grace.min(chrono::Duration::seconds(
            crate::domain::campaigns::run::LEASE_SECS,
        ))
    }

    /// Lets a page go without moving its shard on (the campaign stopped).
    pub async fn release_shard(&self, m: &FanoutMessage) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&run_key(&m.account_id, &m.campaign_id)))
            .key("part", s(&shard_part(m.run, m.shard)))
            .condition_expression("attribute_exists(part)")
            .update_expression("REMOVE lease_until")
            .send()
            .await
            .map(|_| ())
            .or_else(|e| super::applied::<(), _>(Err(e)).map(|_| ()))
    }

    /// Claims a page's messages with the page's counts, in one transaction
    /// that holds only while the campaign sends run `run`.
    pub async fn claim_page(
        &self,
        campaign: &Campaign,
        run: u32,
        shard: u32,
        messages: &[Notification],
        counts: &Counts,
    ) -> Result<PageClaim> {
        if messages.is_empty() {
            return Ok(PageClaim::Claimed);
        }
        let check = ConditionCheck::builder()
            .table_name(&self.tables.campaigns)
            .key("account_id", s(&campaign.account_id))
            .key("campaign_id", s(&campaign.campaign_id))
            .condition_expression("#st = :sending AND #run = :run")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":run", number(run))
            .build()
            .map_err(db_err)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(self.counter_update(
                &campaign.account_id,
                &campaign.campaign_id,
                run,
                shard,
                counts,
            )?);
        for n in messages {
            request = request.transact_items(self.new_notification_put(n)?);
        }
        match request.send().await {
            Ok(_) => Ok(PageClaim::Claimed),
            Err(e) => match canceled_reason(&e) {
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(PageClaim::Stopped)
                }
                Some(codes) if codes.iter().skip(2).any(|c| c == "ConditionalCheckFailed") => {
                    Ok(PageClaim::Existing)
                }
                Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                    Err(Error::Dependency(
                        "a page's claim met a concurrent write; it is tried again".into(),
                    ))
                }
                _ => Err(db_err(e)),
            },
        }
    }

    /// Which of `ids` are stored notifications of the account.
    pub async fn existing_notifications(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> Result<Vec<Notification>> {
        let keys = ids
            .iter()
            .map(|id| {
                HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("notification_id".to_owned(), s(id)),
                ])
            })
            .collect();
        self.batch_get_items(&self.tables.notifications, keys, None)
            .await?
            .into_iter()
            .map(de)
            .collect()
    }

    /// Moves a shard past the page it was at (`m.cursor`) to `next`, or marks
    /// it done (counting it on the run, in the same transaction); `sweep_at`
    /// is when the sweeper should look again if it stalls. False if the
    /// shard is elsewhere already (another worker moved it).
    pub async fn advance_shard(
        &self,
        m: &FanoutMessage,
        next: Option<&str>,
        sweep_at: DateTime<Utc>,
    ) -> Result<bool> {
        let key = run_key(&m.account_id, &m.campaign_id);
        let part = shard_part(m.run, m.shard);
        let at = match &m.cursor {
            Some(_) => "#cursor = :cursor",
            None => "attribute_not_exists(#cursor)",
        };
        let mut update = Update::builder()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&key))
            .key("part", s(&part))
            .condition_expression(format!(
                "attribute_exists(part) AND #done = :false AND {at}"
            ))
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_names("#done", "done")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", ts(Utc::now()));
        if let Some(cursor) = &m.cursor {
            update = update.expression_attribute_values(":cursor", s(cursor));
        }
        let mut request = self.client.transact_write_items();
        update = match next {
            Some(next) => update
                .update_expression(
                    "SET #cursor = :next, updated_at = :now, sweep_at = :due REMOVE lease_until",
                )
                .expression_attribute_values(":next", s(next))
                .expression_attribute_values(":due", number(sweep_at.timestamp_millis())),
            None => {
                let count = Update::builder()
                    .table_name(&self.tables.campaign_runs)
                    .key("run_key", s(&key))
                    .key("part", s(&run_part(m.run)))
                    .update_expression("ADD shards_done :one")
                    .condition_expression("attribute_exists(part)")
                    .expression_attribute_values(":one", number(1))
                    .build()
                    .map_err(db_err)?;
                request =
                    request.transact_items(TransactWriteItem::builder().update(count).build());
                update.update_expression(
                    "SET #done = :true, updated_at = :now REMOVE lease_until, sweep_at, sweep_shard",
                )
                .expression_attribute_values(":true", AttributeValue::Bool(true))
            }
        };
        let request = request.transact_items(
            TransactWriteItem::builder()
                .update(update.build().map_err(db_err)?)
                .build(),
        );
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if canceled_reason(&e)
                    .is_some_and(|r| r.iter().any(|c| c == "ConditionalCheckFailed")) =>
            {
                Ok(false)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// The shards of run `run` not done yet, with their places.
    pub async fn open_shards(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
    ) -> Result<Vec<FanoutMessage>> {
        let items = self
            .query_items(
                self.client
                    .query()
                    .table_name(&self.tables.campaign_runs)
                    .key_condition_expression("run_key = :k AND begins_with(part, :p)")
                    .expression_attribute_values(":k", s(&run_key(account_id, campaign_id)))
                    .expression_attribute_values(":p", s(&format!("shard#{run:06}#")))
                    .consistent_read(true),
            )
            .await?;
        let mut open = Vec::new();
        for item in items {
            let started = int(&item, "started");
            let shard: ShardProgress = de(item)?;
            if !shard.done {
                open.push(FanoutMessage {
                    account_id: account_id.to_owned(),
                    campaign_id: campaign_id.to_owned(),
                    run,
                    started,
                    shard: shard.shard,
                    cursor: shard.cursor,
                });
            }
        }
        Ok(open)
    }

    /// Ends run `run`: `sent` (every shard read, nothing queued — the caller
    /// checked) or `canceled`, owing its `campaign.finished`; and the
    /// campaign's new version (`campaign`: scheduled for its next run, or
    /// sent), in one transaction. False if either changed meanwhile.
    pub async fn finish_run(
        &self,
        campaign: &Campaign,
        run: u32,
        status: RunStatus,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let update = Update::builder()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&run_key(&campaign.account_id, &campaign.campaign_id)))
            .key("part", s(&run_part(run)))
            .condition_expression("attribute_exists(part) AND #st IN (:sending, :paused) AND shards_done >= :all")
            .update_expression("SET #st = :status, finished_at = :now, events_owed = list_append(if_not_exists(events_owed, :empty), :finished)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":paused", s("paused"))
            .expression_attribute_values(":all", number(match status {
                RunStatus::Canceled => 0,
                _ => COUNTER_SHARDS,
            }))
            .expression_attribute_values(":status", s(run_status_str(status)))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(
                ":finished",
                AttributeValue::L(vec![s(crate::domain::campaigns::run::FINISHED)]),
            )
            .build()
            .map_err(db_err)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.campaign_put(campaign)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if canceled_reason(&e).is_some() => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// The events run `run` still owes.
    pub async fn events_owed(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
    ) -> Result<Vec<String>> {
        let item: Option<RunItem> = self
            .get(
                &self.tables.campaign_runs,
                &[
                    ("run_key", &run_key(account_id, campaign_id)),
                    ("part", &run_part(run)),
                ],
            )
            .await?;
        Ok(item.map(|i| i.events_owed).unwrap_or_default())
    }

    /// `event` of run `run` was emitted: it is owed no more (and, with
    /// nothing owed by a run that ended, the sweeper forgets it).
    pub async fn event_emitted(
        &self,
        account_id: &str,
        campaign_id: &str,
        run: u32,
        event: &str,
    ) -> Result<()> {
        let owed = self.events_owed(account_id, campaign_id, run).await?;
        let Some(index) = owed.iter().position(|e| e == event) else {
            return Ok(());
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&run_key(account_id, campaign_id)))
            .key("part", s(&run_part(run)))
            .condition_expression(format!("events_owed[{index}] = :event"))
            .update_expression(format!("REMOVE events_owed[{index}]"))
            .expression_attribute_values(":event", s(event))
            .send()
            .await;
        super::applied(result).map(|_| ())
    }

    /// Run parts of every account past their `sweep_at`: stalled shards and
    /// runs to look at again; at most `limit` from each shard of the index.
    pub async fn due_run_parts(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<DuePart>> {
        let mut due = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.tables.campaign_runs)
                .index_name("ByDue")
                .key_condition_expression("sweep_shard = :shard AND sweep_at <= :now")
                .expression_attribute_values(":shard", s(&format!("run#{shard}")))
                .expression_attribute_values(":now", number(now.timestamp_millis()))
                .limit(limit)
                .send()
                .await
                .map_err(db_err)?;
            for item in page.items.unwrap_or_default() {
                let sweep_at = match item.get("sweep_at") {
                    Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
                    _ => 0,
                };
                let part = match item.get("part") {
                    Some(AttributeValue::S(p)) => p.clone(),
                    _ => continue,
                };
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                let run = u32::try_from(int(&item, "run")).unwrap_or(0);
                if part.starts_with("shard#") {
                    let started = int(&item, "started");
                    let shard: ShardProgress = de(item.clone())?;
                    due.push(DuePart::Shard {
                        message: FanoutMessage {
                            account_id: text("account_id"),
                            campaign_id: text("campaign_id"),
                            run,
                            started,
                            shard: shard.shard,
                            cursor: shard.cursor,
                        },
                        sweep_at,
                    });
                } else {
                    due.push(DuePart::Run {
                        account_id: text("account_id"),
                        campaign_id: text("campaign_id"),
                        run,
                        sweep_at,
                    });
                }
            }
        }
        Ok(due)
    }

    /// Moves a due part's `sweep_at` on to `next` (or out of the index),
    /// if it is still `seen`: two sweepers never both act on one.
    pub async fn push_due(&self, part: &DuePart, next: Option<DateTime<Utc>>) -> Result<bool> {
        let (key, sort, seen) = match part {
            DuePart::Shard { message, sweep_at } => (
                run_key(&message.account_id, &message.campaign_id),
                shard_part(message.run, message.shard),
                *sweep_at,
            ),
            DuePart::Run {
                account_id,
                campaign_id,
                run,
                sweep_at,
            } => (run_key(account_id, campaign_id), run_part(*run), *sweep_at),
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.campaign_runs)
            .key("run_key", s(&key))
            .key("part", s(&sort))
            .condition_expression("sweep_at = :seen")
            .expression_attribute_values(":seen", number(seen));
        let request = match next {
            Some(at) => request
                .update_expression("SET sweep_at = :next")
                .expression_attribute_values(":next", number(at.timestamp_millis())),
            None => request.update_expression("REMOVE sweep_at, sweep_shard"),
        };
        super::applied(request.send().await)
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
