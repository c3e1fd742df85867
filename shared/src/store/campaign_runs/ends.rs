//! A run's end and what comes due: a run finished once its last message
//! ended, the events it owes, and the parts of runs the sweeper is owed
//! (stalled pages, runs to finish).

use super::*;

impl Store {
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
