//! Notifications: what each one sends, where it stands, and the log of
//! every attempt to deliver it. (What an event causes is decided above, in `payments::plan`.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::common::channel::Channel;
use crate::domain::events::event::Event;
use crate::domain::events::genio;

pub use crate::domain::delivery::status::Status;

/// The exact request a webhook sends, fixed when the event is accepted so
/// that every attempt and resend carries the same body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub content_type: String,
    /// Stored as a binary attribute (see the store's notification item),
    /// and as a string before that: read from either.
    #[serde(deserialize_with = "text_or_bytes")]
    pub body: String,
    /// Genio's `ipn_type` (SENT / DELIVERY), for the Genio log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipn_type: Option<String>,
    /// Genio's source (`smsout_api`), for the Genio log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A string given as text or as UTF-8 bytes.
fn text_or_bytes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string, or its UTF-8 bytes")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<String, E> {
            String::from_utf8(v.to_vec()).map_err(E::custom)
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<String, E> {
            String::from_utf8(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_any(Text)
}

/// What a notification sends, fixed when it is created so that every
/// attempt sends the same thing. The provider (URL, credentials) is read at
/// delivery time, so fixing a provider's settings helps pending messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    Webhook(WebhookPayload),
    Sms {
        to: String,
        text: String,
    },
    Email {
        to: String,
        subject: String,
        text: String,
    },
    Whatsapp {
        to: String,
        template: String,
        language: String,
        parameters: Vec<String>,
    },
    /// A mobile push to one device (contract 14): `to` is the device as
    /// `platform:token` (`fcm:…`, `apns:…`).
    Push {
        to: String,
        title: String,
        body: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        data: BTreeMap<String, String>,
    },
    /// An item of a recipient's in-app feed: `to` is the recipient's id.
    InApp {
        to: String,
        title: String,
        body: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        data: BTreeMap<String, String>,
    },
}

impl Payload {
    /// A customer message that failed before it had content (its template
    /// could not be rendered): where it was going, nothing to send.
    pub fn unsent(channel: crate::domain::common::channel::CustomerChannel, to: &str) -> Payload {
        use crate::domain::common::channel::CustomerChannel;
        let to = to.to_owned();
        match channel {
            CustomerChannel::Sms => Payload::Sms {
                to,
                text: String::new(),
            },
            CustomerChannel::Email => Payload::Email {
                to,
                subject: String::new(),
                text: String::new(),
            },
            CustomerChannel::Whatsapp => Payload::Whatsapp {
                to,
                template: String::new(),
                language: String::new(),
                parameters: Vec::new(),
            },
            CustomerChannel::Push => Payload::Push {
                to,
                title: String::new(),
                body: String::new(),
                data: BTreeMap::new(),
            },
            CustomerChannel::InApp => Payload::InApp {
                to,
                title: String::new(),
                body: String::new(),
                data: BTreeMap::new(),
            },
        }
    }

    /// The customer's address of a customer message; none for a webhook.
    pub fn to(&self) -> Option<&str> {
        match self {
            Payload::Webhook(_) => None,
            Payload::Sms { to, .. }
            | Payload::Email { to, .. }
            | Payload::Whatsapp { to, .. }
            | Payload::Push { to, .. }
            | Payload::InApp { to, .. } => Some(to),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Payload::Webhook(_) => Channel::Webhook,
            Payload::Sms { .. } => Channel::Sms,
            Payload::Email { .. } => Channel::Email,
            Payload::Whatsapp { .. } => Channel::Whatsapp,
            Payload::Push { .. } => Channel::Push,
            Payload::InApp { .. } => Channel::InApp,
        }
    }
}

/// What an event causes, before it is given an id and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDraft {
    pub channel: Channel,
    pub payload: Payload,
    /// The endpoint a webhook goes to.
    pub endpoint_id: Option<String>,
    /// Why its content could not be made (a template the data does not
    /// fill): see [`Notification::render_error`].
    pub failure: Option<String>,
    /// What a WhatsApp message sends by SMS if it fails for good.
    pub fallback: Option<Payload>,
}

impl NotificationDraft {
    pub fn new(payload: Payload) -> NotificationDraft {
        NotificationDraft {
            channel: payload.channel(),
            payload,
            endpoint_id: None,
            failure: None,
            fallback: None,
        }
    }

    /// A customer message to `to` that failed before it was sent.
    pub fn failed(
        channel: crate::domain::common::channel::CustomerChannel,
        to: &str,
        reason: String,
    ) -> NotificationDraft {
        NotificationDraft {
            failure: Some(reason),
            ..NotificationDraft::new(Payload::unsent(channel, to))
        }
    }

    /// `payload`, or the failure its rendering met.
    pub fn rendered(
        channel: crate::domain::common::channel::CustomerChannel,
        to: &str,
        payload: std::result::Result<Payload, String>,
    ) -> NotificationDraft {
        match payload {
            Ok(payload) => NotificationDraft::new(payload),
            Err(reason) => NotificationDraft::failed(channel, to, reason),
        }
    }

    /// A webhook to `endpoint_id`.
    pub fn webhook(payload: WebhookPayload, endpoint_id: String) -> NotificationDraft {
        NotificationDraft {
            endpoint_id: Some(endpoint_id),
            ..NotificationDraft::new(Payload::Webhook(payload))
        }
    }
}

/// One notification and the log of its attempts, as stored and as the
/// history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub account_id: String,
    pub notification_id: String,
    pub event_id: String,
    pub event_type: String,
    pub channel: Channel,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub payload: Payload,
    /// The endpoint a webhook goes to: `ep_default` (the settings'
    /// `endpoint_url`) for webhooks stored before endpoints existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The transaction, for messages about a payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    /// A direct message's free-text `reference` (an order number, a
    /// campaign): the history and the order timeline find it by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The recipient a message was sent to by `to_recipient` (contract 12):
    /// deliver checks its preferences at send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// The campaign (contract 13) a message belongs to, and its run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// The message's category (`None`: transactional), which the
    /// recipient's preferences are read for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The recipient's time zone, for quiet hours over the account's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// How many of `attempts` came before the current chain: a manual
    /// resend starts a new chain, with the whole retry schedule again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chain_start: u32,
    /// When the current chain began: creation, or the last resend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why its content could not be made (a template the data does not
    /// fill): it goes its way like any message and, when it comes due,
    /// deliver fails it with this reason, sending nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_error: Option<String>,
    /// What this WhatsApp message sends by SMS if it fails for good — a
    /// provider's 4xx, or an `undelivered` receipt (contract section 10):
    /// fixed with the message, as its own content is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_payload: Option<Payload>,
    /// The SMS notification this one fell back to: there is one at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The WhatsApp notification this SMS stands in for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_of: Option<String>,
    /// The provider's latest receipt of a customer message (contract
    /// section 10): it reached the customer, or never will.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::domain::delivery::receipt::Receipt>,
    /// A resend's write its request has not confirmed (see
    /// [`outbox`](crate::domain::delivery::outbox)); deliver clears it when it takes the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<crate::domain::delivery::staged::Staged>,
    /// Given up, and its dead-letter copy not yet confirmed sent: the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_pending: Option<String>,
    /// When the sweeper should look at it (epoch ms), while it needs
    /// anything; the sort key of the index `ByDue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_at: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Notification {
    /// Whether `other` is this notification but for whom it goes to (its
    /// id, endpoint and payload), as the notifications of an event's
    /// fan-out are: the store then writes them from one serialisation.
    /// Every field is named here, so a new one has to take a side.
    pub fn same_but_target(&self, other: &Notification) -> bool {
        let Notification {
            notification_id: _,
            endpoint_id: _,
            payload: _,
            account_id,
            event_id,
            event_type,
            channel,
            status,
            created_at,
            updated_at,
            session_id,
            order_no,
            reference,
            recipient_id,
            campaign_id,
            run,
            category,
            timezone,
            attempts,
            chain_start,
            chain_started_at,
            next_attempt_at,
            last_error,
            render_error,
            fallback_payload,
            fallback,
            fallback_of,
            receipt,
            staged,
            dead_letter_pending,
            sweep_at,
        } = self;
        *account_id == other.account_id
            && *event_id == other.event_id
            && *event_type == other.event_type
            && *channel == other.channel
            && *status == other.status
            && *created_at == other.created_at
            && *updated_at == other.updated_at
            && *session_id == other.session_id
            && *order_no == other.order_no
            && *reference == other.reference
            && *recipient_id == other.recipient_id
            && *campaign_id == other.campaign_id
            && *run == other.run
            && *category == other.category
            && *timezone == other.timezone
            && *attempts == other.attempts
            && *chain_start == other.chain_start
            && *chain_started_at == other.chain_started_at
            && *next_attempt_at == other.next_attempt_at
            && *last_error == other.last_error
            && *render_error == other.render_error
            && *fallback_payload == other.fallback_payload
            && *fallback == other.fallback
            && *fallback_of == other.fallback_of
            && *receipt == other.receipt
            && *staged == other.staged
            && *dead_letter_pending == other.dead_letter_pending
            && *sweep_at == other.sweep_at
    }

    /// The number the next attempt takes in the log (1 for the first).
    pub fn next_attempt_number(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// The place of the next attempt in the current chain (1 for the first),
    /// which is what the retry schedule counts.
    pub fn next_chain_attempt(&self) -> u32 {
        self.next_attempt_number()
            .saturating_sub(self.chain_start)
            .max(1)
    }

    pub fn new(
        account_id: &str,
        event: &Event,
        draft: NotificationDraft,
        now: DateTime<Utc>,
    ) -> Self {
        let transaction = event
            .payment()
            .map(|p| (p.session_id.clone(), p.order_no.clone()));
        Notification::create(
            account_id,
            &event.id,
            event.type_name(),
            draft,
            transaction,
            now,
        )
    }

    /// A notification for a manual resend, or any cause other than an event.
    pub fn create(
        account_id: &str,
        event_id: &str,
        event_type: &str,
        draft: NotificationDraft,
        transaction: Option<(String, Option<String>)>,
        now: DateTime<Utc>,
    ) -> Self {
        let (session_id, order_no) = transaction.map_or((None, None), |(s, o)| (Some(s), o));
        Notification {
            account_id: account_id.to_owned(),
            notification_id: crate::domain::common::ids::new_notification_id(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            session_id,
            order_no,
            reference: None,
            recipient_id: None,
            campaign_id: None,
            run: None,
            category: None,
            timezone: None,
            channel: draft.channel,
            endpoint_id: draft.endpoint_id,
            status: Status::Queued,
            created_at: now,
            updated_at: now,
            payload: draft.payload,
            attempts: Vec::new(),
            chain_start: 0,
            chain_started_at: None,
            next_attempt_at: None,
            last_error: None,
            render_error: draft.failure,
            fallback_payload: draft.fallback,
            fallback: None,
            fallback_of: None,
            receipt: None,
            staged: None,
            dead_letter_pending: None,
            sweep_at: None,
        }
    }

    /// Whether this message falls back to SMS after `status_code` (its
    /// provider's answer to the attempt that failed it): a 4xx, which will
    /// never succeed on WhatsApp, and only once.
    pub fn falls_back_after(&self, status_code: Option<u16>) -> bool {
        self.fallback_payload.is_some()
            && self.fallback.is_none()
            && status_code.is_some_and(|c| (400..500).contains(&c))
    }

    /// The SMS that stands in for this message, linked to it, as a new
    /// notification of the same cause, order and reference.
    pub fn fallback_message(&self, now: DateTime<Utc>) -> Option<Notification> {
        let payload = self.fallback_payload.clone()?;
        let transaction = self.session_id.clone().map(|s| (s, self.order_no.clone()));
        let mut sms = Notification::create(
            &self.account_id,
            &self.event_id,
            &self.event_type,
            NotificationDraft::new(payload),
            transaction,
            now,
        );
        sms.reference = self.reference.clone();
        sms.recipient_id = self.recipient_id.clone();
        sms.category = self.category.clone();
        sms.timezone = self.timezone.clone();
        sms.fallback_of = Some(self.notification_id.clone());
        Some(sms)
    }

    /// An alert to the merchant (`domain::endpoints::alerts`), by webhook or email.
    pub fn is_alert(&self) -> bool {
        self.endpoint_id.as_deref() == Some(crate::domain::common::ids::ALERTS_ENDPOINT_ID)
    }

    /// The endpoint of a webhook (the default one for a webhook stored
    /// before endpoints existed); `None` for a customer message.
    pub fn endpoint(&self) -> Option<&str> {
        match self.payload {
            Payload::Webhook(_) => Some(
                self.endpoint_id
                    .as_deref()
                    .unwrap_or(crate::domain::common::ids::DEFAULT_ENDPOINT_ID),
            ),
            _ => None,
        }
    }

    /// Genio's log line for a webhook that has been attempted at least once.
    pub fn genio_log_line(&self) -> Option<String> {
        let last = self.attempts.last()?;
        let Payload::Webhook(webhook) = &self.payload else {
            return None;
        };
        Some(genio::log_line(
            webhook.ipn_type.as_deref()?,
            webhook.source.as_deref()?,
            last.status_code,
            &webhook.body,
            last.at,
        ))
    }
}

/// One try at delivering a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    pub at: DateTime<Utc>,
    pub url: String,
    /// The endpoint's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why the attempt failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The first bytes of the endpoint's answer, for the merchant's debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
    /// The endpoint's `Retry-After`, in seconds, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// No answer came within the timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// SHA-256 (hex) of the webhook body, when the request went out: what
    /// `POST /v1/ipn/verify` checks a posted-back body against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// The provider's id of the message it took (WhatsApp's `wamid`, SES's
    /// message id), by which its receipts name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Which of the account's SMS gateways took this attempt: `primary` or
    /// `fallback` (contract section 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Attempt {
    /// Attempt `number` to `url`, begun at `at`: nothing known of its
    /// answer yet.
    pub fn begin(number: u32, at: DateTime<Utc>, url: impl Into<String>) -> Attempt {
        Attempt {
            number,
            at,
            url: url.into(),
            status_code: None,
            latency_ms: 0,
            error: None,
            response_excerpt: None,
            retry_after_secs: None,
            timed_out: false,
            body_sha256: None,
            provider_message_id: None,
            provider: None,
        }
    }
}
