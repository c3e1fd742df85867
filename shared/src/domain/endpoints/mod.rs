//! Where webhooks go (contract sections 7, 8 and 15): an endpoint and what a
//! create or patch may say (`input`), which kind it is (`kind`: HTTP or a
//! queue, topic or bus), its event-type filter, its signatures, its
//! rate limit, its hourly stats, and the alerts INC sends the merchant
//! about its health.

pub mod alerts;
pub mod endpoint;
pub mod input;
pub mod kind;
pub mod rate_limit;
pub mod signing;
pub mod stats;
