//! Planning: what an accepted event causes — the merchant's webhook, and
//! for a payment one customer message per channel whose rules allow it —
//! and the customer message a resend asks for. Every customer message is
//! decided by one function, [`customer_message`], on top of the state ×
//! channel rules of [`rules::check`].

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::accounts::settings::{Settings, WebhookFormat};
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::{NotificationDraft, Payload, WebhookPayload};
use crate::domain::endpoints::endpoint::{self, Route, Target};
use crate::domain::events::event::Event;
use crate::domain::events::genio;
use crate::domain::messages::templates::Template;
use crate::domain::payments::rules::{self, SkipReason};
use crate::domain::payments::texts;
use crate::domain::payments::transaction::Transaction;
use crate::error::Result;

/// The account's own `payment.<state>` templates for the state a
/// transaction is in, by channel (`texts::template_name`).
pub type PaymentTemplates = BTreeMap<CustomerChannel, Template>;

/// The customer message for the transaction's current state on `channel`,
/// or why there is none. Its text is, first found: the channel settings'
/// override, the account's `payment.<state>` template (`stored`; one the
/// transaction's fields do not fill fails that message when it comes
/// due), the shipped default.
pub fn customer_message(
    t: &Transaction,
    channel: CustomerChannel,
    settings: &Settings,
    stored: &PaymentTemplates,
) -> Result<Result<NotificationDraft, SkipReason>> {
    let providers = &settings.channels;
    if let Err(reason) = rules::check(t, channel, providers.configured(channel)) {
        return Ok(Err(reason));
    }
    let Some(mut draft) = draft_of(t, channel, settings, stored)? else {
        return Ok(Err(SkipReason::ProviderNotConfigured));
    };
    // The SMS this state would send, kept for the day the WhatsApp message
    // fails for good (contract section 10).
    if channel == CustomerChannel::Whatsapp && providers.whatsapp_falls_back_to_sms() {
        draft.fallback = draft_of(t, CustomerChannel::Sms, settings, stored)?
            .filter(|sms| sms.failure.is_none())
            .map(|sms| sms.payload);
    }
    Ok(Ok(draft))
}

/// The channels whose `payment.<state>` templates a message about `t` on
/// `channels` may use: those, and SMS where WhatsApp falls back to it.
pub fn template_channels(
    channels: &[CustomerChannel],
    settings: &Settings,
) -> Vec<CustomerChannel> {
    let mut all = channels.to_vec();
    if all.contains(&CustomerChannel::Whatsapp)
        && !all.contains(&CustomerChannel::Sms)
        && settings.channels.whatsapp_falls_back_to_sms()
    {
        all.push(CustomerChannel::Sms);
    }
    all
}

/// The message on `channel` for `t`'s state, whatever the rules say; `None`
/// without a provider.
fn draft_of(
    t: &Transaction,
    channel: CustomerChannel,
    settings: &Settings,
    stored: &PaymentTemplates,
) -> Result<Option<NotificationDraft>> {
    let providers = &settings.channels;
    let phone = t.customer_phone.clone().unwrap_or_default();
    if let Some(template) = stored.get(&channel)
        && !texts::overridden(providers, channel, t)
    {
        let to = match channel {
            CustomerChannel::Email => t.customer_email.clone().unwrap_or_default(),
            _ => phone,
        };
        let payload = template.payload(&to, Some(&t.language), &texts::data(t));
        return Ok(Some(NotificationDraft::rendered(channel, &to, payload)));
    }
    let payload = match channel {
        CustomerChannel::Sms => match &providers.sms {
            Some(p) => Payload::Sms {
                to: phone,
                text: texts::sms_text(t, p)?,
            },
            None => return Ok(None),
        },
        CustomerChannel::Email => match &providers.email {
            Some(p) => {
                let (subject, text) = texts::email(t, p)?;
                Payload::Email {
                    to: t.customer_email.clone().unwrap_or_default(),
                    subject,
                    text,
                }
            }
            None => return Ok(None),
        },
        CustomerChannel::Whatsapp => match &providers.whatsapp {
            Some(p) => {
                let (template, language, parameters) = texts::whatsapp(t, p);
                Payload::Whatsapp {
                    to: phone,
                    template,
                    language,
                    parameters,
                }
            }
            None => return Ok(None),
        },
        CustomerChannel::Push | CustomerChannel::InApp => return Ok(None),
    };
    Ok(Some(NotificationDraft::new(payload)))
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
    json_webhook(event, &data.to_string(), now)
}

/// `{"id", "type", "created_at", "data"}` with `data` as given (JSON text,
/// kept byte for byte).
fn json_webhook(event: &Event, data: &str, now: DateTime<Utc>) -> WebhookPayload {
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    WebhookPayload {
        content_type: "application/json".into(),
        body: format!(
            r#"{{"id":{},"type":{},"created_at":{},"data":{data}}}"#,
            quoted(&event.id),
            quoted(event.type_name()),
            quoted(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ),
        ipn_type: None,
        source: None,
    }
}

/// The webhook an event sends in `format`: Genio's form or JSON for SMS
/// events, JSON for every other type.
fn webhook(event: &Event, format: WebhookFormat, now: DateTime<Utc>) -> WebhookPayload {
    if let Some((ipn_type, sms)) = event.sms() {
        let mut payload = match format {
            WebhookFormat::Form => WebhookPayload {
                content_type: "application/x-www-form-urlencoded".into(),
                body: genio::ipn_form(ipn_type, sms),
                ipn_type: None,
                source: None,
            },
            WebhookFormat::Json => {
                let data = serde_json::to_string(sms).unwrap_or_default();
                json_webhook(event, &data, now)
            }
        };
        payload.ipn_type = Some(ipn_type.as_str().into());
        payload.source = Some(sms.source.clone());
        return payload;
    }
    let data = event.custom().map_or("{}", |c| c.raw.as_str());
    json_webhook(event, data, now)
}

/// One webhook draft per target, the payload built once per format.
fn fan_out(
    targets: Vec<Target>,
    payload: impl Fn(WebhookFormat) -> WebhookPayload,
) -> Vec<NotificationDraft> {
    let mut built: Vec<(WebhookFormat, WebhookPayload)> = Vec::new();
    targets
        .into_iter()
        .map(|target| {
            let body = match built.iter().find(|(f, _)| *f == target.format) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = payload(target.format);
                    built.push((target.format, p.clone()));
                    p
                }
            };
            NotificationDraft::webhook(body, target.endpoint_id)
        })
        .collect()
}

/// The channels a customer message about `t`'s current state may go on:
/// those whose list in the transaction names it (the templates to read).
pub fn channels_notified(t: &Transaction) -> Vec<CustomerChannel> {
    t.notifications
        .iter()
        .filter(|(_, states)| states.contains(&t.state))
        .map(|(channel, _)| *channel)
        .collect()
}

/// What a payment event causes: the merchant's JSON webhook to every
/// endpoint that wants it (INC on) and one customer message per channel
/// whose list names the new state and whose rules, provider and contact
/// allow it. A stale change (older than the transaction's latest) reaches
/// the merchant only: the customer is never told of a state the payment has
/// already left.
pub fn plan_payment(
    event: &Event,
    t: &Transaction,
    settings: &Settings,
    endpoints: &[Route],
    stored: &PaymentTemplates,
    now: DateTime<Utc>,
) -> Result<Vec<NotificationDraft>> {
    let targets = endpoint::targets(settings, endpoints, event.type_name());
    let webhook = payment_webhook(event, t, now);
    let mut drafts = fan_out(targets, |_| webhook.clone());
    if t.last_change().is_some_and(|c| c.stale) {
        return Ok(drafts);
    }
    for (channel, states) in &t.notifications {
        if !states.contains(&t.state) {
            continue;
        }
        match customer_message(t, *channel, settings, stored)? {
            Ok(draft) => drafts.push(draft),
            Err(reason) => {
                tracing::info!(session_id = %t.session_id, channel = channel.as_str(), reason = reason.as_str(), "customer message skipped");
            }
        }
    }
    Ok(drafts)
}

/// What any other event causes: one webhook per endpoint that wants it —
/// INC on, the Genio toggle of an SMS event on, and the endpoint's filter
/// matching (see [`endpoint::targets`]).
pub fn plan(
    event: &Event,
    settings: &Settings,
    endpoints: &[Route],
    now: DateTime<Utc>,
) -> Vec<NotificationDraft> {
    let targets = endpoint::targets(settings, endpoints, event.type_name());
    fan_out(targets, |format| webhook(event, format, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::notification::Payload;
    use crate::domain::events::event::tests::SEED_SENT;

    fn seed(kind: &str) -> Event {
        let body = SEED_SENT.replace("sms.sent", kind);
        Event::from_json(body.as_bytes()).unwrap()
    }

    /// The default endpoint of `settings`, as the account builds it.
    fn default_of(settings: &Settings) -> Vec<Route> {
        let Some(url) = settings.endpoint_url.clone() else {
            return Vec::new();
        };
        let spec = crate::domain::endpoints::input::EndpointSpec {
            destination: Default::default(),
            transformation: None,
            url,
            description: String::new(),
            filter_types: None,
            format: settings.webhook_format,
            enabled: true,
            rate_limit: None,
            headers: Default::default(),
        };
        vec![
            crate::domain::Endpoint {
                endpoint_id: crate::domain::DEFAULT_ENDPOINT_ID.into(),
                ..crate::domain::Endpoint::create("acc", spec, Utc::now())
            }
            .route(),
        ]
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
        let sent = plan(
            &seed("sms.sent"),
            &settings(),
            &default_of(&settings()),
            now,
        );
        assert_eq!(sent.len(), 1);
        let Payload::Webhook(w) = &sent[0].payload else {
            panic!("a webhook")
        };
        assert_eq!(w.ipn_type.as_deref(), Some("SENT"));
        assert!(w.body.contains("ipn_type=SENT"));
        let delivered = plan(
            &seed("sms.delivered"),
            &settings(),
            &default_of(&settings()),
            now,
        );
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
            assert_eq!(
                plan(&seed("sms.sent"), &s, &default_of(&s), now).len(),
                sent,
                "{s:?}"
            );
            assert_eq!(
                plan(&seed("sms.delivered"), &s, &default_of(&s), now).len(),
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
        let draft = plan(&seed("sms.delivered"), &s, &default_of(&s), Utc::now()).remove(0);
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
