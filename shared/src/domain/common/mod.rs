//! What every rule speaks in, owned by no one concept: reading JSON
//! strictly, ids and API keys, the names of the channels, the addresses a
//! customer is reached at, times as the API reads them, and the URL policy
//! every outgoing call obeys.

pub mod address;
pub mod channel;
pub mod ids;
pub mod json;
pub mod time;
pub mod url_policy;
