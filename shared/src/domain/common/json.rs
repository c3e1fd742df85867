//! Reading a JSON body strictly: a key that appears twice in one object is
//! refused with a `400` naming it (`data.state`), as form bodies already
//! refuse a repeated field. serde_json alone would keep the last one, so
//! `{"inc_enabled": true, "inc_enabled": false}` would silently turn INC off.

use std::cell::RefCell;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::Error;

/// Parses a body that must be a JSON object with no key repeated at any
/// depth.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match value(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::bad_request(
            "invalid_body",
            "the body must be a JSON object",
            None,
        )),
    }
}

/// Parses any JSON document, refusing repeated keys.
pub fn value(body: &[u8]) -> Result<Value, Error> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(path)) => Err(Error::bad_request(
            "duplicate_key",
            format!("{path}: appears more than once in the body"),
            Some(&path),
        )),
        (Err(e), None) => Err(Error::bad_request(
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
            None,
        )),
    }
}

/// A JSON value at `path`; the first repeated key is written to `duplicate`.
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl Strict<'_> {
    fn child(&self, segment: &str) -> String {
        match self.path.is_empty() {
            true => segment.to_owned(),
            false => format!("{}.{segment}", self.path),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(A::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Strict {
                path,
                duplicate: self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> Error {
        object(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn a_repeated_key_is_named_at_any_depth() {
        for (body, field) in [
            (
                r#"{"inc_enabled": true, "inc_enabled": false}"#,
                "inc_enabled",
            ),
            (r#"{"id": "a", "type": "x.y", "id": "b"}"#, "id"),
            (
                r#"{"id": "a", "data": {"state": "paid", "state": "failed"}}"#,
                "data.state",
            ),
            (r#"{"a": [{"b": 1}, {"b": 1, "b": 2}]}"#, "a[1].b"),
        ] {
            let e = refused(body);
            assert_eq!(e.code(), "duplicate_key", "{body}");
            assert_eq!(e.field(), Some(field), "{body}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn the_same_key_in_sibling_objects_is_fine_and_values_are_kept() {
        let map = object(br#"{"a": {"k": 1}, "b": {"k": -2.5}, "c": [null, "x", true]}"#).unwrap();
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"a": {"k": 1}, "b": {"k": -2.5}, "c": [null, "x", true]})
        );
    }

    #[test]
    fn not_json_and_not_an_object_are_told_apart() {
        assert_eq!(refused("{nope").code(), "invalid_json");
        assert_eq!(refused("{} trailing").code(), "invalid_json");
        assert_eq!(refused("[1]").code(), "invalid_body");
    }
}
