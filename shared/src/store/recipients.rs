//! Recipients (`account_id`, `recipient_id`), their preferences on the same
//! item. A `PUT` is one blind `UpdateItem` that replaces the fields and
//! keeps `created_at` and the preferences, so concurrent puts need no read
//! and lose nothing but the earlier of two replacements, as they should.
//! A list's member batch upserts its rows a hundred at a time instead: one
//! batch read, then transactions of conditional puts (each on the version
//! it read, or on there being none), so a concurrent change of one of them
//! sends that hundred round again rather than being lost.
//! Erasing one removes its memberships first (each with its list's count),
//! then the item: a retry after a failure in between finishes the job.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{Store, applied, db_err, de, decode_id_cursor, encode_id_cursor, s, ser, ts};
use crate::domain::recipients::preferences::Preferences;
use crate::domain::recipients::recipient::{Recipient, RecipientSpec};
use crate::error::{Error, Result};

/// Recipients written per transaction (DynamoDB takes at most 100 items).
const PUTS_PER_TRANSACTION: usize = 100;
/// How often a chunk is written again after a concurrent write refused it.
const MAX_TRIES: u32 = 5;

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Whether a transaction was refused by a condition or a concurrent write
/// (read again and retry), rather than failing.
fn raced(
    e: &aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
            cancel.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

impl Store {
    pub async fn get_recipient(&self, account_id: &str, id: &str) -> Result<Option<Recipient>> {
        self.get(
            &self.tables.recipients,
            &[("account_id", account_id), ("recipient_id", id)],
        )
        .await
    }

    /// Creates or replaces a recipient whole (its `created_at` and
    /// preferences kept); answers it and whether it was new.
    pub async fn put_recipient(
        &self,
        account_id: &str,
        id: &str,
        spec: &RecipientSpec,
        now: DateTime<Utc>,
    ) -> Result<(Recipient, bool)> {
        // The optional fields a put replaces: absent ones are removed.
        let values = [
            ("phone", &spec.phone),
            ("email", &spec.email),
            ("whatsapp", &spec.whatsapp),
            ("language", &spec.language),
            ("timezone", &spec.timezone),
            ("data", &spec.data),
        ];
        let mut set = vec![
            "updated_at = :now".to_owned(),
            "created_at = if_not_exists(created_at, :now)".to_owned(),
        ];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.recipients)
            .key("account_id", s(account_id))
            .key("recipient_id", s(id))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew);
        for (name, value) in values {
            match value {
                Some(v) => {
                    set.push(format!("#{name} = :{name}"));
                    request = request.expression_attribute_values(format!(":{name}"), s(v));
                }
                None => remove.push(format!("#{name}")),
            }
            request = request.expression_attribute_names(format!("#{name}"), name);
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update.push_str(" ADD version :one");
        let out = request
            .update_expression(update)
            .send()
            .await
            .map_err(db_err)?;
        let recipient: Recipient = de(out.attributes.unwrap_or_default())?;
        // The first write of the item (again after an erasure) makes version 1.
        let created = recipient.version == 1;
        Ok((recipient, created))
    }

    /// Creates or replaces many recipients whole, as [`put_recipient`]
    /// does one (`created_at` and preferences kept); answers how many were
    /// new. A hundred at a time: read, then one transaction of puts each
    /// conditional on the version read (or on there being none); a chunk a
    /// concurrent write refused is read and written again, a bounded number
    /// of times, then a `503` — a retry of the whole request is safe.
    ///
    /// [`put_recipient`]: Store::put_recipient
    pub async fn put_recipients(
        &self,
        account_id: &str,
        rows: &[(String, RecipientSpec)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut created = 0;
        for chunk in rows.chunks(PUTS_PER_TRANSACTION) {
            let mut tries = 0;
            loop {
                let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                let existing: HashMap<String, Recipient> = self
                    .recipients_of(account_id, &ids)
                    .await?
                    .into_iter()
                    .map(|r| (r.recipient_id.clone(), r))
                    .collect();
                let mut request = self.client.transact_write_items();
                for (id, spec) in chunk {
                    let before = existing.get(id);
                    let recipient = Recipient::replaced(account_id, id, spec, before, now);
                    let put = Put::builder()
                        .table_name(&self.tables.recipients)
                        .set_item(Some(ser(&recipient)?));
                    let put = match before {
                        Some(b) => put
                            .condition_expression("version = :v")
                            .expression_attribute_values(":v", n(b.version)),
                        None => put.condition_expression("attribute_not_exists(recipient_id)"),
                    };
                    request = request.transact_items(
                        TransactWriteItem::builder()
                            .put(put.build().map_err(db_err)?)
                            .build(),
                    );
                }
                match request.send().await {
                    Ok(_) => {
                        created += chunk.len() - existing.len();
                        break;
                    }
                    Err(e) if raced(&e) && tries + 1 < MAX_TRIES => tries += 1,
                    Err(e) if raced(&e) => {
                        return Err(Error::Dependency(
                            "these recipients are being changed concurrently; retry shortly".into(),
                        ));
                    }
                    Err(e) => return Err(db_err(e)),
                }
            }
        }
        Ok(created)
    }

    /// Replaces a recipient's preferences; `None` if there is no recipient.
    pub async fn set_preferences(
        &self,
        account_id: &str,
        id: &str,
        preferences: &Preferences,
    ) -> Result<Option<Recipient>> {
        let value = serde_dynamo::to_attribute_value(preferences)
            .map_err(|e| Error::Dependency(format!("cannot encode preferences: {e}")))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.recipients)
            .key("account_id", s(account_id))
            .key("recipient_id", s(id))
            .condition_expression("attribute_exists(recipient_id)")
            .update_expression("SET preferences = :p, updated_at = :now ADD version :one")
            .expression_attribute_values(":p", value)
            .expression_attribute_values(":now", ts(Utc::now()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(de(out.attributes.unwrap_or_default())?)),
            Err(e) => {
                applied::<(), _>(Err(e))?;
                Ok(None)
            }
        }
    }

    /// A page of the account's recipients by id, after `cursor`.
    pub async fn list_recipients(
        &self,
        account_id: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Recipient>, Option<String>)> {
        let start = cursor.map(decode_id_cursor).transpose()?.map(|last| {
            HashMap::from([
                ("account_id".to_owned(), s(account_id)),
                ("recipient_id".to_owned(), s(&last)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.recipients)
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(db_err)?;
        let items: Vec<Recipient> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(de)
            .collect::<Result<_>>()?;
        let next = match (out.last_evaluated_key, items.last()) {
            (Some(_), Some(last)) => Some(encode_id_cursor(&last.recipient_id)),
            _ => None,
        };
        Ok((items, next))
    }

    /// The recipients of `ids` that exist, in the order asked.
    pub async fn recipients_of(&self, account_id: &str, ids: &[String]) -> Result<Vec<Recipient>> {
        let keys = ids
            .iter()
            .map(|id| {
                HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("recipient_id".to_owned(), s(id)),
                ])
            })
            .collect();
        let mut found: HashMap<String, Recipient> = HashMap::new();
        for item in self
            .batch_get_items(&self.tables.recipients, keys, None)
            .await?
        {
            let r: Recipient = de(item)?;
            found.insert(r.recipient_id.clone(), r);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Erases a recipient: its memberships of every list of the account
    /// (each with that list's count), its devices, feed and sockets, then
    /// the item with its preferences.
    /// False if there was no recipient and no membership.
    pub async fn erase_recipient(&self, account_id: &str, id: &str) -> Result<bool> {
        let mut erased = false;
        for list in self.all_lists(account_id).await? {
            erased |= self.remove_member(account_id, &list.list_id, id).await?;
        }
        // Its devices, its feed and its open sockets (contract 14).
        erased |= self.delete_devices(account_id, id).await?;
        erased |= self.delete_feed(account_id, id).await?;
        erased |= self.delete_connections(account_id, id).await?;
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.recipients)
            .key("account_id", s(account_id))
            .key("recipient_id", s(id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_err)?;
        Ok(erased || out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
