//! One attempt on a notification's channel: the webhook, or the customer's
//! SMS, email or WhatsApp through the account's provider.

use chrono::Utc;

use inc_shared::domain::delivery::decision::sms_gateway;
use inc_shared::domain::{Attempt, AttemptOutcome, Endpoint, Notification, Payload};
use inc_shared::store::Account;
use inc_shared::webhook::{WebhookRequest, failed_before_sending};

use crate::Deliver;

impl Deliver {
    /// One attempt on the notification's channel, with the provider
    /// settings as they are now.
    pub(crate) async fn attempt(
        &self,
        account: &Account,
        endpoint: Option<&Endpoint>,
        n: &Notification,
        number: u32,
    ) -> (Attempt, AttemptOutcome) {
        let channels = &account.settings.channels;
        let missing = |what: &str| {
            (
                failed_before_sending(number, "", format!("no {what} is configured")),
                AttemptOutcome::NOT_CONFIGURED,
            )
        };
        match &n.payload {
            Payload::Webhook(payload) => {
                // An alert, or an endpoint (the default one signs with the
                // account's secret).
                let now = Utc::now();
                let (url, secrets, headers) = match endpoint {
                    _ if n.is_alert() => (
                        account.settings.alerts.url.as_deref(),
                        account.signing_secrets(now),
                        None,
                    ),
                    Some(e) => (
                        Some(e.url.as_str()),
                        e.signing_secrets(now),
                        Some(&e.headers),
                    ),
                    None => (None, Vec::new(), None),
                };
                let Some(url) = url else {
                    return missing(if n.is_alert() {
                        "alerts.url"
                    } else {
                        "endpoint_url"
                    });
                };
                let attempt = self
                    .webhooks
                    .send(WebhookRequest {
                        url,
                        webhook_id: &n.notification_id,
                        secrets,
                        payload,
                        attempt: number,
                        headers,
                    })
                    .await;
                let outcome = AttemptOutcome::of(attempt.status_code);
                (attempt, outcome)
            }
            Payload::Sms { to, text } => match channels.sms.as_ref().filter(|p| p.enabled) {
                Some(p) => {
                    let gateway = sms_gateway(p.fallback.is_some(), &n.attempts);
                    self.providers
                        .sms(p, gateway, number, to, text, &n.notification_id)
                        .await
                }
                None => missing("SMS provider"),
            },
            Payload::Email { to, subject, text } => {
                match channels.email.as_ref().filter(|p| p.enabled) {
                    Some(p) => {
                        self.providers
                            .email(p, number, &n.account_id, to, subject, text)
                            .await
                    }
                    None => missing("email sender"),
                }
            }
            Payload::Whatsapp {
                to,
                template,
                language,
                parameters,
            } => match channels.whatsapp.as_ref().filter(|p| p.enabled) {
                Some(p) => {
                    self.providers
                        .whatsapp(p, number, to, template, language, parameters)
                        .await
                }
                None => missing("WhatsApp provider"),
            },
        }
    }
}
