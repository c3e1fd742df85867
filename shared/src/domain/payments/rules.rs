//! Which customer channel may speak for which payment state (CONTRACT §5),
//! and why a customer message is or is not sent.

use serde::{Deserialize, Serialize};

use crate::domain::common::channel::CustomerChannel;
use crate::domain::events::payment::PaymentState;
use crate::domain::payments::transaction::Transaction;

/// The state × channel table: email and SMS may notify every state;
/// WhatsApp only created, paid, canceled, failed, expired and authorized.
pub fn allows(channel: CustomerChannel, state: PaymentState) -> bool {
    use PaymentState::*;
    match channel {
        CustomerChannel::Email | CustomerChannel::Sms => true,
        CustomerChannel::Whatsapp => matches!(
            state,
            Created | Paid | Canceled | Failed | Expired | Authorized
        ),
        // A payment's customer is a number and an address, not an app.
        CustomerChannel::Push | CustomerChannel::InApp => false,
    }
}

/// Why a customer message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The channel may not notify the transaction's state.
    StateNotAllowed,
    /// The transaction's `notifications` map does not name the channel.
    ChannelNotEnabled,
    /// The account has no enabled provider for the channel.
    ProviderNotConfigured,
    /// The transaction has no email (email) or phone (SMS, WhatsApp).
    NoContact,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::StateNotAllowed => "state_not_allowed",
            SkipReason::ChannelNotEnabled => "channel_not_enabled",
            SkipReason::ProviderNotConfigured => "provider_not_configured",
            SkipReason::NoContact => "no_contact",
        }
    }
}

/// Whether a message for the transaction's current state may go out on
/// `channel`; the first reason that applies, in the contract's order.
pub fn check(
    t: &Transaction,
    channel: CustomerChannel,
    provider_configured: bool,
) -> Result<(), SkipReason> {
    if !allows(channel, t.state) {
        return Err(SkipReason::StateNotAllowed);
    }
    if !t.notifications.contains_key(&channel) {
        return Err(SkipReason::ChannelNotEnabled);
    }
    if !provider_configured {
        return Err(SkipReason::ProviderNotConfigured);
    }
    let contact = match channel {
        CustomerChannel::Email => &t.customer_email,
        CustomerChannel::Sms | CustomerChannel::Whatsapp => &t.customer_phone,
        CustomerChannel::Push | CustomerChannel::InApp => return Err(SkipReason::StateNotAllowed),
    };
    if contact.is_none() {
        return Err(SkipReason::NoContact);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentState::*;

    #[test]
    fn the_table_exactly() {
        let whatsapp = [Created, Paid, Canceled, Failed, Expired, Authorized];
        for state in PaymentState::ALL {
            assert!(allows(CustomerChannel::Email, state), "email {state:?}");
            assert!(allows(CustomerChannel::Sms, state), "sms {state:?}");
            assert_eq!(
                allows(CustomerChannel::Whatsapp, state),
                whatsapp.contains(&state),
                "whatsapp {state:?}"
            );
        }
    }

    fn tx(state: PaymentState) -> Transaction {
        let change = crate::domain::events::payment::PaymentChange::from_value(serde_json::json!({
            "session_id": "s", "state": state.as_str(), "customer_email": "a@example.com",
            "notifications": {"whatsapp": ["paid"], "email": []}}))
        .unwrap();
        Transaction::apply(None, "acc", "e", &change, chrono::Utc::now())
    }

    #[test]
    fn reasons_come_in_the_contracts_order() {
        let t = tx(Refunded);
        // Not allowed beats every other reason, even a missing channel and provider.
        assert_eq!(
            check(&t, CustomerChannel::Whatsapp, false),
            Err(SkipReason::StateNotAllowed)
        );
        assert_eq!(
            check(&t, CustomerChannel::Sms, false),
            Err(SkipReason::ChannelNotEnabled)
        );
        assert_eq!(
            check(&t, CustomerChannel::Email, false),
            Err(SkipReason::ProviderNotConfigured)
        );
        assert_eq!(check(&t, CustomerChannel::Email, true), Ok(()));
        let t = tx(Paid);
        assert_eq!(
            check(&t, CustomerChannel::Whatsapp, true),
            Err(SkipReason::NoContact)
        );
    }
}
