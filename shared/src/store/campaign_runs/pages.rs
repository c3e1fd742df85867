//! A run's fan-out pages: a shard's lease at its cursor, a page's claim
//! (its members' messages with their counts and the campaign's check, in
//! one transaction), the shard moved on.

use super::*;

impl Store {
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
}
