//! Accounts, their API keys, settings and signing secret.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_dynamo::{from_items, to_attribute_value};

use super::{Store, applied, db_err, de, s, ser, ts};
use crate::domain::common::ids;
use crate::domain::endpoints::signing::{self, SECRET_OVERLAP};
use crate::domain::{DEFAULT_ENDPOINT_ID, Endpoint, Settings};
use crate::error::{Error, Result};

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
    /// Bumped by every settings write, which is conditional on the version
    /// read: two patches at once never lose each other's change.
    #[serde(default)]
    pub settings_version: u64,
    /// Bumped by every write that changes what an event's endpoints are
    /// decided by (an endpoint created, changed, deleted, or disabled by
    /// its health), in that write's transaction: ingest keeps an account's
    /// routes while it is unchanged (see `routes_cache`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub routes_version: u64,
    /// The default endpoint's health (contract section 8), kept here as a
    /// stored endpoint keeps its own on its item; each change bumps
    /// `settings_version`, so a warm deliver instance sees it at once.
    #[serde(default = "enabled", skip_serializing_if = "Clone::clone")]
    pub default_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_disabled_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_failing_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_failing_alerted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_updated_at: Option<DateTime<Utc>>,
    /// The token of the account's receipt URLs (contract section 10);
    /// accounts made before receipts get one when they first ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_token: Option<String>,
}

fn enabled() -> bool {
    true
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Account {
    /// The default endpoint (the settings' `endpoint_url`) as an endpoint
    /// like the stored ones: no filter, `webhook_format`, signed with the
    /// account's secret, with its health.
    pub fn default_endpoint(&self) -> Option<Endpoint> {
        let url = self.settings.endpoint_url.clone()?;
        Some(Endpoint {
            account_id: self.account_id.clone(),
            endpoint_id: DEFAULT_ENDPOINT_ID.to_owned(),
            url,
            destination: Default::default(),
            transformation: None,
            description: "The account's endpoint_url (PATCH /v1/settings).".to_owned(),
            filter_types: None,
            format: self.settings.webhook_format,
            enabled: self.default_enabled,
            rate_limit: None,
            headers: Default::default(),
            disabled_reason: self.default_disabled_reason.clone(),
            failing_since: self.default_failing_since,
            failing_alerted: self.default_failing_alerted,
            created_at: self.created_at,
            updated_at: self.default_updated_at.unwrap_or(self.created_at),
            secret: self.signing_secret.clone(),
            previous_secret: self.previous_secret.clone(),
            previous_secret_expires_at: self.previous_secret_expires_at,
            version: self.settings_version,
        })
    }

    /// The secrets that sign a webhook now: the current one, and the
    /// previous one while its overlap lasts (see [`signing::active_secrets`]).
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        signing::active_secrets(
            &self.signing_secret,
            self.previous_secret.as_deref(),
            self.previous_secret_expires_at,
            now,
        )
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

impl Store {
    /// Creates an account with default settings, a signing secret and one
    /// API key; returns the key, which is stored only as its hash.
    pub async fn create_account(&self, name: &str) -> Result<(Account, String)> {
        let now = Utc::now();
        let account_id = ids::new_account_id();
        let account = Account {
            receipt_token: Some(ids::new_receipt_token(&account_id)),
            account_id,
            name: name.to_owned(),
            created_at: now,
            settings: Settings::default(),
            signing_secret: signing::new_secret(),
            previous_secret: None,
            previous_secret_expires_at: None,
            settings_version: 0,
            routes_version: 0,
            default_enabled: true,
            default_disabled_reason: None,
            default_failing_since: None,
            default_failing_alerted: false,
            default_updated_at: None,
        };
        let api_key = ids::new_api_key(&account.account_id);
        let key_item = ApiKeyItem {
            key_hash: ids::hash_api_key(&api_key),
            key_id: ids::new_key_id(),
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

    /// The account an API key belongs to, if the key is known. A key names
    /// its account, or this instance has seen it (see `key_cache`): the key
    /// is then checked with its account in one call, so a revoked key is
    /// refused at its next request. Only a key of the older shape, the first
    /// time an instance meets it, takes two reads.
    pub async fn account_for_key(&self, api_key: &str) -> Result<Option<Account>> {
        let hash = ids::hash_api_key(api_key);
        let named = ids::api_key_account(api_key);
        let hint = named
            .map(str::to_owned)
            .or_else(|| self.keys.account_of(&hash));
        if let Some(account_id) = hint
            && let Some(found) = self.key_and_account(&hash, &account_id).await?
        {
            if found.is_none() {
                self.keys.forget(&hash);
            }
            return Ok(found);
        }
        let Some(key) = self
            .get::<ApiKeyItem>(&self.tables.api_keys, &[("key_hash", &hash)])
            .await?
        else {
            return Ok(None);
        };
        let account = self.get_account(&key.account_id).await?;
        if account.is_some() && named.is_none() {
            self.keys.put(&hash, &key.account_id);
        }
        Ok(account)
    }

    /// The key (is it still there, still this account's?) and the account,
    /// in one `BatchGetItem`; `None` if DynamoDB left part of it unread.
    async fn key_and_account(
        &self,
        key_hash: &str,
        account_id: &str,
    ) -> Result<Option<Option<Account>>> {
        let wanted = |name: &str, value: &str| {
            KeysAndAttributes::builder()
                .keys(HashMap::from([(name.to_owned(), s(value))]))
                .consistent_read(true)
        };
        let key = wanted("key_hash", key_hash)
            .projection_expression("account_id")
            .build()
            .map_err(Error::dependency)?;
        let account = wanted("account_id", account_id)
            .build()
            .map_err(Error::dependency)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.tables.api_keys, key)
            .request_items(&self.tables.accounts, account)
            .send()
            .await
            .map_err(db_err)?;
        if out.unprocessed_keys.is_some_and(|left| !left.is_empty()) {
            return Ok(None);
        }
        let mut responses = out.responses.unwrap_or_default();
        let mut first = |table: &str| responses.remove(table).and_then(|i| i.into_iter().next());
        let key_holds = first(&self.tables.api_keys)
            .and_then(|mut item| item.remove("account_id"))
            .is_some_and(|owner| owner == s(account_id));
        let account = first(&self.tables.accounts).map(de).transpose()?;
        Ok(Some(account.filter(|_| key_holds)))
    }

    /// Adds an API key to an existing account; returns its id and the key,
    /// which is stored only as its hash.
    pub async fn create_key(&self, account_id: &str) -> Result<(KeyInfo, String)> {
        if self.get_account(account_id).await?.is_none() {
            return Err(Error::NotFound("account"));
        }
        let api_key = ids::new_api_key(account_id);
        let item = ApiKeyItem {
            key_hash: ids::hash_api_key(&api_key),
            key_id: ids::new_key_id(),
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

    /// Writes `settings` over the ones `account` was read with; false (and
    /// nothing written) if another write came first: read again and retry.
    pub async fn put_settings(&self, account: &Account, settings: &Settings) -> Result<bool> {
        let value = to_attribute_value(settings)
            .map_err(|e| Error::Dependency(format!("cannot encode settings: {e}")))?;
        let read = account.settings_version;
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .key("account_id", s(&account.account_id))
            .update_expression(
                match account.settings.endpoint_url == settings.endpoint_url {
                    true => "SET settings = :s, settings_version = :next".to_owned(),
                    // A new URL is a new default endpoint: its health starts afresh.
                    false => format!(
                        "SET settings = :s, settings_version = :next REMOVE {}",
                        super::endpoint_health::DEFAULT_HEALTH
                    ),
                },
            )
            .expression_attribute_values(":s", value)
            .expression_attribute_values(":next", AttributeValue::N((read + 1).to_string()))
            // Accounts stored before versions existed have none: version 0.
            .condition_expression(
                "attribute_exists(account_id) AND \
                 (settings_version = :read OR attribute_not_exists(settings_version))",
            )
            .expression_attribute_values(":read", AttributeValue::N(read.to_string()));
        applied(request.send().await)
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
            // A new version: deliver's cached accounts sign with the new secret.
            .update_expression("SET signing_secret = :new, previous_secret = :old, previous_secret_expires_at = :until ADD settings_version :one")
            .condition_expression("signing_secret = :old")
            .expression_attribute_values(":new", s(&new))
            .expression_attribute_values(":old", s(&account.signing_secret))
            .expression_attribute_values(":until", ts(now + SECRET_OVERLAP))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
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

    /// The account's receipt token, made now (once, whoever asks at the
    /// same time) for an account older than receipts.
    pub async fn receipt_token(&self, account: &Account) -> Result<String> {
        if let Some(token) = &account.receipt_token {
            return Ok(token.clone());
        }
        let token = ids::new_receipt_token(&account.account_id);
        let set = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .key("account_id", s(&account.account_id))
            .update_expression("SET receipt_token = :t")
            .condition_expression(
                "attribute_exists(account_id) AND attribute_not_exists(receipt_token)",
            )
            .expression_attribute_values(":t", s(&token))
            .send()
            .await;
        if applied(set)? {
            return Ok(token);
        }
        // Another request made it first: that one stands.
        self.get_account(&account.account_id)
            .await?
            .and_then(|a| a.receipt_token)
            .ok_or(Error::NotFound("account"))
    }

    /// The account whose receipt token this is; `None` for any other
    /// string, in time that does not tell how close a guess came.
    pub async fn account_for_receipt_token(&self, token: &str) -> Result<Option<Account>> {
        let Some(account_id) = ids::receipt_token_account(token) else {
            return Ok(None);
        };
        Ok(self.get_account(account_id).await?.filter(|a| {
            a.receipt_token
                .as_deref()
                .is_some_and(|t| ids::same_token(t, token))
        }))
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
