//! The channels a notification travels on: the merchant's webhook, and
//! the customer channels (SMS, email, WhatsApp).

use serde::{Deserialize, Serialize};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An IPN to the merchant's endpoint.
    Webhook,
    /// A message to the customer.
    Sms,
    Email,
    Whatsapp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Webhook,
            Channel::Sms,
            Channel::Email,
            Channel::Whatsapp,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl From<CustomerChannel> for Channel {
    fn from(c: CustomerChannel) -> Channel {
        match c {
            CustomerChannel::Sms => Channel::Sms,
            CustomerChannel::Email => Channel::Email,
            CustomerChannel::Whatsapp => Channel::Whatsapp,
        }
    }
}

/// The channels that reach the customer (the webhook reaches the merchant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerChannel {
    Email,
    Sms,
    Whatsapp,
}

impl CustomerChannel {
    /// The channel named `value`, or a `400` naming `field`.
    pub fn from_field(field: &str, value: &str) -> crate::error::Result<CustomerChannel> {
        CustomerChannel::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| {
                crate::error::Error::bad_request(
                    "invalid_field",
                    format!("{field}: must be sms, email or whatsapp"),
                    Some(field),
                )
            })
    }

    pub const ALL: [CustomerChannel; 3] = [
        CustomerChannel::Email,
        CustomerChannel::Sms,
        CustomerChannel::Whatsapp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerChannel::Email => "email",
            CustomerChannel::Sms => "sms",
            CustomerChannel::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(s: &str) -> Option<CustomerChannel> {
        CustomerChannel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}
