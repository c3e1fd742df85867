//! The API Gateway emulation: each HTTP function's own axum router, mounted
//! on the template's routes as API Gateway would hand requests to it.

use std::convert::Infallible;
use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

use crate::{Error, Result};
use inc_shared::Config;
use inc_shared::metrics::Metrics;

/// Hands a request to a function's router as API Gateway would: as a new
/// request, without what this listener's own routing attached to it (its
/// path parameters would otherwise be seen twice).
pub fn fresh_request(
    router: Router,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future = impl Send>
+ Clone
+ Send {
    tower::service_fn(move |mut request: Request| {
        request.extensions_mut().clear();
        router.clone().oneshot(request)
    })
}

/// SES (and moto) refuse to send from an unverified sender. A deployed
/// stack relies on the identities verified in SES; the local stack verifies
/// the email sender itself whenever settings name one.
pub async fn verify_email_senders(
    State(ses): State<aws_sdk_sesv2::Client>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let is_settings_patch =
        request.method() == Method::PATCH && request.uri().path() == "/v1/settings";
    let response = next.run(request).await;
    if !is_settings_patch || !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, inc_shared::api::MAX_BODY)
        .await
        .unwrap_or_default();
    let sender = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        v.pointer("/channels/email/from")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if let Some(sender) = sender
        && let Err(e) = ses
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
    {
        let already = e
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        if !already {
            tracing::warn!(%sender, error = %aws_sdk_sesv2::error::DisplayErrorContext(e), "could not verify the email sender");
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The axum router of an HTTP function, by its binary's name.
pub fn http_router(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<Router> {
    Ok(match binary {
        "ingest" => inc_ingest::router(Arc::new(
            // Nothing reads stdout for metrics here: they go to the debug log.
            inc_ingest::Ingest::new(sdk, config)?.with_metrics(Metrics::to_log()),
        )),
        "api" => inc_api::router(Arc::new(inc_api::Api::new(sdk, config)?)),
        "resend" => inc_resend::router(Arc::new(inc_resend::Resend::new(sdk, config)?)),
        other => {
            return Err(Error::Template(format!(
                "the local stack has no HTTP handler for binary `{other}`"
            )));
        }
    })
}
