//! The mobile push adapter (contract 14): FCM's HTTP v1 API and Apple's
//! APNs. Each send returns the attempt as the notification log records it,
//! what its answer means, and whether the device is gone for good.
//!
//! Credentials are signed here and kept per Lambda instance: FCM's access
//! token (from an RS256 assertion exchanged at the service account's
//! `token_uri`) until shortly before it expires, APNs' ES256 provider
//! token for 40 minutes (Apple refuses one older than an hour, and renewing
//! more often than every 20 minutes). Neither is ever logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::accounts::providers::{
    APNS_BASE_URL, ApnsProvider, FCM_BASE_URL, FcmProvider, GOOGLE_TOKEN_URI,
};
use crate::domain::apps::devices::mask;
use crate::domain::apps::push::{
    APNS_TOKEN_LIFE_SECS, ApnsClaims, FCM_TOKEN_MARGIN_SECS, FcmAssertion, apns_payload,
    fcm_message, outcome,
};
use crate::domain::{Attempt, AttemptOutcome};
use crate::error::Result;
use crate::webhook::{WebhookClient, failed_before_sending};

/// What one push did: the attempt, its meaning, and whether the provider
/// said the device is gone (FCM `UNREGISTERED`, APNs `410`).
pub struct PushSent {
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
    pub gone: bool,
}

/// A push's content.
pub struct PushContent<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Push {
    http: WebhookClient,
    /// APNs speaks HTTP/2 only.
    h2: WebhookClient,
    /// FCM access tokens by credential: the token and when to stop using it.
    fcm_tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// APNs provider tokens by credential: the token and when it was made.
    apns_tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// A credential's cache key: a digest of everything that makes it, so a
/// key changed in settings is a new entry.
fn credential_key(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    hex::encode(digest.finalize())
}

fn sent(attempt: Attempt, status_outcome: (AttemptOutcome, bool)) -> PushSent {
    PushSent {
        attempt,
        outcome: status_outcome.0,
        gone: status_outcome.1,
    }
}

impl Push {
    pub fn new(http: WebhookClient) -> Result<Push> {
        Ok(Push {
            h2: http.http2_only()?,
            http,
            fcm_tokens: Mutex::new(HashMap::new()),
            apns_tokens: Mutex::new(HashMap::new()),
        })
    }

    /// `messages:send` to one FCM registration token.
    pub async fn fcm(
        &self,
        p: &FcmProvider,
        number: u32,
        token: &str,
        content: &PushContent<'_>,
    ) -> PushSent {
        let base = p
            .base_url
            .as_deref()
            .unwrap_or(FCM_BASE_URL)
            .trim_end_matches('/');
        let url = format!("{base}/v1/projects/{}/messages:send", p.project_id);
        let access = match self.fcm_access_token(p, number).await {
            Ok(access) => access,
            Err(failed) => return failed,
        };
        let body = fcm_message(token, content.title, content.body, content.data);
        let mut attempt = self
            .send_h2(number, &url, |c| {
                c.post(&url).bearer_auth(&access).json(&body)
            })
            .await;
        attempt.provider = Some("fcm".to_owned());
        if attempt.status_code == Some(401) {
            // Revoked or expired early: the next attempt signs anew.
            self.forget_fcm(p);
            return sent(attempt, (AttemptOutcome::Retry, false));
        }
        if attempt.status_code.is_some_and(|c| (200..300).contains(&c)) {
            // `{"name": "projects/…/messages/…"}`
            attempt.provider_message_id = attempt
                .response_excerpt
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|v| v["name"].as_str().map(str::to_owned));
        }
        let meaning = outcome(attempt.status_code, attempt.response_excerpt.as_deref());
        sent(attempt, meaning)
    }

    /// A POST to `/3/device/{token}` over HTTP/2. The attempt names the
    /// device masked.
    pub async fn apns(
        &self,
        p: &ApnsProvider,
        number: u32,
        token: &str,
        content: &PushContent<'_>,
    ) -> PushSent {
        let base = p
            .base_url
            .as_deref()
            .unwrap_or(APNS_BASE_URL)
            .trim_end_matches('/');
        let url = format!("{base}/3/device/{token}");
        let shown = format!("{base}/3/device/{}", mask(token));
        let jwt = match self.apns_token(p) {
            Ok(jwt) => jwt,
            Err(e) => {
                return sent(
                    failed_before_sending(number, &shown, e),
                    (AttemptOutcome::Stop, false),
                );
            }
        };
        let body = apns_payload(content.title, content.body, content.data);
        let mut attempt = self
            .send_h2(number, &url, |c| {
                c.post(&url)
                    .header("authorization", format!("bearer {jwt}"))
                    .header("apns-topic", &p.topic)
                    .header("apns-push-type", "alert")
                    .header("apns-priority", "10")
                    .json(&body)
            })
            .await;
        attempt.url = shown;
        attempt.provider = Some("apns".to_owned());
        let reason = attempt
            .response_excerpt
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v["reason"].as_str().map(str::to_owned));
        if attempt.status_code == Some(403) && reason.as_deref() == Some("ExpiredProviderToken") {
            self.forget_apns(p);
            return sent(attempt, (AttemptOutcome::Retry, false));
        }
        let meaning = outcome(attempt.status_code, attempt.response_excerpt.as_deref());
        sent(attempt, meaning)
    }

    /// Sends over HTTP/2, as FCM and APNs speak it (a loopback `http://`
    /// server is spoken to in cleartext h2); a cleartext server that
    /// refuses the h2 preface is asked again once over HTTP/1.1.
    async fn send_h2(
        &self,
        number: u32,
        url: &str,
        build: impl Fn(&WebhookClient) -> reqwest::RequestBuilder,
    ) -> Attempt {
        let attempt = self.h2.execute(number, url, build(&self.h2)).await;
        let refused = attempt.status_code.is_none() && !attempt.timed_out;
        match refused && url.starts_with("http://") {
            true => self.http.execute(number, url, build(&self.http)).await,
            false => attempt,
        }
    }

    fn fcm_key(p: &FcmProvider) -> String {
        let sa = &p.service_account;
        credential_key(&[
            &sa.client_email,
            sa.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI),
            &sa.private_key,
        ])
    }

    fn forget_fcm(&self, p: &FcmProvider) {
        let key = Self::fcm_key(p);
        self.fcm_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    fn apns_key(p: &ApnsProvider) -> String {
        credential_key(&[&p.team_id, &p.key_id, &p.private_key])
    }

    fn forget_apns(&self, p: &ApnsProvider) {
        let key = Self::apns_key(p);
        self.apns_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// The access token for `p`'s service account: the cached one while it
    /// has more than five minutes left, else a new one from an RS256
    /// assertion exchanged at `token_uri`. A failed exchange is the
    /// attempt's failure (its 4xx stops: the credentials are wrong).
    async fn fcm_access_token(
        &self,
        p: &FcmProvider,
        number: u32,
    ) -> std::result::Result<String, PushSent> {
        let key = Self::fcm_key(p);
        let now = Instant::now();
        if let Some((token, until)) = self
            .fcm_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && *until > now
        {
            return Ok(token.clone());
        }
        let sa = &p.service_account;
        let token_uri = sa.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI);
        let assertion = EncodingKey::from_rsa_pem(sa.private_key.as_bytes())
            .and_then(|k| {
                jsonwebtoken::encode(
                    &Header::new(Algorithm::RS256),
                    &FcmAssertion::new(&sa.client_email, token_uri, Utc::now().timestamp()),
                    &k,
                )
            })
            .map_err(|e| {
                sent(
                    failed_before_sending(
                        number,
                        token_uri,
                        format!("cannot sign the FCM assertion: {e}"),
                    ),
                    (AttemptOutcome::Stop, false),
                )
            })?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let mut attempt = self
            .send_h2(number, token_uri, |c| {
                c.post(token_uri)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.clone())
            })
            .await;
        attempt.provider = Some("fcm".to_owned());
        let answer = attempt
            .response_excerpt
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .filter(|_| attempt.status_code.is_some_and(|c| (200..300).contains(&c)));
        let access = answer.as_ref().and_then(|a| {
            let token = a["access_token"].as_str()?.to_owned();
            let lifetime = a["expires_in"].as_u64().unwrap_or(3600);
            Some((token, lifetime))
        });
        let Some((token, lifetime)) = access else {
            // The token endpoint's answer is not kept: it may echo a token.
            attempt.response_excerpt = None;
            attempt.error = Some(format!(
                "FCM: the OAuth token exchange at {token_uri} failed{}",
                attempt
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
            let meaning = AttemptOutcome::of_provider(attempt.status_code, false);
            return Err(sent(attempt, (meaning, false)));
        };
        let until = now + Duration::from_secs(lifetime.saturating_sub(FCM_TOKEN_MARGIN_SECS));
        self.fcm_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (token.clone(), until));
        Ok(token)
    }

    /// The provider token for `p`: the cached one until it is 40 minutes
    /// old, else a new ES256 JWT (`kid` the key id, `iss` the team).
    fn apns_token(&self, p: &ApnsProvider) -> std::result::Result<String, String> {
        let key = Self::apns_key(p);
        let now = Instant::now();
        let mut cache = self.apns_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, made)) = cache.get(&key)
            && now.duration_since(*made) < Duration::from_secs(APNS_TOKEN_LIFE_SECS)
        {
            return Ok(token.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(p.key_id.clone());
        let claims = ApnsClaims {
            iss: p.team_id.clone(),
            iat: Utc::now().timestamp(),
        };
        let token = EncodingKey::from_ec_pem(p.private_key.as_bytes())
            .and_then(|k| jsonwebtoken::encode(&header, &claims, &k))
            .map_err(|e| format!("cannot sign the APNs provider token: {e}"))?;
        cache.insert(key, (token.clone(), now));
        Ok(token)
    }
}
