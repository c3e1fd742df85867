//! Times as the API reads them.

use crate::error::Error;

/// An RFC 3339 time given as `field`, or a `400` naming it with `code`.
pub fn parse_time(
    code: &'static str,
    field: &str,
    value: &str,
) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            Error::bad_request(
                code,
                format!("{field}: must be an RFC 3339 time, such as 2025-01-30T22:00:00Z"),
                Some(field),
            )
        })
}
