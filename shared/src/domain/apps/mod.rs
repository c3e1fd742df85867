//! Apps (contract section 14): a recipient's devices and the mobile push
//! sent to them by FCM or APNs ([`devices`], [`push`]), its in-app feed
//! ([`feed`]), and the recipient token an app reads its feed with
//! ([`token`]).

pub mod devices;
pub mod feed;
pub mod push;
pub mod token;

use crate::error::Error;

/// A `400` naming `field`.
pub(crate) fn invalid(field: &str, why: &str) -> Error {
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(field))
}
