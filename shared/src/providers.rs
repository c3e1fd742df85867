//! The adapters that reach customers: an HTTP SMS gateway, SES v2 for email,
//! and Meta's WhatsApp Cloud API. Each send returns the attempt, as the
//! notification log records it, and what its answer means.

use std::time::Instant;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use chrono::Utc;
use serde_json::json;

use crate::domain::accounts::providers::{EmailProvider, Gateway, SmsProvider, WhatsappProvider};
use crate::domain::messages::receipts::email::ACCOUNT_TAG;
use crate::domain::{Attempt, AttemptOutcome};
use crate::tls::OnFirstUse;
use crate::webhook::WebhookClient;

#[derive(Clone, Debug)]
pub struct Providers {
    http: WebhookClient,
    /// Built at the first email, not at init: most batches send none.
    ses: OnFirstUse<aws_sdk_sesv2::Client>,
    /// The SES configuration set every email is sent with: it publishes the
    /// emails' receipts (contract 10).
    configuration_set: Option<String>,
}

impl Providers {
    pub fn new(
        http: WebhookClient,
        sdk: &aws_config::SdkConfig,
        configuration_set: Option<String>,
    ) -> Providers {
        Providers {
            http,
            ses: OnFirstUse::new(sdk, aws_sdk_sesv2::Client::new),
            configuration_set,
        }
    }

    fn ses(&self) -> &aws_sdk_sesv2::Client {
        self.ses.get()
    }

    /// A Genio-style form POST: `api`, `to`, `msg`, `custom` (the
    /// notification id, so the gateway's own IPN can be matched), and `from`
    /// when the account set a sender.
    /// `gateway` picks the provider's primary or fallback gateway, which
    /// the attempt names.
    pub async fn sms(
        &self,
        p: &SmsProvider,
        gateway: Gateway,
        number: u32,
        to: &str,
        text: &str,
        custom: &str,
    ) -> (Attempt, AttemptOutcome) {
        let (url, api_key, sender) = p.gateway(gateway);
        let mut fields = vec![
            ("api", api_key),
            ("to", to),
            ("msg", text),
            ("custom", custom),
        ];
        if let Some(sender) = sender {
            fields.push(("from", sender));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        let mut attempt = self.http.execute(number, url, request).await;
        attempt.provider = Some(gateway.as_str().to_owned());
        let outcome = AttemptOutcome::of_provider(attempt.status_code, false);
        (attempt, outcome)
    }

    /// A template message through the Cloud API.
    pub async fn whatsapp(
        &self,
        p: &WhatsappProvider,
        number: u32,
        to: &str,
        template: &str,
        language: &str,
        parameters: &[String],
    ) -> (Attempt, AttemptOutcome) {
        let url = format!(
            "{}/{}/messages",
            p.base_url.trim_end_matches('/'),
            p.phone_number_id
        );
        let params: Vec<_> = parameters
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect();
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": language},
                "components": [{"type": "body", "parameters": params}],
            },
        });
        let request = self
            .http
            .post(&url)
            .bearer_auth(&p.access_token)
            .json(&body);
        let mut attempt = self.http.execute(number, &url, request).await;
        // `{"messages": [{"id": "wamid…"}]}`: the id its receipts will name.
        if attempt.status_code.is_some_and(|c| (200..300).contains(&c)) {
            attempt.provider_message_id = attempt
                .response_excerpt
                .as_deref()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .and_then(|v| v["messages"][0]["id"].as_str().map(str::to_owned));
        }
        let outcome = AttemptOutcome::of_provider(attempt.status_code, false);
        (attempt, outcome)
    }

    /// SES v2 `SendEmail`, plain text, through the configuration set that
    /// publishes its receipts and tagged with the account they belong to;
    /// the message id SES returns is the one they will name.
    pub async fn email(
        &self,
        p: &EmailProvider,
        number: u32,
        account_id: &str,
        to: &str,
        subject: &str,
        text: &str,
    ) -> (Attempt, AttemptOutcome) {
        let started = Instant::now();
        let mut attempt = Attempt::begin(number, Utc::now(), "ses:SendEmail");
        let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
        let tag = MessageTag::builder()
            .name(ACCOUNT_TAG)
            .value(account_id)
            .build();
        let (subject, text, tag) = match (content(subject), content(text), tag) {
            (Ok(s), Ok(t), Ok(g)) => (s, t, g),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                attempt.error = Some(e.to_string());
                return (attempt, AttemptOutcome::Stop);
            }
        };
        let message = Message::builder()
            .subject(subject)
            .body(Body::builder().text(text).build())
            .build();
        let result = self
            .ses()
            .send_email()
            .from_email_address(&p.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await;
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match result {
            Ok(out) => {
                attempt.status_code = Some(200);
                attempt.provider_message_id.clone_from(&out.message_id);
                attempt.response_excerpt = out.message_id;
                AttemptOutcome::Delivered
            }
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                attempt.status_code = status;
                attempt.error = Some(
                    aws_sdk_sesv2::error::DisplayErrorContext(&err)
                        .to_string()
                        .chars()
                        .take(512)
                        .collect(),
                );
                let throttled = err.as_service_error().is_some_and(|e| {
                    e.is_too_many_requests_exception() || e.is_limit_exceeded_exception()
                });
                AttemptOutcome::of_provider(status, throttled)
            }
        };
        (attempt, outcome)
    }
}
