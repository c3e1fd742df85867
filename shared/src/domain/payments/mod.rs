//! Payments (contract sections 4, 5 and 11): the transaction INC keeps
//! from a payment's changes, the state × channel rules, the texts its
//! customer messages say, planning what an event causes (the webhooks and
//! one customer message per allowed channel), and the order's timeline.

pub mod plan;
pub mod rules;
pub mod texts;
pub mod timeline;
pub mod transaction;
