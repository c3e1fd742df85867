//! The control panel: one HTML page, its script and its style, built into
//! the binary and served by the same function as the API it calls. Nothing
//! is fetched from elsewhere, and the Content-Security-Policy says so.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use inc_shared::Error;

use crate::Api;

const INDEX: &str = include_str!("../panel/index.html");
const SCRIPT: &str = include_str!("../panel/panel.js");
const ENDPOINTS: &str = include_str!("../panel/endpoints.js");
const SUPPRESSIONS: &str = include_str!("../panel/suppressions.js");
const TEMPLATES: &str = include_str!("../panel/templates.js");
const MESSAGES: &str = include_str!("../panel/messages.js");
const RECIPIENTS: &str = include_str!("../panel/recipients.js");
const CAMPAIGNS: &str = include_str!("../panel/campaigns.js");
const STYLE: &str = include_str!("../panel/panel.css");
const FEED_DEMO: &str = include_str!("../panel/feed-demo.html");
const FEED_DEMO_SCRIPT: &str = include_str!("../panel/feed-demo.js");

/// Only this origin: no inline script, no third-party asset, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    page_with(content_type, body.to_owned(), HeaderValue::from_static(CSP))
}

fn page_with(content_type: &'static str, body: String, csp: HeaderValue) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /panel`
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// `GET /panel/feed-demo`: the in-app feed as an app shows it, opened with
/// a recipient token (contract 14). It connects to this deployment's
/// WebSocket API, and the Content-Security-Policy names that origin alone
/// beside this one.
pub async fn feed_demo(State(app): State<Arc<Api>>) -> Response {
    let socket = app.feed_socket_url.as_deref().unwrap_or_default();
    let origin = socket
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
        .unwrap_or_default();
    let csp = CSP.replace(
        "connect-src 'self'",
        &format!("connect-src 'self' {origin}"),
    );
    let body = FEED_DEMO.replace("{{FEED_SOCKET}}", &html_attribute(socket));
    match HeaderValue::from_str(&csp) {
        Ok(csp) => page_with("text/html; charset=utf-8", body, csp),
        Err(_) => page("text/html; charset=utf-8", FEED_DEMO),
    }
}

fn html_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `GET /panel/{asset}`: the script and the style.
pub async fn asset(Path(name): Path<String>) -> Result<Response, Error> {
    match name.as_str() {
        "panel.js" => Ok(page("text/javascript; charset=utf-8", SCRIPT)),
        "endpoints.js" => Ok(page("text/javascript; charset=utf-8", ENDPOINTS)),
        "suppressions.js" => Ok(page("text/javascript; charset=utf-8", SUPPRESSIONS)),
        "templates.js" => Ok(page("text/javascript; charset=utf-8", TEMPLATES)),
        "messages.js" => Ok(page("text/javascript; charset=utf-8", MESSAGES)),
        "recipients.js" => Ok(page("text/javascript; charset=utf-8", RECIPIENTS)),
        "campaigns.js" => Ok(page("text/javascript; charset=utf-8", CAMPAIGNS)),
        "panel.css" => Ok(page("text/css; charset=utf-8", STYLE)),
        "feed-demo.js" => Ok(page("text/javascript; charset=utf-8", FEED_DEMO_SCRIPT)),
        _ => Err(Error::NotFound("asset")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for text in [
            INDEX,
            SCRIPT,
            ENDPOINTS,
            SUPPRESSIONS,
            TEMPLATES,
            MESSAGES,
            RECIPIENTS,
            CAMPAIGNS,
            FEED_DEMO,
            FEED_DEMO_SCRIPT,
            STYLE,
        ] {
            assert!(!text.contains("http://"), "an absolute http URL");
            for line in text.lines().filter(|l| l.contains("https://")) {
                // Only example placeholders, never something loaded.
                assert!(
                    line.contains("placeholder="),
                    "loads from elsewhere: {line}"
                );
            }
        }
        assert!(!INDEX.contains("<script>"), "inline script breaks the CSP");
        assert!(!INDEX.contains("style="), "inline style breaks the CSP");
    }
}
