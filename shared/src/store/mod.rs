//! The DynamoDB adapter: accounts and keys, idempotent events, and the
//! notification log. Every read and write names the account in its key, so
//! one account can never reach another's items.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_dynamo::{from_item, from_items, to_attribute_value, to_item};

use crate::config::Tables;
use crate::domain::keys;
use crate::domain::signing;
use crate::domain::{Attempt, Channel, Notification, Settings, Status, Transaction};
use crate::error::{Error, Result};

/// How long an event id stays claimed: far longer than any redelivery.
pub const EVENT_RETENTION: Duration = Duration::days(30);
/// A `pending` claim older than this was abandoned (its request died between
/// storing and queueing); a retry of the same event may take it over.
pub const PENDING_TIMEOUT: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: Settings,
    pub signing_secret: String,
    /// The secret a rotation replaced; it keeps signing until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::hours(24);

impl Account {
    /// The secrets that sign a webhook now: the current one, and the previous
    /// one while it has not expired.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.signing_secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
            && now < until
        {
            secrets.push(old);
        }
        secrets
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ApiKeyItem {
    key_hash: String,
    /// Names the key without revealing it (`inc keys list`, `revoke`).
    #[serde(default)]
    key_id: String,
    account_id: String,
    created_at: DateTime<Utc>,
}

/// What is shown of an API key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored, its notifications not yet all queued.
    Pending,
    /// Stored and queued: the answer is final.
    Completed,
}

/// What is kept of an event for idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub account_id: String,
    pub event_id: String,
    pub event_type: String,
    pub fingerprint: String,
    pub status: EventStatus,
    pub notification_ids: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub claimed_at: DateTime<Utc>,
    /// DynamoDB TTL, in epoch seconds.
    pub expires_at: i64,
}

/// The outcome of claiming an event id.
#[derive(Debug)]
pub enum Claim {
    /// The id was free; the event and its notifications are now stored.
    Claimed,
    /// The id was taken; here is what holds it.
    Taken(EventRecord),
}

/// A page of the notification log.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub limit: i32,
    pub cursor: Option<String>,
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub session_id: Option<String>,
    pub order_no: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A DynamoDB failure, with the SDK's whole chain of causes.
fn db_err<E: std::error::Error + 'static>(e: E) -> Error {
    Error::dependency(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

/// A time as serde writes it, so conditions compare equal to stored values.
/// Whether a conditional update was applied: `false` when its condition
/// did not hold, an error for anything else.
fn applied<O>(
    result: std::result::Result<
        O,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    >,
) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(db_err(e)),
    }
}

fn ts(t: DateTime<Utc>) -> AttributeValue {
    to_attribute_value(t).unwrap_or_else(|_| s(&t.to_rfc3339()))
}

fn ser<T: Serialize>(value: T) -> Result<HashMap<String, AttributeValue>> {
    to_item(value).map_err(|e| Error::Dependency(format!("cannot encode item: {e}")))
}

fn de<'a, T: Deserialize<'a>>(item: HashMap<String, AttributeValue>) -> Result<T> {
    from_item(item).map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Store {
        Store { client, tables }
    }

    /// A strongly consistent read of one item by its whole key.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> Result<Option<T>> {
        let mut request = self
            .client
            .get_item()
            .table_name(table)
            .consistent_read(true);
        for (name, value) in key {
            request = request.key(*name, s(value));
        }
        let found = request.send().await.map_err(db_err)?;
        found.item.map(de).transpose()
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Creates an account with default settings, a signing secret and one
    /// API key; returns the key, which is stored only as its hash.
    pub async fn create_account(&self, name: &str) -> Result<(Account, String)> {
        let now = Utc::now();
        let account = Account {
            account_id: keys::new_account_id(),
            name: name.to_owned(),
            created_at: now,
            settings: Settings::default(),
            signing_secret: signing::new_secret(),
            previous_secret: None,
            previous_secret_expires_at: None,
        };
        let api_key = keys::new_api_key();
        let key_item = ApiKeyItem {
            key_hash: keys::hash_api_key(&api_key),
            key_id: keys::new_key_id(),
            account_id: account.account_id.clone(),
            created_at: now,
        };
        let put = |table: &str, item| -> Result<TransactWriteItem> {
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names(
                    "#k",
                    if table == self.tables.accounts {
                        "account_id"
                    } else {
                        "key_hash"
                    },
                )
                .build()
                .map_err(Error::dependency)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        self.client
            .transact_write_items()
            .transact_items(put(&self.tables.accounts, ser(&account)?)?)
            .transact_items(put(&self.tables.api_keys, ser(&key_item)?)?)
            .send()
            .await
            .map_err(db_err)?;
        Ok((account, api_key))
    }

    /// The account an API key belongs to, if the key is known.
    pub async fn account_for_key(&self, api_key: &str) -> Result<Option<Account>> {
        let hash = keys::hash_api_key(api_key);
        let Some(key) = self
            .get::<ApiKeyItem>(&self.tables.api_keys, &[("key_hash", &hash)])
            .await?
        else {
            return Ok(None);
        };
        self.get_account(&key.account_id).await
    }

    /// Adds an API key to an existing account; returns its id and the key,
    /// which is stored only as its hash.
    pub async fn create_key(&self, account_id: &str) -> Result<(KeyInfo, String)> {
        if self.get_account(account_id).await?.is_none() {
            return Err(Error::NotFound("account"));
        }
        let api_key = keys::new_api_key();
        let item = ApiKeyItem {
            key_hash: keys::hash_api_key(&api_key),
            key_id: keys::new_key_id(),
            account_id: account_id.to_owned(),
            created_at: Utc::now(),
        };
        self.client
            .put_item()
            .table_name(&self.tables.api_keys)
            .set_item(Some(ser(&item)?))
            .condition_expression("attribute_not_exists(key_hash)")
            .send()
            .await
            .map_err(db_err)?;
        Ok((
            KeyInfo {
                key_id: item.key_id,
                created_at: item.created_at,
            },
            api_key,
        ))
    }

    /// The account's keys, by id and age.
    pub async fn list_keys(&self, account_id: &str) -> Result<Vec<KeyInfo>> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.api_keys)
            .index_name("ByAccount")
            .key_condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .send()
            .await
            .map_err(db_err)?;
        let items: Vec<ApiKeyItem> = from_items(page.items.unwrap_or_default())
            .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?;
        Ok(items
            .into_iter()
            .map(|k| KeyInfo {
                key_id: k.key_id,
                created_at: k.created_at,
            })
            .collect())
    }

    /// Deletes a key: the next request with it is refused.
    pub async fn revoke_key(&self, account_id: &str, key_id: &str) -> Result<()> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.api_keys)
            .index_name("ByAccount")
            .key_condition_expression("account_id = :a AND key_id = :k")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(":k", s(key_id))
            .send()
            .await
            .map_err(db_err)?;
        let Some(AttributeValue::S(hash)) = page
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|mut i| i.remove("key_hash"))
        else {
            return Err(Error::NotFound("key"));
        };
        self.client
            .delete_item()
            .table_name(&self.tables.api_keys)
            .key("key_hash", s(&hash))
            .condition_expression("account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn get_account(&self, account_id: &str) -> Result<Option<Account>> {
        self.get(&self.tables.accounts, &[("account_id", account_id)])
            .await
    }

    pub async fn put_settings(&self, account_id: &str, settings: &Settings) -> Result<()> {
        let value = to_attribute_value(settings)
            .map_err(|e| Error::Dependency(format!("cannot encode settings: {e}")))?;
        self.client
            .update_item()
            .table_name(&self.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET settings = :s")
            .condition_expression("attribute_exists(account_id)")
            .expression_attribute_values(":s", value)
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Replaces the signing secret; the old one signs beside it for
    /// [`SECRET_OVERLAP`]. Conditional on the secret being the one read, so
    /// two rotations at once cannot both win.
    pub async fn rotate_secret(&self, account: &Account, now: DateTime<Utc>) -> Result<String> {
        let new = signing::new_secret();
        self.client
            .update_item()
            .table_name(&self.tables.accounts)
            .key("account_id", s(&account.account_id))
            .update_expression("SET signing_secret = :new, previous_secret = :old, previous_secret_expires_at = :until")
            .condition_expression("signing_secret = :old")
            .expression_attribute_values(":new", s(&new))
            .expression_attribute_values(":old", s(&account.signing_secret))
            .expression_attribute_values(":until", ts(now + SECRET_OVERLAP))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Error::Conflict { code: "rotation_in_progress", message: "the secret was rotated meanwhile; read it again".into() }
                } else {
                    db_err(e)
                }
            })?;
        Ok(new)
    }

    /// Claims an event id and stores the event's notifications with it, in
    /// one transaction: either both are stored or neither.
    pub async fn claim_event(
        &self,
        record: &EventRecord,
        notifications: &[Notification],
        transaction: Option<&Transaction>,
    ) -> Result<Claim> {
        let event_put = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(ser(record)?))
            .condition_expression("attribute_not_exists(event_id)")
            .build()
            .map_err(Error::dependency)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(event_put).build());
        for n in notifications {
            let put = Put::builder()
                .table_name(&self.tables.notifications)
                .set_item(Some(notification_item(n)?))
                .build()
                .map_err(Error::dependency)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        if let Some(t) = transaction {
            let put = Put::builder()
                .table_name(&self.tables.transactions)
                .set_item(Some(ser(t)?))
                .build()
                .map_err(Error::dependency)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let taken = match err.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                        e.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    }
                    _ => false,
                };
                if !taken {
                    return Err(db_err(err));
                }
                match self.get_event(&record.account_id, &record.event_id).await? {
                    Some(existing) => Ok(Claim::Taken(existing)),
                    // Released between our write and our read: report busy.
                    None => Err(Error::Conflict {
                        code: "request_in_progress",
                        message: "this event id is being processed; retry shortly".into(),
                    }),
                }
            }
        }
    }

    pub async fn get_event(&self, account_id: &str, event_id: &str) -> Result<Option<EventRecord>> {
        self.get(
            &self.tables.events,
            &[("account_id", account_id), ("event_id", event_id)],
        )
        .await
    }

    /// Takes over an abandoned `pending` claim; false if someone else did.
    pub async fn renew_claim(&self, record: &EventRecord, now: DateTime<Utc>) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.events)
            .key("account_id", s(&record.account_id))
            .key("event_id", s(&record.event_id))
            .update_expression("SET claimed_at = :now")
            .condition_expression("claimed_at = :then AND #st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":then", ts(record.claimed_at))
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        applied(result)
    }

    pub async fn complete_event(&self, account_id: &str, event_id: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.events)
            .key("account_id", s(account_id))
            .key("event_id", s(event_id))
            .update_expression("SET #st = :done")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":done", s("completed"))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Undoes a claim whose notifications could not be queued, so that the
    /// client's retry starts afresh and the history shows nothing.
    pub async fn release_event(&self, record: &EventRecord) -> Result<()> {
        let mut request = self.client.transact_write_items();
        let delete = Delete::builder()
            .table_name(&self.tables.events)
            .key("account_id", s(&record.account_id))
            .key("event_id", s(&record.event_id))
            .build()
            .map_err(Error::dependency)?;
        request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
        for id in &record.notification_ids {
            let delete = Delete::builder()
                .table_name(&self.tables.notifications)
                .key("account_id", s(&record.account_id))
                .key("notification_id", s(id))
                .build()
                .map_err(Error::dependency)?;
            request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        request.send().await.map_err(db_err)?;
        Ok(())
    }

    pub async fn get_notification(
        &self,
        account_id: &str,
        notification_id: &str,
    ) -> Result<Option<Notification>> {
        self.get(
            &self.tables.notifications,
            &[
                ("account_id", account_id),
                ("notification_id", notification_id),
            ],
        )
        .await
    }

    /// Appends an attempt to a notification's log and sets its new status.
    pub async fn record_attempt(
        &self,
        account_id: &str,
        notification_id: &str,
        attempt: &Attempt,
        status: Status,
        next_attempt_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
    ) -> Result<()> {
        let attempt_body_sha256 = attempt.body_sha256.clone();
        let attempt = to_attribute_value(attempt)
            .map_err(|e| Error::Dependency(format!("cannot encode attempt: {e}")))?;
        let mut set = vec![
            "attempts = list_append(if_not_exists(attempts, :empty), :attempt)",
            "#st = :status",
            "by_status = :by_status",
            "updated_at = :now",
        ];
        let mut remove = vec!["lease_until"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .condition_expression("attribute_exists(notification_id)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":attempt", AttributeValue::L(vec![attempt]))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":by_status", status_key(account_id, status))
            .expression_attribute_values(":now", ts(Utc::now()));
        match next_attempt_at {
            Some(at) => {
                set.push("next_attempt_at = :next");
                request = request.expression_attribute_values(":next", ts(at));
            }
            None => remove.push("next_attempt_at"),
        }
        if let Some(hash) = &attempt_body_sha256 {
            // The sparse index ByBodyHash answers `POST /v1/ipn/verify`.
            set.push("body_sha256 = :body");
            request = request.expression_attribute_values(":body", s(hash));
        }
        match last_error {
            Some(err) => {
                set.push("last_error = :err");
                request = request.expression_attribute_values(":err", s(err));
            }
            None => remove.push("last_error"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Puts a delivered or failed notification back to `queued` for a manual
    /// resend; its attempts stay in the log. Answers the status it had, or
    /// an error: 404 if there is no such notification, 409 if it is still
    /// queued or retrying (a second chain would send it twice).
    pub async fn requeue_notification(
        &self,
        account_id: &str,
        notification_id: &str,
    ) -> Result<Status> {
        let Some(current) = self.get_notification(account_id, notification_id).await? else {
            return Err(Error::NotFound("notification"));
        };
        let pending = Error::Conflict {
            code: "notification_pending",
            message:
                "this notification is still queued or retrying; it will be sent without a resend"
                    .into(),
        };
        if !current.status.is_final() {
            return Err(pending);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .condition_expression("#st = :was")
            .update_expression(
                "SET #st = :queued, by_status = :by_status, updated_at = :now, \
                 chain_start = :start REMOVE next_attempt_at, last_error, lease_until",
            )
            .expression_attribute_values(
                ":start",
                AttributeValue::N(current.attempts.len().to_string()),
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":was", s(current.status.as_str()))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":by_status", status_key(account_id, Status::Queued))
            .expression_attribute_values(":now", ts(Utc::now()))
            .send()
            .await;
        match applied(result)? {
            true => Ok(current.status),
            false => Err(pending),
        }
    }

    /// Sets a notification's status back (a resend that could not be queued).
    pub async fn restore_status(
        &self,
        account_id: &str,
        notification_id: &str,
        status: Status,
    ) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .update_expression("SET #st = :st, by_status = :by_status")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":by_status", status_key(account_id, status))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Takes the lease on a notification's next attempt, so that two
    /// invocations holding copies of its message cannot both send it: the
    /// condition holds only while it is pending, nobody else holds an
    /// unexpired lease, and no attempt was logged since `seen` was read.
    /// Recording the attempt releases the lease; a crashed holder's lapses.
    pub async fn lease_attempt(
        &self,
        seen: &Notification,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool> {
        let millis = |t: DateTime<Utc>| AttributeValue::N(t.timestamp_millis().to_string());
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(&seen.account_id))
            .key("notification_id", s(&seen.notification_id))
            .condition_expression(
                "#st IN (:queued, :retrying) AND size(attempts) = :seen \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .update_expression("SET lease_until = :until")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":retrying", s("retrying"))
            .expression_attribute_values(
                ":seen",
                AttributeValue::N(seen.attempts.len().to_string()),
            )
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":until", millis(now + lease))
            .send()
            .await;
        applied(result)
    }

    /// Whether INC sent a webhook with exactly this body to this account
    /// (PayPal's IPN postback): a key condition on the sparse index
    /// `ByBodyHash`, scoped to the account.
    pub async fn sent_body(&self, account_id: &str, body: &[u8]) -> Result<bool> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.notifications)
            .index_name("ByBodyHash")
            .key_condition_expression("account_id = :a AND body_sha256 = :h")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(":h", s(&crate::webhook::body_sha256(body)))
            .limit(1)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.count > 0)
    }

    /// Marks a notification failed without a new attempt (a poison message).
    pub async fn mark_failed(
        &self,
        account_id: &str,
        notification_id: &str,
        reason: &str,
    ) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.notifications)
            .key("account_id", s(account_id))
            .key("notification_id", s(notification_id))
            .condition_expression("attribute_exists(notification_id)")
            .update_expression(
                "SET #st = :failed, by_status = :by_status, last_error = :err, updated_at = :now \
                 REMOVE next_attempt_at, lease_until",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":by_status", status_key(account_id, Status::Failed))
            .expression_attribute_values(":err", s(reason))
            .expression_attribute_values(":now", ts(Utc::now()))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The account's notifications, newest first, a page at a time.
    ///
    /// Every filter is served by a key condition: the most selective one
    /// picks the index (see [`LogIndex`]), the time window is a range on
    /// its sort key `notification_id` (a ULID, so it sorts by time), and
    /// only a second filter is left to a filter expression. Pages are read
    /// until `limit` entries match, so a page is short only at the end and
    /// the cursor (the last id returned) never skips or repeats an entry.
    pub async fn list_notifications(
        &self,
        account_id: &str,
        query: &LogQuery,
    ) -> Result<(Vec<Notification>, Option<String>)> {
        let index = LogIndex::pick(account_id, query);
        let lower = query
            .since
            .map_or_else(|| "ntf_".to_owned(), |t| bound(t, false));
        let upper = query
            .until
            .map_or_else(|| "ntf_~".to_owned(), |t| bound(t, true));
        let limit = usize::try_from(query.limit.max(1)).unwrap_or(1);
        let mut start = match &query.cursor {
            Some(cursor) => {
                let last = decode_cursor(cursor)?;
                let mut key = HashMap::from([
                    ("account_id".to_owned(), s(account_id)),
                    ("notification_id".to_owned(), s(&last)),
                ]);
                if let Some((attribute, value)) = index.partition() {
                    key.insert(attribute.to_owned(), s(value));
                }
                Some(key)
            }
            None => None,
        };
        let mut found: Vec<Notification> = Vec::new();
        loop {
            let (key_attribute, key_value) =
                index.partition().unwrap_or(("account_id", account_id));
            let mut request = self
                .client
                .query()
                .table_name(&self.tables.notifications)
                .set_index_name(index.name().map(str::to_owned))
                .key_condition_expression("#pk = :pk AND notification_id BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", key_attribute)
                .expression_attribute_values(":pk", s(key_value))
                .expression_attribute_values(":lo", s(&lower))
                .expression_attribute_values(":hi", s(&upper))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(query.limit.max(1));
            let mut filters = Vec::new();
            if let Some(channel) = query.channel.filter(|_| !index.covers_channel()) {
                filters.push("channel = :ch");
                request = request.expression_attribute_values(":ch", s(channel.as_str()));
            }
            if let Some(status) = query.status.filter(|_| !index.covers_status()) {
                filters.push("#st = :st");
                request = request
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":st", s(status.as_str()));
            }
            if let Some(session_id) = query
                .session_id
                .as_ref()
                .filter(|_| !index.covers_session())
            {
                filters.push("session_id = :sid");
                request = request.expression_attribute_values(":sid", s(session_id));
            }
            if let Some(order_no) = query.order_no.as_ref().filter(|_| !index.covers_order()) {
                filters.push("order_no = :ono");
                request = request.expression_attribute_values(":ono", s(order_no));
            }
            if !filters.is_empty() {
                request = request.filter_expression(filters.join(" AND "));
            }
            let page = request.send().await.map_err(db_err)?;
            found.extend(
                from_items::<_, Notification>(page.items.unwrap_or_default())
                    .map_err(|e| Error::Dependency(format!("cannot decode stored item: {e}")))?,
            );
            let more = page.last_evaluated_key.is_some();
            if found.len() >= limit || !more {
                // `more` implies at least `limit` entries were found.
                let next = (found.len() > limit || more)
                    .then(|| found.get(limit - 1))
                    .flatten()
                    .map(|n| URL_SAFE_NO_PAD.encode(&n.notification_id));
                found.truncate(limit);
                return Ok((found, next));
            }
            start = page.last_evaluated_key;
        }
    }

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

    /// Every notification about one transaction, through the index
    /// `BySession`: a key condition, no scan.
    pub async fn notifications_of_session(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> Result<Vec<Notification>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.notifications)
                .index_name("BySession")
                .key_condition_expression("by_session = :s")
                .expression_attribute_values(":s", s(&index_key(account_id, session_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(db_err)?;
            out.extend(
                from_items::<_, Notification>(page.items.unwrap_or_default())
                    .map_err(|e| Error::Dependency(format!("unreadable notification: {e}")))?,
            );
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(out),
            }
        }
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

    /// Stores new notifications (a manual resend) in one transaction.
    pub async fn put_notifications(&self, notifications: &[Notification]) -> Result<()> {
        if notifications.is_empty() {
            return Ok(());
        }
        let mut request = self.client.transact_write_items();
        for n in notifications {
            let put = Put::builder()
                .table_name(&self.tables.notifications)
                .set_item(Some(notification_item(n)?))
                .condition_expression("attribute_not_exists(notification_id)")
                .build()
                .map_err(Error::dependency)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        request.send().await.map_err(db_err)?;
        Ok(())
    }

    /// Removes notifications that could not be queued.
    pub async fn delete_notifications(&self, notifications: &[Notification]) -> Result<()> {
        for n in notifications {
            self.client
                .delete_item()
                .table_name(&self.tables.notifications)
                .key("account_id", s(&n.account_id))
                .key("notification_id", s(&n.notification_id))
                .send()
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Answers when DynamoDB does (for `/v1/health`).
    pub async fn ping(&self) -> Result<()> {
        self.client
            .describe_table()
            .table_name(&self.tables.accounts)
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

/// The smallest (or largest) notification id of a millisecond.
/// The partition key of the history indexes: one partition per account
/// and value, sorted by `notification_id`.
fn index_key(account_id: &str, value: &str) -> String {
    format!("{account_id}#{value}")
}

/// A notification as stored: its fields, plus the partition keys of the
/// history indexes it belongs to (`by_session` and `by_order` only when
/// it is about a payment, so those indexes are sparse).
fn notification_item(n: &Notification) -> Result<HashMap<String, AttributeValue>> {
    let mut item = ser(n)?;
    let account = &n.account_id;
    let mut key = |attribute: &str, value: &str| {
        item.insert(attribute.to_owned(), s(&index_key(account, value)));
    };
    key("by_status", n.status.as_str());
    key("by_channel", n.channel.as_str());
    if let Some(session_id) = &n.session_id {
        key("by_session", session_id);
    }
    if let Some(order_no) = &n.order_no {
        key("by_order", order_no);
    }
    Ok(item)
}

/// The `by_status` key a status change writes with the status.
fn status_key(account_id: &str, status: Status) -> AttributeValue {
    s(&index_key(account_id, status.as_str()))
}

/// Which key serves a history query: the most selective filter it has.
/// A session or an order holds a handful of notifications, a status
/// (`failed` above all) is rarer than a channel, and without any filter
/// the table's own key, the account, serves it.
enum LogIndex {
    Account,
    Session(String),
    Order(String),
    Status(String),
    Channel(String),
}

impl LogIndex {
    fn pick(account_id: &str, query: &LogQuery) -> LogIndex {
        let key = |value: &str| index_key(account_id, value);
        if let Some(session_id) = &query.session_id {
            LogIndex::Session(key(session_id))
        } else if let Some(order_no) = &query.order_no {
            LogIndex::Order(key(order_no))
        } else if let Some(status) = query.status {
            LogIndex::Status(key(status.as_str()))
        } else if let Some(channel) = query.channel {
            LogIndex::Channel(key(channel.as_str()))
        } else {
            LogIndex::Account
        }
    }

    fn name(&self) -> Option<&'static str> {
        match self {
            LogIndex::Account => None,
            LogIndex::Session(_) => Some("BySession"),
            LogIndex::Order(_) => Some("ByOrder"),
            LogIndex::Status(_) => Some("ByStatus"),
            LogIndex::Channel(_) => Some("ByChannel"),
        }
    }

    /// The index's partition key attribute and the value queried.
    fn partition(&self) -> Option<(&'static str, &str)> {
        match self {
            LogIndex::Account => None,
            LogIndex::Session(v) => Some(("by_session", v)),
            LogIndex::Order(v) => Some(("by_order", v)),
            LogIndex::Status(v) => Some(("by_status", v)),
            LogIndex::Channel(v) => Some(("by_channel", v)),
        }
    }

    fn covers_session(&self) -> bool {
        matches!(self, LogIndex::Session(_))
    }
    fn covers_order(&self) -> bool {
        matches!(self, LogIndex::Order(_))
    }
    fn covers_status(&self) -> bool {
        matches!(self, LogIndex::Status(_))
    }
    fn covers_channel(&self) -> bool {
        matches!(self, LogIndex::Channel(_))
    }
}

fn bound(t: DateTime<Utc>, upper: bool) -> String {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    let random = if upper { u128::MAX } else { 0 };
    format!("ntf_{}", ulid::Ulid::from_parts(ms, random))
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| id.starts_with("ntf_") && id.len() <= 64)
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "cursor: not a cursor this API returned",
                Some("cursor"),
            )
        })
}
