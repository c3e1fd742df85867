//! One attempt on a notification's channel: the webhook, the customer's
//! SMS, email or WhatsApp through the account's provider, a push to one
//! device by FCM or APNs, or an item of the recipient's in-app feed.

use chrono::Utc;

use inc_shared::destinations::Delivery;
use inc_shared::domain::apps::devices::{Platform, parse_address};
use inc_shared::domain::apps::feed::{FeedItem, item_frame};
use inc_shared::domain::delivery::decision::sms_gateway;
use inc_shared::domain::recipients::preferences::TRANSACTIONAL;
use inc_shared::domain::{
    Attempt, AttemptOutcome, Endpoint, Notification, Payload, WebhookPayload,
};
use inc_shared::push::PushContent;
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
        shaped: Option<&WebhookPayload>,
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
                // Reshaped by the endpoint's transformation, when it has one.
                let payload = shaped.unwrap_or(payload);
                // A queue, a topic or a bus (contract 15).
                if let Some(e) = endpoint.filter(|e| !e.destination.is_http() && !n.is_alert()) {
                    let attempt = self
                        .destinations
                        .send(Delivery {
                            destination: &e.destination,
                            webhook_id: &n.notification_id,
                            event_type: &n.event_type,
                            endpoint_id: &e.endpoint_id,
                            body: &payload.body,
                            attempt: number,
                        })
                        .await;
                    let outcome = AttemptOutcome::of(attempt.status_code);
                    return (attempt, outcome);
                }
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
            Payload::Push {
                to,
                title,
                body,
                data,
            } => {
                let Some((platform, token)) = parse_address(to) else {
                    return (
                        failed_before_sending(number, "", "not a device".into()),
                        AttemptOutcome::Stop,
                    );
                };
                let content = PushContent { title, body, data };
                let push = channels.push.as_ref();
                let sent = match (
                    platform,
                    push.and_then(|p| p.fcm.as_ref()),
                    push.and_then(|p| p.apns.as_ref()),
                ) {
                    (Platform::Fcm, Some(p), _) => self.push.fcm(p, number, token, &content).await,
                    (Platform::Apns, _, Some(p)) => {
                        self.push.apns(p, number, token, &content).await
                    }
                    (Platform::Fcm, None, _) => return missing("FCM provider (channels.push.fcm)"),
                    (Platform::Apns, _, None) => {
                        return missing("APNs provider (channels.push.apns)");
                    }
                };
                if sent.gone
                    && let Some(recipient_id) = &n.recipient_id
                {
                    // The provider says the app is gone from the device:
                    // no later message tries it again (contract 14).
                    match self
                        .store
                        .delete_device(&n.account_id, recipient_id, token)
                        .await
                    {
                        Ok(_) => tracing::info!(notification_id = %n.notification_id,
                            platform = platform.as_str(), "device unregistered; removed"),
                        Err(err) => tracing::warn!(%err, "could not remove an unregistered device"),
                    }
                }
                (sent.attempt, sent.outcome)
            }
            Payload::InApp {
                to,
                title,
                body,
                data,
            } => self.feed(n, number, to, title, body, data).await,
        }
    }

    /// An in-app message: its item in the recipient's feed (the
    /// notification's id is the item's, so a second copy adds nothing),
    /// then a frame to each of the recipient's open sockets.
    async fn feed(
        &self,
        n: &Notification,
        number: u32,
        recipient_id: &str,
        title: &str,
        body: &str,
        data: &std::collections::BTreeMap<String, String>,
    ) -> (Attempt, AttemptOutcome) {
        let started = std::time::Instant::now();
        let mut attempt = Attempt::begin(number, Utc::now(), "inc:feed");
        let item = FeedItem {
            account_id: n.account_id.clone(),
            recipient_id: recipient_id.to_owned(),
            item_id: n.notification_id.clone(),
            title: title.to_owned(),
            body: body.to_owned(),
            data: data.clone(),
            category: n
                .category
                .clone()
                .unwrap_or_else(|| TRANSACTIONAL.to_owned()),
            created_at: n.created_at,
            seen_at: None,
            read_at: None,
        };
        let added = match self.store.add_feed_item(&item).await {
            Ok(added) => added,
            Err(err) => {
                attempt.error = Some(format!("could not add the feed item: {err}"));
                return (attempt, AttemptOutcome::Retry);
            }
        };
        attempt.status_code = Some(if added { 201 } else { 200 });
        if added {
            match self.store.unread_count(&n.account_id, recipient_id).await {
                Ok(unread) => {
                    let frame = item_frame(&item, unread);
                    let sockets = self
                        .realtime
                        .broadcast(&self.store, &n.account_id, recipient_id, &frame)
                        .await;
                    attempt.response_excerpt =
                        Some(format!("added; sent live to {sockets} socket(s)"));
                }
                Err(err) => tracing::warn!(%err, "added, but its frame could not be made"),
            }
        }
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        (attempt, AttemptOutcome::Delivered)
    }
}
