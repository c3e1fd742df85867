//! What every HTTP function shares: the `/v1` error shape, API-key
//! authentication, and reading a bounded body.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;
use crate::store::{Account, Store};

/// The largest request body any route reads (CONTRACT §3).
pub const MAX_BODY: usize = 256 * 1024;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let message = match &self {
            Error::Dependency(cause) | Error::Config(cause) => {
                tracing::error!(%cause, "dependency failure");
                "a dependency is unavailable; nothing was stored, please retry".to_owned()
            }
            staged @ Error::StagedNotQueued { cause, .. } => {
                tracing::error!(%cause, "dependency failure");
                staged.to_string()
            }
            other => other.to_string(),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Some(field) = self.field() {
            error["field"] = field.into();
        }
        let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let scheme = match self {
                Error::NotRecipient => "Bearer",
                _ => "Api-Key",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(scheme),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, self.retry_after_secs().into());
        }
        response
    }
}

/// The key from `Authorization: Api-Key <key>` (the scheme is
/// case-insensitive, as HTTP schemes are).
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("Api-Key") && !key.is_empty() && key.len() <= 256).then_some(key)
}

/// The calling account, or 401; a DynamoDB failure is a 503, not a 401.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Account, Error> {
    let key = api_key(headers).ok_or(Error::Unauthorized)?;
    store.account_for_key(key).await?.ok_or(Error::Unauthorized)
}

/// The recipient token from `Authorization: Bearer <token>` (contract 14).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty() && token.len() <= 2_048)
        .then_some(token)
}

/// The recipient a token names — signed with its account's secret (the
/// current one or one being rotated out), unexpired — or 401; an API key
/// is not one. A DynamoDB failure is a 503.
pub async fn authenticate_recipient(
    store: &Store,
    token: &str,
) -> Result<crate::domain::apps::token::Bearer, Error> {
    use crate::domain::apps::token;
    let account_id = token::account_of(token).ok_or(Error::NotRecipient)?;
    let account = store
        .get_account(&account_id)
        .await?
        .ok_or(Error::NotRecipient)?;
    let now = chrono::Utc::now();
    account
        .signing_secrets(now)
        .into_iter()
        .find_map(|secret| token::verify(token, &account_id, secret, now).ok())
        .ok_or(Error::NotRecipient)
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes with a 413.
pub async fn read_body(body: Body) -> Result<Bytes, Error> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Error::PayloadTooLarge { limit: MAX_BODY })
}

/// Reads a body that must be JSON (`415` otherwise, `413` if too large).
pub async fn read_json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Error> {
    let bytes = read_body(body).await?;
    if media_type(headers).as_deref() != Some("application/json") {
        return Err(Error::UnsupportedMediaType {
            expected: "application/json",
        });
    }
    Ok(bytes)
}

pub use crate::domain::json_object;

/// The body's media type, lower-cased and without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// The answer to a route no function serves.
pub async fn not_found() -> Error {
    Error::NotFound("route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_api_key_header() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), None);
        h.insert(header::AUTHORIZATION, "Api-Key abc".parse().unwrap());
        assert_eq!(api_key(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "api-key  abc ".parse().unwrap());
        assert_eq!(api_key(&h), Some("abc"));
        for bad in ["Bearer abc", "Api-Key", "Api-Key ", "abc"] {
            h.insert(header::AUTHORIZATION, bad.parse().unwrap());
            assert_eq!(api_key(&h), None, "{bad}");
        }
    }
}
