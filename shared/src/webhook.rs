//! The HTTP adapter that sends webhooks: signed, with a timeout, never
//! following redirects, and — when deployed — never connecting to an
//! internal address, whatever a host name resolves to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::common::url_policy::is_internal;
use crate::domain::endpoints::signing;
use crate::domain::{Attempt, EndpointPolicy, WebhookPayload};
use crate::error::{Error, Result};

/// How much of the endpoint's answer an attempt keeps.
const EXCERPT_LEN: usize = 512;

#[derive(Clone, Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: EndpointPolicy,
    timeout: Duration,
}

/// One webhook to send.
pub struct WebhookRequest<'a> {
    pub url: &'a str,
    /// The notification id: the `webhook-id`, the same on every attempt.
    pub webhook_id: &'a str,
    /// Every secret that signs (the current one, and one being rotated out).
    pub secrets: Vec<&'a str>,
    pub payload: &'a WebhookPayload,
    pub attempt: u32,
    /// The endpoint's own headers (never one INC sets: see
    /// `domain::endpoints::endpoint`).
    pub headers: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl WebhookClient {
    /// Builds the client once, at init; it keeps connections open across
    /// invocations.
    pub fn new(policy: EndpointPolicy, timeout: Duration) -> Result<WebhookClient> {
        Self::build(policy, timeout, false)
    }

    /// The same client speaking HTTP/2 only — over TLS as APNs requires, or
    /// in the clear to a loopback server (prior knowledge).
    pub fn http2_only(&self) -> Result<WebhookClient> {
        Self::build(self.policy, self.timeout, true)
    }

    fn build(policy: EndpointPolicy, timeout: Duration, http2: bool) -> Result<WebhookClient> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("INC-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !policy.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        if http2 {
            builder = builder.http2_prior_knowledge();
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(WebhookClient {
            http,
            policy,
            timeout,
        })
    }

    /// How long an attempt may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A POST to `url` on this client (timeouts, no redirects, SSRF-safe).
    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.post(url)
    }

    /// Sends one signed webhook attempt and reports what happened.
    pub async fn send(&self, req: WebhookRequest<'_>) -> Attempt {
        let timestamp = Utc::now().timestamp();
        let signature = match signing::sign_all(
            &req.secrets,
            req.webhook_id,
            timestamp,
            req.payload.body.as_bytes(),
        ) {
            Ok(sig) => sig,
            Err(e) => return failed_before_sending(req.attempt, req.url, e.to_string()),
        };
        let mut request = self.post(req.url);
        for (name, value) in req.headers.into_iter().flatten() {
            request = request.header(name, value);
        }
        let request = request
            .header(reqwest::header::CONTENT_TYPE, &req.payload.content_type)
            .header("webhook-id", req.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(req.payload.body.clone());
        let mut attempt = self.execute(req.attempt, req.url, request).await;
        if attempt.status_code.is_some() || attempt.timed_out {
            attempt.body_sha256 = Some(signing::body_sha256(req.payload.body.as_bytes()));
        }
        attempt
    }

    /// Checks `url` against the endpoint policy, sends `request` and records
    /// the attempt; never fails itself.
    pub async fn execute(
        &self,
        number: u32,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Attempt {
        if let Err(e) = self.policy.check(url) {
            return failed_before_sending(number, url, e.to_string());
        }
        let started = Instant::now();
        let mut attempt = Attempt::begin(number, Utc::now(), url);
        match request.send().await {
            Ok(response) => {
                attempt.status_code = Some(response.status().as_u16());
                attempt.retry_after_secs = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, Utc::now()));
                match response.text().await {
                    Ok(text) if !text.is_empty() => {
                        attempt.response_excerpt = Some(text.chars().take(EXCERPT_LEN).collect());
                    }
                    Ok(_) => {}
                    Err(e) => attempt.error = Some(format!("reading the answer: {e}")),
                }
                if attempt.error.is_none() && !response_ok(attempt.status_code) {
                    attempt.error = attempt
                        .status_code
                        .map(|c| format!("endpoint answered HTTP {c}"));
                }
            }
            Err(e) => {
                attempt.timed_out = e.is_timeout();
                attempt.error = Some(describe(&e));
            }
        }
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        attempt
    }
}

/// An attempt that failed before anything was sent.
pub fn failed_before_sending(number: u32, url: &str, error: String) -> Attempt {
    Attempt {
        error: Some(error),
        ..Attempt::begin(number, Utc::now(), url)
    }
}

/// A `Retry-After` value — delta-seconds or an HTTP date — in seconds from
/// `now`.
pub fn retry_after(value: &str, now: chrono::DateTime<Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(u64::try_from((at.with_timezone(&Utc) - now).num_seconds()).unwrap_or(0))
}

fn response_ok(code: Option<u16>) -> bool {
    matches!(code, Some(200..=299))
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Resolves names as usual, then drops every internal address; a name with
/// nothing left fails to resolve. reqwest connects only to what this returns,
/// so there is no second lookup to race against.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn reads_retry_after_in_both_forms() {
        let now = Utc.with_ymd_and_hms(2025, 1, 30, 22, 0, 0).unwrap();
        assert_eq!(retry_after("120", now), Some(120));
        assert_eq!(retry_after("Thu, 30 Jan 2025 22:01:00 GMT", now), Some(60));
        assert_eq!(retry_after("Thu, 30 Jan 2025 21:00:00 GMT", now), Some(0));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
