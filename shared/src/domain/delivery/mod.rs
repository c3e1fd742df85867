//! Delivering a notification: the notification itself (its payload, its
//! attempts, its status, receipt and staging), how an attempt's answer is
//! read ([`outcome`]), when the next try comes ([`retry`]), the one
//! stop-or-retry decision ([`decision`]), the message on the delivery
//! queue ([`message`]) and the outbox that keeps a write and its message
//! whole ([`outbox`]).

pub mod decision;
pub mod message;
pub mod notification;
pub mod outbox;
pub mod outcome;
pub mod receipt;
pub mod retry;
pub mod staged;
pub mod status;
