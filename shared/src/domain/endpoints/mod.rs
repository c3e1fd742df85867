//! Where webhooks go (contract sections 7 and 8): an endpoint and what a
//! create or patch may say, its event-type filter, its signatures, its
//! rate limit, its hourly stats, and the alerts INC sends the merchant
//! about its health.

pub mod alerts;
pub mod endpoint;
pub mod input;
pub mod rate_limit;
pub mod signing;
pub mod stats;
