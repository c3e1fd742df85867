//! The INC API as the CLI's commands call it: the key, and the retries of a
//! transient answer (`503`, `429`, no answer), which every write of the API
//! makes safe.

use std::time::Duration;

use serde_json::Value;

use crate::{Error, Result};

/// How often one request is tried before the command stops.
const MAX_TRIES: u32 = 8;

/// Where the API is and who is asking.
pub struct Target {
    pub api_url: String,
    pub api_key: String,
}

/// The API, with the key and the retries of a transient answer.
pub struct Client<'a> {
    http: reqwest::Client,
    target: &'a Target,
}

impl<'a> Client<'a> {
    pub fn new(target: &'a Target) -> Result<Client<'a>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Api(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, target })
    }

    /// A request that must succeed: a transient failure is tried again
    /// (after the answer's `Retry-After`, or a growing pause), anything
    /// else is the error.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut pause = Duration::from_millis(500);
        for _ in 1..MAX_TRIES {
            match self.call(method.clone(), path, body.clone()).await {
                Ok((200..=299, answer)) => return Ok(answer),
                Ok((429 | 503, _)) | Err(Error::Api(_)) => {}
                Ok((status, answer)) => return Err(refusal(status, &answer)),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(8));
        }
        match self.call(method, path, body).await? {
            (200..=299, answer) => Ok(answer),
            (status, answer) => Err(refusal(status, &answer)),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.target.api_url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, &url)
            .header("Authorization", format!("Api-Key {}", self.target.api_key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Api(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Api(format!("{url}: {e}")))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

/// An answer that will not change by asking again, as the error to show.
pub fn refusal(status: u16, body: &Value) -> Error {
    let message = body["error"]["message"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    Error::Api(format!("the API answered {status}: {message}"))
}
