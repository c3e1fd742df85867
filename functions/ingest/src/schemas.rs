//! The compiled schemas of an account's declared event types, kept for the
//! life of the function instance: a type's schema is compiled once per
//! version (its `updated_at` and text) and reused by every event of that
//! type, instead of once per event. A `PUT /v1/event-types/{type}` makes a
//! new version, which the next event compiles; the item is still read per
//! event, so a change is seen at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use inc_shared::Result;
use inc_shared::domain::{EventType, Schema};

/// At most this many compiled schemas are kept; past it the cache starts
/// afresh (an instance serving that many types recompiles now and then).
const MAX_KEPT: usize = 1_000;

struct Compiled {
    version: DateTime<Utc>,
    text: String,
    schema: Arc<Schema>,
}

#[derive(Default)]
pub struct Schemas {
    kept: Mutex<HashMap<(String, String), Compiled>>,
}

impl Schemas {
    /// The compiled schema of `declared`, if it has one.
    pub fn of(&self, declared: &EventType) -> Result<Option<Arc<Schema>>> {
        let Some(text) = &declared.schema else {
            return Ok(None);
        };
        let key = (declared.account_id.clone(), declared.event_type.clone());
        if let Some(c) = self.lock().get(&key)
            && c.version == declared.updated_at
            && &c.text == text
        {
            return Ok(Some(c.schema.clone()));
        }
        let Some(schema) = declared.validator()? else {
            return Ok(None);
        };
        let schema = Arc::new(schema);
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(
            key,
            Compiled {
                version: declared.updated_at,
                text: text.clone(),
                schema: schema.clone(),
            },
        );
        Ok(Some(schema))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Compiled>> {
        // A panic while holding it cannot leave a half-written entry.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(schema: &str, at: DateTime<Utc>) -> EventType {
        EventType {
            account_id: "acc_1".into(),
            event_type: "iot.reading".into(),
            description: String::new(),
            schema: Some(schema.into()),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_version_is_compiled_once_and_a_new_one_again() {
        let schemas = Schemas::default();
        let at = Utc::now();
        let v1 = declared(r#"{"type": "object", "required": ["t"]}"#, at);
        let first = schemas.of(&v1).expect("compiles").expect("a schema");
        let again = schemas.of(&v1).expect("compiles").expect("a schema");
        assert!(Arc::ptr_eq(&first, &again), "reused, not compiled again");

        let v2 = declared(
            r#"{"type": "object", "required": ["u"]}"#,
            at + chrono::Duration::seconds(1),
        );
        let second = schemas.of(&v2).expect("compiles").expect("a schema");
        assert!(!Arc::ptr_eq(&first, &second), "a new version is compiled");
        assert!(second.check(&serde_json::json!({"t": 1})).is_err());
        assert!(second.check(&serde_json::json!({"u": 1})).is_ok());

        let none = EventType {
            schema: None,
            ..v2.clone()
        };
        assert!(schemas.of(&none).expect("no schema").is_none());
    }
}
