//! Lists (contract section 12): named audiences of up to a million
//! recipients, their members added in validated batches of up to 1,000 and
//! counted exactly.
//!
//! # Members across partitions
//! A list's members are spread over [`SHARDS`] partition keys, each member
//! in the shard its id hashes to ([`shard_of`]). One partition key takes at
//! most 1,000 write units a second on DynamoDB: a million members imported
//! under one key would take over 16 minutes at best and throttle every other
//! write to it, while sixteen keys take sixteen times that. Reading a list
//! for a campaign is then [`SHARDS`] queries by partition key, each paged
//! and independent — never a scan, and a natural unit of parallel work for
//! the fan-out. The member's id is the sort key, so adding one twice is one
//! conditional put, and removing it is one conditional delete.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::recipients::invalid;
use crate::domain::recipients::recipient::{RecipientSpec, check_id};
use crate::error::{Error, Result};

/// How many partition keys one list's members are spread over.
pub const SHARDS: u32 = 16;
/// Most members one `POST /v1/lists/{id}/members` adds.
pub const MAX_BATCH: usize = 1_000;
/// Most members a list holds.
pub const MAX_MEMBERS: u64 = 1_000_000;
/// Longest list name.
pub const MAX_NAME_LEN: usize = 200;

/// A list as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    pub account_id: String,
    pub list_id: String,
    pub name: String,
    /// Kept by the same transactions that add and remove members.
    #[serde(default)]
    pub member_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl List {
    pub fn view(&self) -> Value {
        json!({
            "id": self.list_id,
            "name": self.name,
            "member_count": self.member_count,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// The shard of a list that holds `recipient_id` (stable: the first bytes
/// of its SHA-256).
pub fn shard_of(recipient_id: &str) -> u32 {
    let digest = Sha256::digest(recipient_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

/// The partition key of one shard of a list of an account.
pub fn shard_key(account_id: &str, list_id: &str, shard: u32) -> String {
    format!("{account_id}#{list_id}#{shard:02}")
}

/// `PUT /v1/lists/{id}`: `{"name"}`.
pub fn name_from_json(body: &[u8]) -> Result<String> {
    let mut top = crate::domain::json_object(body)?;
    if let Some(key) = top.keys().find(|k| k.as_str() != "name") {
        return Err(Error::bad_request(
            "unknown_field",
            format!("{key}: unknown field; a list has `name`"),
            Some(key),
        ));
    }
    match top.remove("name") {
        Some(Value::String(name))
            if !name.trim().is_empty()
                && name.chars().count() <= MAX_NAME_LEN
                && !name.chars().any(char::is_control) =>
        {
            Ok(name)
        }
        Some(Value::String(_)) => Err(invalid(
            "name",
            &format!("must be 1 to {MAX_NAME_LEN} printable characters"),
        )),
        Some(_) => Err(invalid("name", "must be a string")),
        None => Err(invalid("name", "is required")),
    }
}

/// `POST /v1/lists/{id}/members`: `{"recipients": [{"id", …}, …]}`, 1 to
/// [`MAX_BATCH`] rows, each a recipient as `PUT` takes it plus its `id`.
/// The whole batch is checked before anything is written: a bad row is a
/// `400` naming `recipients[i].field`.
pub fn members_from_json(body: &[u8]) -> Result<Vec<(String, RecipientSpec)>> {
    let mut top = crate::domain::json_object(body)?;
    if let Some(key) = top.keys().find(|k| k.as_str() != "recipients") {
        return Err(Error::bad_request(
            "unknown_field",
            format!("{key}: unknown field; the body has `recipients`"),
            Some(key),
        ));
    }
    let Some(Value::Array(rows)) = top.remove("recipients") else {
        return Err(invalid(
            "recipients",
            "is required: a list of recipients, each with its id",
        ));
    };
    if rows.is_empty() || rows.len() > MAX_BATCH {
        return Err(invalid(
            "recipients",
            &format!("must hold 1 to {MAX_BATCH} recipients"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let prefix = format!("recipients[{i}].");
        let Value::Object(mut row) = row else {
            return Err(invalid(&format!("recipients[{i}]"), "must be an object"));
        };
        let id_field = format!("{prefix}id");
        let id = match row.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(_) => return Err(invalid(&id_field, "must be a string")),
            None => return Err(invalid(&id_field, "is required")),
        };
        check_id(&id, &id_field)?;
        if !seen.insert(id.clone()) {
            return Err(invalid(&id_field, "appears twice in this batch"));
        }
        row.remove("id");
        let spec = RecipientSpec::from_object(row, &prefix)?;
        out.push((id, spec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_and_stay_put() {
        let mut counts = [0u32; SHARDS as usize];
        for i in 0..16_000 {
            counts[shard_of(&format!("user-{i}")) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard_of("ada"), shard_of("ada"));
        assert_eq!(shard_key("acc", "vip", 3), "acc#vip#03");
    }

    #[test]
    fn a_batch_is_checked_whole_and_a_bad_row_is_named() {
        let ok = members_from_json(
            br#"{"recipients": [{"id": "a", "phone": "+96599999999"}, {"id": "b"}]}"#,
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].1.phone.as_deref(), Some("+96599999999"));
        for (body, field) in [
            (
                r#"{"recipients": [{"id": "a"}, {"id": "b", "phone": "1"}]}"#,
                "recipients[1].phone",
            ),
            (
                r#"{"recipients": [{"id": "a"}, {"id": "a"}]}"#,
                "recipients[1].id",
            ),
            (
                r#"{"recipients": [{"phone": "+96599999999"}]}"#,
                "recipients[0].id",
            ),
            (r#"{"recipients": [{"id": "a b"}]}"#, "recipients[0].id"),
            (
                r#"{"recipients": [{"id": "a", "x": 1}]}"#,
                "recipients[0].x",
            ),
            (r#"{"recipients": [3]}"#, "recipients[0]"),
            (r#"{"recipients": []}"#, "recipients"),
            (r#"{"members": []}"#, "members"),
        ] {
            let e = members_from_json(body.as_bytes()).expect_err(body);
            assert_eq!(e.field(), Some(field), "{body}");
        }
        let many: Vec<String> = (0..=MAX_BATCH)
            .map(|i| format!(r#"{{"id": "u{i}"}}"#))
            .collect();
        let body = format!(r#"{{"recipients": [{}]}}"#, many.join(","));
        assert_eq!(
            members_from_json(body.as_bytes())
                .expect_err("too many")
                .field(),
            Some("recipients")
        );
    }

    #[test]
    fn a_name_is_required_and_bounded() {
        assert_eq!(name_from_json(br#"{"name": "VIP"}"#).expect("valid"), "VIP");
        for body in [r#"{}"#, r#"{"name": ""}"#, r#"{"name": 5}"#] {
            assert_eq!(
                name_from_json(body.as_bytes()).expect_err(body).field(),
                Some("name")
            );
        }
        assert_eq!(
            name_from_json(br#"{"title": "x"}"#).expect_err("x").field(),
            Some("title")
        );
    }
}
