//! The people a merchant talks to (contract section 12): recipients with
//! their addresses, language, time zone and data ([`recipient`]), their
//! preferences per category and channel ([`preferences`]), and lists, the
//! audiences campaigns reach ([`lists`]).

use crate::error::Error;

pub mod lists;
pub mod preferences;
pub mod recipient;

/// A `400` naming `field`.
pub(crate) fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}
