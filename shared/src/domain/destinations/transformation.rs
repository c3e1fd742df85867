//! An endpoint's transformation: a jq program applied to the webhook's
//! JSON `{"id", "type", "created_at", "data"}`, whose single output — an
//! object, or a string sent as is — is the body sent. Compiled at save
//! and run bounded by `crate::jq`; what fails there fails the notification
//! for good, since the same program fails the same event every time.

use crate::error::{Error, Result};

/// The longest program, in bytes.
pub const MAX_LEN: usize = 16 * 1024;

/// How a notification failed by its transformation begins.
pub const FAILED: &str = "the transformation failed";

/// The `transformation` field of a body: a program, or `null` for none.
pub fn parse(value: &serde_json::Value) -> Result<Option<String>> {
    let field = "transformation";
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) if s.len() > MAX_LEN => Err(Error::unprocessable(
            "invalid_transformation",
            format!("{field}: at most {} KiB of jq", MAX_LEN / 1024),
            Some(field),
        )),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        _ => Err(Error::bad_request(
            "invalid_field",
            format!("{field}: must be a jq program (a string), or null"),
            Some(field),
        )),
    }
}

/// The `422` for a program that does not compile.
pub fn not_compiling(error: &str) -> Error {
    Error::unprocessable(
        "invalid_transformation",
        format!("transformation: does not compile: {error}"),
        Some("transformation"),
    )
}

/// A notification's `last_error` when its transformation failed.
pub fn failure(error: &str) -> String {
    format!("{FAILED}: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_program_is_a_bounded_string_or_null() {
        assert_eq!(parse(&json!(null)).expect("null"), None);
        assert_eq!(parse(&json!("  ")).expect("blank"), None);
        assert_eq!(
            parse(&json!("{id}")).expect("program"),
            Some("{id}".to_owned())
        );
        let e = parse(&json!(7)).expect_err("number");
        assert_eq!((e.status(), e.field()), (400, Some("transformation")));
        let long = ".".repeat(MAX_LEN + 1);
        let e = parse(&json!(long)).expect_err("long");
        assert_eq!((e.status(), e.field()), (422, Some("transformation")));
    }
}
