//! The channels a notification travels on: the merchant's webhook, and
//! the customer channels — SMS, email and WhatsApp, reached at an address,
//! and the apps' push (a device's token) and in-app feed (contract 14).

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
    /// A mobile push to one device (FCM or APNs).
    Push,
    /// An item of the recipient's in-app feed.
    InApp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
            Channel::Push => "push",
            Channel::InApp => "in_app",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Webhook,
            Channel::Sms,
            Channel::Email,
            Channel::Whatsapp,
            Channel::Push,
            Channel::InApp,
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
            CustomerChannel::Push => Channel::Push,
            CustomerChannel::InApp => Channel::InApp,
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
    /// The apps' channels (contract 14): a recipient's devices, its feed.
    Push,
    InApp,
}

impl CustomerChannel {
    /// The channel named `value` among those reached at an address (SMS,
    /// email, WhatsApp: payments, opt-outs), or a `400` naming `field`.
    pub fn from_field(field: &str, value: &str) -> crate::error::Result<CustomerChannel> {
        CustomerChannel::parse(value).ok_or_else(|| {
            crate::error::Error::bad_request(
                "invalid_field",
                format!("{field}: must be sms, email or whatsapp"),
                Some(field),
            )
        })
    }

    /// The channel named `value` among every customer channel (messages,
    /// templates, campaigns), or a `400` naming `field`.
    pub fn any_from_field(field: &str, value: &str) -> crate::error::Result<CustomerChannel> {
        CustomerChannel::EVERY
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| {
                crate::error::Error::bad_request(
                    "invalid_field",
                    format!("{field}: must be sms, email, whatsapp, push or in_app"),
                    Some(field),
                )
            })
    }

    /// The channels reached at an address.
    pub const ALL: [CustomerChannel; 3] = [
        CustomerChannel::Email,
        CustomerChannel::Sms,
        CustomerChannel::Whatsapp,
    ];

    /// Every customer channel.
    pub const EVERY: [CustomerChannel; 5] = [
        CustomerChannel::Email,
        CustomerChannel::Sms,
        CustomerChannel::Whatsapp,
        CustomerChannel::Push,
        CustomerChannel::InApp,
    ];

    /// Whether it is reached at an address (a number, an email), rather
    /// than through a recipient's apps.
    pub fn is_addressed(self) -> bool {
        CustomerChannel::ALL.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerChannel::Email => "email",
            CustomerChannel::Sms => "sms",
            CustomerChannel::Whatsapp => "whatsapp",
            CustomerChannel::Push => "push",
            CustomerChannel::InApp => "in_app",
        }
    }

    /// An addressed channel by name.
    pub fn parse(s: &str) -> Option<CustomerChannel> {
        CustomerChannel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}
