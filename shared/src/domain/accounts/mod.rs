//! An account's settings (contract sections 4, 8, 9): INC on or off and
//! the Genio toggles, the customer-channel providers with their write-only
//! secrets, quiet hours, and where alerts go.

pub mod alerts;
pub mod providers;
pub mod quiet_hours;
pub mod settings;
