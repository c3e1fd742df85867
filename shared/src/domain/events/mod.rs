//! What comes in: an event (`POST /v1/events`, JSON or Genio's form) and
//! its validation, the data of `payment.state_changed`, the event-type
//! catalog (built-in, INC's own alerts, and the types an account declares
//! with their schemas), and Genio's IPN as an endpoint receives it.

pub mod catalog;
pub mod event;
pub mod genio;
pub mod payment;
