//! The adapter that delivers a webhook to a queue, a topic or a bus with
//! the official SDK clients (contract section 15): the webhook's body as
//! the message, its `webhook-id` as a message attribute (SQS, SNS); on
//! EventBridge, `source` `inc`, `detail-type` the event type, `detail` the
//! body. A FIFO queue or topic gets the endpoint as its message group and
//! the webhook id as its deduplication id, so a retried attempt SQS or SNS
//! already took is not taken twice.
//!
//! An attempt reads like an HTTP one: the service's HTTP status when it
//! answered (2xx delivered; a deleted queue or a denied access is a 4xx,
//! retried like a webhook's, so the endpoint's health and alerts follow),
//! its error, the message id as the provider's.

use std::time::{Duration, Instant};

use aws_config::Region;
use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sns::types::MessageAttributeValue as SnsAttribute;
use aws_sdk_sqs::types::MessageAttributeValue as SqsAttribute;
use chrono::Utc;

use crate::domain::Attempt;
use crate::domain::destinations::Destination;
use crate::domain::endpoints::signing;
use crate::tls::OnFirstUse;

/// The message attribute that carries the notification's id.
pub const WEBHOOK_ID: &str = "webhook-id";
/// EventBridge's `source` for INC's events.
pub const EVENT_SOURCE: &str = "inc";

/// Each client is built at its kind's first delivery: most functions
/// deliver to HTTP endpoints only.
#[derive(Clone, Debug)]
pub struct Destinations {
    sqs: OnFirstUse<aws_sdk_sqs::Client>,
    sns: OnFirstUse<aws_sdk_sns::Client>,
    events: OnFirstUse<aws_sdk_eventbridge::Client>,
    timeout: Duration,
}

/// One webhook to put on a destination.
pub struct Delivery<'a> {
    pub destination: &'a Destination,
    /// The notification id.
    pub webhook_id: &'a str,
    pub event_type: &'a str,
    pub endpoint_id: &'a str,
    pub body: &'a str,
    pub attempt: u32,
}

/// What a service said: its status and error, or the message id.
struct Sent {
    status: Option<u16>,
    message_id: Option<String>,
    error: Option<String>,
}

impl Destinations {
    pub fn new(sdk: &SdkConfig, timeout: Duration) -> Destinations {
        Destinations {
            sqs: OnFirstUse::new(sdk, aws_sdk_sqs::Client::new),
            sns: OnFirstUse::new(sdk, aws_sdk_sns::Client::new),
            events: OnFirstUse::new(sdk, aws_sdk_eventbridge::Client::new),
            timeout,
        }
    }

    /// One attempt; never fails itself.
    pub async fn send(&self, d: Delivery<'_>) -> Attempt {
        let target = d.destination.target().map_or("", |(_, t)| t);
        let started = Instant::now();
        let mut attempt = Attempt::begin(d.attempt, Utc::now(), target);
        let sent = tokio::time::timeout(self.timeout, self.put(&d)).await;
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        attempt.body_sha256 = Some(signing::body_sha256(d.body.as_bytes()));
        match sent {
            Err(_) => {
                attempt.timed_out = true;
                attempt.error = Some(format!(
                    "no answer from {} within {} s",
                    d.destination.type_name(),
                    self.timeout.as_secs()
                ));
            }
            Ok(sent) => {
                attempt.status_code = sent.status;
                attempt.error = sent.error;
                if let Some(id) = sent.message_id {
                    attempt.response_excerpt = Some(format!("message id {id}"));
                    attempt.provider_message_id = Some(id);
                }
            }
        }
        attempt
    }

    async fn put(&self, d: &Delivery<'_>) -> Sent {
        // A target in another region than INC's is reached in its own.
        let region = d.destination.region().map(|r| Region::new(r.to_owned()));
        let fifo = d.destination.is_fifo();
        match d.destination {
            Destination::Http => Sent {
                status: None,
                message_id: None,
                error: Some("an http endpoint is sent by the webhook client".into()),
            },
            Destination::Sqs { queue_url } => {
                let attribute = SqsAttribute::builder()
                    .data_type("String")
                    .string_value(d.webhook_id)
                    .build();
                let mut request = self
                    .sqs
                    .get()
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(d.body)
                    .set_message_attributes(
                        attribute
                            .ok()
                            .map(|a| std::iter::once((WEBHOOK_ID.to_owned(), a)).collect()),
                    );
                if fifo {
                    request = request
                        .message_group_id(d.endpoint_id)
                        .message_deduplication_id(d.webhook_id);
                }
                let sent = match region {
                    Some(region) => {
                        let config = aws_sdk_sqs::config::Builder::default().region(region);
                        request.customize().config_override(config).send().await
                    }
                    None => request.send().await,
                };
                match sent {
                    Ok(out) => delivered(out.message_id),
                    Err(e) => refused(
                        e.raw_response().map(|r| r.status().as_u16()),
                        aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                    ),
                }
            }
            Destination::Sns { topic_arn } => {
                let attribute = SnsAttribute::builder()
                    .data_type("String")
                    .string_value(d.webhook_id)
                    .build();
                let mut request = self
                    .sns
                    .get()
                    .publish()
                    .topic_arn(topic_arn)
                    .message(d.body)
                    .set_message_attributes(
                        attribute
                            .ok()
                            .map(|a| std::iter::once((WEBHOOK_ID.to_owned(), a)).collect()),
                    );
                if fifo {
                    request = request
                        .message_group_id(d.endpoint_id)
                        .message_deduplication_id(d.webhook_id);
                }
                let sent = match region {
                    Some(region) => {
                        let config = aws_sdk_sns::config::Builder::default().region(region);
                        request.customize().config_override(config).send().await
                    }
                    None => request.send().await,
                };
                match sent {
                    Ok(out) => delivered(out.message_id),
                    Err(e) => refused(
                        e.raw_response().map(|r| r.status().as_u16()),
                        aws_sdk_sns::error::DisplayErrorContext(e).to_string(),
                    ),
                }
            }
            Destination::Eventbridge { event_bus_name } => {
                let entry = PutEventsRequestEntry::builder()
                    .event_bus_name(event_bus_name)
                    .source(EVENT_SOURCE)
                    .detail_type(d.event_type)
                    .detail(d.body)
                    .build();
                let request = self.events.get().put_events().entries(entry);
                let sent = match region {
                    Some(region) => {
                        let config = aws_sdk_eventbridge::config::Builder::default().region(region);
                        request.customize().config_override(config).send().await
                    }
                    None => request.send().await,
                };
                match sent {
                    Ok(out) => {
                        let first = out.entries().first();
                        match first.and_then(|e| e.error_code()) {
                            // The call was taken but the entry refused
                            // (throttled, malformed): not delivered.
                            Some(code) => Sent {
                                status: None,
                                message_id: None,
                                error: Some(format!(
                                    "EventBridge refused the event: {code}: {}",
                                    first.and_then(|e| e.error_message()).unwrap_or("")
                                )),
                            },
                            None => delivered(first.and_then(|e| e.event_id()).map(str::to_owned)),
                        }
                    }
                    Err(e) => refused(
                        e.raw_response().map(|r| r.status().as_u16()),
                        aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string(),
                    ),
                }
            }
        }
    }
}

fn delivered(message_id: Option<String>) -> Sent {
    Sent {
        status: Some(200),
        message_id,
        error: None,
    }
}

fn refused(status: Option<u16>, error: String) -> Sent {
    Sent {
        status,
        message_id: None,
        error: Some(error.chars().take(512).collect()),
    }
}
