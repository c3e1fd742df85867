//! Planning: what an accepted event causes — the merchant's webhook, and
//! for a payment one customer message per channel whose rules allow it —
//! and the customer message a resend asks for. Every customer message is
//! decided by one function, [`customer_message`], on top of the state ×
//! channel rules of [`rules::check`].

use chrono::{DateTime, SecondsFormat, Utc};

use super::channel::CustomerChannel;
use super::event::Event;
use super::genio;
use super::messages;
use super::notification::{NotificationDraft, Payload, WebhookPayload};
use super::payment::Transaction;
use super::rules::{self, SkipReason};
use super::settings::{Settings, WebhookFormat};
use crate::error::Result;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::SEED_SENT;
    use crate::domain::notification::Payload;

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
