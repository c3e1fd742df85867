//! Notifications: what an event causes, and the log of every attempt to
//! deliver it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::genio;
use super::messages;
use super::payment::Transaction;
use super::rules::{self, CustomerChannel, SkipReason};
use super::settings::Settings;
use crate::error::Result;

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

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, not yet attempted.
    Queued,
    /// An attempt failed; another is scheduled at `next_attempt_at`.
    Retrying,
    /// The endpoint accepted it (2xx).
    Delivered,
    /// Given up: the schedule ran out, or the endpoint answered 410.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Retrying => "retrying",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "queued" => Some(Status::Queued),
            "retrying" => Some(Status::Retrying),
            "delivered" => Some(Status::Delivered),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }

    /// Delivered and failed notifications are never attempted again by the
    /// queue; only an explicit resend starts a new chain.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Failed)
    }
}

/// How a webhook body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Genio's form-encoded IPN.
    #[default]
    Form,
    /// `{"id", "type", "created_at", "data"}` as JSON.
    Json,
}

/// The exact request a webhook sends, fixed when the event is accepted so
/// that every attempt and resend carries the same body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub content_type: String,
    pub body: String,
    /// Genio's `ipn_type` (SENT / DELIVERY), for the Genio log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipn_type: Option<String>,
    /// Genio's source (`smsout_api`), for the Genio log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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
}

impl Payload {
    pub fn channel(&self) -> Channel {
        match self {
            Payload::Webhook(_) => Channel::Webhook,
            Payload::Sms { .. } => Channel::Sms,
            Payload::Email { .. } => Channel::Email,
            Payload::Whatsapp { .. } => Channel::Whatsapp,
        }
    }
}

/// What an event causes, before it is given an id and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDraft {
    pub channel: Channel,
    pub payload: Payload,
}

impl NotificationDraft {
    pub fn new(payload: Payload) -> NotificationDraft {
        NotificationDraft {
            channel: payload.channel(),
            payload,
        }
    }
}

/// The customer message for the transaction's current state on `channel`,
/// or why there is none.
pub fn customer_message(
    t: &Transaction,
    channel: CustomerChannel,
    settings: &Settings,
) -> Result<Result<Payload, SkipReason>> {
    let providers = &settings.channels;
    if let Err(reason) = rules::check(t, channel, providers.configured(channel)) {
        return Ok(Err(reason));
    }
    let phone = t.customer_phone.clone().unwrap_or_default();
    let payload = match channel {
        CustomerChannel::Sms => match &providers.sms {
            Some(p) => Payload::Sms {
                to: phone,
                text: messages::sms_text(t, p)?,
            },
            None => return Ok(Err(SkipReason::ProviderNotConfigured)),
        },
        CustomerChannel::Email => match &providers.email {
            Some(p) => {
                let (subject, text) = messages::email(t, p)?;
                Payload::Email {
                    to: t.customer_email.clone().unwrap_or_default(),
                    subject,
                    text,
                }
            }
            None => return Ok(Err(SkipReason::ProviderNotConfigured)),
        },
        CustomerChannel::Whatsapp => match &providers.whatsapp {
            Some(p) => {
                let (template, language, parameters) = messages::whatsapp(t, p);
                Payload::Whatsapp {
                    to: phone,
                    template,
                    language,
                    parameters,
                }
            }
            None => return Ok(Err(SkipReason::ProviderNotConfigured)),
        },
    };
    Ok(Ok(payload))
}

/// The merchant's webhook about the change `t` just recorded (its last
/// history entry): the transaction as it now stands, the state the change
/// reported, and where the change falls in the transaction's order.
fn payment_webhook(event: &Event, t: &Transaction, now: DateTime<Utc>) -> WebhookPayload {
    let change = t.last_change();
    let mut data = serde_json::json!({
        "session_id": t.session_id, "order_no": t.order_no,
        "state": change.map_or(t.state, |c| c.state),
        "amount": t.amount, "currency_code": t.currency_code,
        "customer_email": t.customer_email, "customer_phone": t.customer_phone,
        "customer_first_name": t.customer_first_name, "language": t.language,
        "sequence": t.sequence_of(t.history.len().saturating_sub(1)),
        "previous_state": change.and_then(|c| c.previous_state),
        "stale": change.is_some_and(|c| c.stale),
    });
    if let Some(at) = change.and_then(|c| c.occurred_at) {
        data["occurred_at"] = at.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    }
    WebhookPayload {
        content_type: "application/json".into(),
        body: serde_json::json!({
            "id": event.id,
            "type": event.type_name(),
            "created_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string(),
        ipn_type: None,
        source: None,
    }
}

/// What a payment event causes: the merchant's JSON webhook (INC on, an
/// endpoint set) and one customer message per channel whose list names the
/// new state and whose rules, provider and contact allow it. A stale change
/// (older than the transaction's latest) reaches the merchant only: the
/// customer is never told of a state the payment has already left.
pub fn plan_payment(
    event: &Event,
    t: &Transaction,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Vec<NotificationDraft>> {
    let mut drafts = Vec::new();
    if settings.inc_enabled && settings.endpoint_url.is_some() {
        drafts.push(NotificationDraft::new(Payload::Webhook(payment_webhook(
            event, t, now,
        ))));
    }
    if t.last_change().is_some_and(|c| c.stale) {
        return Ok(drafts);
    }
    for (channel, states) in &t.notifications {
        if !states.contains(&t.state) {
            continue;
        }
        match customer_message(t, *channel, settings)? {
            Ok(payload) => drafts.push(NotificationDraft::new(payload)),
            Err(reason) => {
                tracing::info!(session_id = %t.session_id, channel = channel.as_str(), reason = reason.as_str(), "customer message skipped");
            }
        }
    }
    Ok(drafts)
}

/// Decides which notifications an accepted event causes, from the account's
/// settings: INC must be on, the event's toggle on, and an endpoint set.
pub fn plan(event: &Event, settings: &Settings, now: DateTime<Utc>) -> Vec<NotificationDraft> {
    let Some((ipn_type, sms)) = event.sms() else {
        return Vec::new();
    };
    let toggle = match ipn_type {
        super::IpnType::Sent => settings.sms_out_api_sent,
        super::IpnType::Delivery => settings.sms_out_api_delivery,
    };
    if !settings.inc_enabled || !toggle || settings.endpoint_url.is_none() {
        return Vec::new();
    }
    let payload = match settings.webhook_format {
        WebhookFormat::Form => WebhookPayload {
            content_type: "application/x-www-form-urlencoded".into(),
            body: genio::ipn_form(ipn_type, sms),
            ipn_type: Some(ipn_type.as_str().into()),
            source: Some(sms.source.clone()),
        },
        WebhookFormat::Json => WebhookPayload {
            content_type: "application/json".into(),
            body: serde_json::json!({
                "id": event.id,
                "type": event.type_name(),
                "created_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
                "data": sms,
            })
            .to_string(),
            ipn_type: Some(ipn_type.as_str().into()),
            source: Some(sms.source.clone()),
        },
    };
    vec![NotificationDraft::new(Payload::Webhook(payload))]
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
    /// The transaction, for messages about a payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
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
    /// A resend's write its request has not confirmed (see
    /// [`outbox`](super::outbox)); deliver clears it when it takes the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<super::outbox::Staged>,
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
            notification_id: super::keys::new_notification_id(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            session_id,
            order_no,
            channel: draft.channel,
            status: Status::Queued,
            created_at: now,
            updated_at: now,
            payload: draft.payload,
            attempts: Vec::new(),
            chain_start: 0,
            chain_started_at: None,
            next_attempt_at: None,
            last_error: None,
            staged: None,
            dead_letter_pending: None,
            sweep_at: None,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::SEED_SENT;

    fn seed(kind: &str) -> Event {
        let body = SEED_SENT.replace("sms.sent", kind);
        Event::from_json(body.as_bytes()).unwrap()
    }

    fn settings() -> Settings {
        Settings {
            endpoint_url: Some("http://127.0.0.1:9/ipn".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn an_sms_event_causes_one_webhook_when_inc_and_its_toggle_are_on() {
        let now = Utc::now();
        let sent = plan(&seed("sms.sent"), &settings(), now);
        assert_eq!(sent.len(), 1);
        let Payload::Webhook(w) = &sent[0].payload else {
            panic!("a webhook")
        };
        assert_eq!(w.ipn_type.as_deref(), Some("SENT"));
        assert!(w.body.contains("ipn_type=SENT"));
        let delivered = plan(&seed("sms.delivered"), &settings(), now);
        let Payload::Webhook(w) = &delivered[0].payload else {
            panic!("a webhook")
        };
        assert!(w.body.contains("ipn_type=DELIVERY"));
    }

    #[test]
    fn the_switches_each_silence_what_they_should() {
        let now = Utc::now();
        let cases = [
            (
                Settings {
                    inc_enabled: false,
                    ..settings()
                },
                0,
                0,
            ),
            (
                Settings {
                    sms_out_api_sent: false,
                    ..settings()
                },
                0,
                1,
            ),
            (
                Settings {
                    sms_out_api_delivery: false,
                    ..settings()
                },
                1,
                0,
            ),
            (
                Settings {
                    endpoint_url: None,
                    ..settings()
                },
                0,
                0,
            ),
            (settings(), 1, 1),
        ];
        for (s, sent, delivered) in cases {
            assert_eq!(plan(&seed("sms.sent"), &s, now).len(), sent, "{s:?}");
            assert_eq!(
                plan(&seed("sms.delivered"), &s, now).len(),
                delivered,
                "{s:?}"
            );
        }
    }

    #[test]
    fn json_format_wraps_the_genio_fields() {
        let s = Settings {
            webhook_format: WebhookFormat::Json,
            ..settings()
        };
        let draft = plan(&seed("sms.delivered"), &s, Utc::now()).remove(0);
        let Payload::Webhook(w) = draft.payload else {
            panic!("a webhook")
        };
        assert_eq!(w.content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&w.body).unwrap();
        assert_eq!(body["id"], "evt-1");
        assert_eq!(body["type"], "sms.delivered");
        assert_eq!(body["data"]["msg"], "Your SMS message🧘");
        assert_eq!(body["data"]["pin"], "025719");
    }
}
