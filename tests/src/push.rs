//! FCM and APNs on loopback (contract 14): each checks what the real one
//! checks — FCM the RS256 assertion exchanged for an access token and that
//! token on every send, APNs HTTP/2, the ES256 provider token and the
//! topic — records what it was sent, and answers from a script: a device
//! told to be gone answers as the real service does (FCM `404
//! UNREGISTERED`, APNs `410 Unregistered`).

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// The test keys (tests/fixtures/push): private halves for the settings,
/// public halves for the servers.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        crate::workspace_root()
            .join("tests/fixtures/push")
            .join(name),
    )
    .expect("a push fixture")
}

/// One push a fake provider took: the device and the JSON it was sent.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub device: String,
    pub body: Value,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct Book {
    pushed: Vec<Pushed>,
    /// Devices answered as gone for good.
    gone: BTreeSet<String>,
    /// Statuses to answer next, before the usual 200.
    script: VecDeque<u16>,
    /// FCM: access tokens issued, and how many exchanges there were.
    issued: Vec<String>,
    /// FCM: access tokens no longer honoured (revoked).
    revoked: BTreeSet<String>,
    /// FCM: how long an access token lives (`expires_in`), 3599 s unless set.
    lifetime: Option<u64>,
    /// APNs: the distinct provider tokens seen.
    provider_tokens: BTreeSet<String>,
}

#[derive(Clone)]
pub struct FakePush {
    pub addr: SocketAddr,
    book: Arc<Mutex<Book>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

impl FakePush {
    async fn serve(app: Router<Arc<Mutex<Book>>>, book: Arc<Mutex<Book>>) -> FakePush {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = app.with_state(book.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePush {
            addr,
            book,
            _server: Arc::new(server),
        }
    }

    /// FCM: `POST /token` (the OAuth exchange) and `POST
    /// /v1/projects/{project}/messages:send`.
    pub async fn fcm() -> FakePush {
        let app = Router::new()
            .route("/token", post(fcm_token))
            .route("/v1/projects/{project}/{send}", post(fcm_send));
        FakePush::serve(app, Arc::default()).await
    }

    /// APNs: `POST /3/device/{token}`, HTTP/2 only.
    pub async fn apns() -> FakePush {
        let app = Router::new().route("/3/device/{token}", post(apns_send));
        FakePush::serve(app, Arc::default()).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pushed(&self) -> Vec<Pushed> {
        self.book.lock().expect("book").pushed.clone()
    }

    /// Answers `device` as gone for good from now on.
    pub fn forget_device(&self, device: &str) {
        self.book
            .lock()
            .expect("book")
            .gone
            .insert(device.to_owned());
    }

    /// The next sends answer these statuses.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.book.lock().expect("book").script.extend(statuses);
    }

    /// FCM issues access tokens that live `secs` from now on.
    pub fn token_lifetime(&self, secs: u64) {
        self.book.lock().expect("book").lifetime = Some(secs);
    }

    /// FCM answers `401` to every access token issued so far.
    pub fn revoke_tokens(&self) {
        let mut book = self.book.lock().expect("book");
        let issued = book.issued.clone();
        book.revoked.extend(issued);
    }

    /// How many access tokens FCM issued.
    pub fn exchanges(&self) -> usize {
        self.book.lock().expect("book").issued.len()
    }

    /// How many distinct provider tokens APNs saw.
    pub fn provider_tokens(&self) -> usize {
        self.book.lock().expect("book").provider_tokens.len()
    }
}

fn error(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// The OAuth 2.0 JWT-bearer grant: the assertion must be RS256, signed by
/// the service account's key, for the FCM scope and this token endpoint.
async fn fcm_token(State(book): State<Arc<Mutex<Book>>>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return error(400, json!({"error": "unsupported_grant_type"}));
    }
    let key = DecodingKey::from_rsa_pem(fixture("fcm-test-key.pub.pem").as_bytes()).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Value>(
        &field("assertion").unwrap_or_default(),
        &key,
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(e) => {
            return error(
                400,
                json!({"error": "invalid_grant", "error_description": e.to_string()}),
            );
        }
    };
    if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging"
        || !claims["aud"]
            .as_str()
            .is_some_and(|a| a.ends_with("/token"))
        || claims["iss"] != "inc-tests@example-project.iam.gserviceaccount.com"
    {
        return error(400, json!({"error": "invalid_grant", "claims": claims}));
    }
    let mut book = book.lock().expect("book");
    let token = format!("ya29.test-{}", book.issued.len() + 1);
    book.issued.push(token.clone());
    let lifetime = book.lifetime.unwrap_or(3599);
    axum::Json(json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}))
        .into_response()
}

/// `messages:send`, over HTTP/2 as FCM is spoken to, with a live access
/// token.
async fn fcm_send(
    State(book): State<Arc<Mutex<Book>>>,
    Path((project, send)): Path<(String, String)>,
    request: Request,
) -> Response {
    if send != "messages:send" || project != "inc-tests" {
        return error(404, json!({"error": {"status": "NOT_FOUND"}}));
    }
    if request.version() != Version::HTTP_2 {
        return error(505, json!({"error": {"status": "HTTP/2 expected"}}));
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 16)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let device = body["message"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut book = book.lock().expect("book");
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !book.issued.iter().any(|t| t == bearer) || book.revoked.contains(bearer) {
        return error(
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
        );
    }
    book.pushed.push(Pushed {
        device: device.clone(),
        body,
        headers,
    });
    if book.gone.contains(&device) {
        return error(
            404,
            json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
        );
    }
    if let Some(status) = book.script.pop_front() {
        return error(status, json!({"error": {"code": status}}));
    }
    let n = book.pushed.len();
    axum::Json(json!({"name": format!("projects/inc-tests/messages/{n}")})).into_response()
}

/// APNs: HTTP/2, a provider token signed ES256 by the team's key (`kid`
/// the key id, `iss` the team), the app's topic.
async fn apns_send(
    State(book): State<Arc<Mutex<Book>>>,
    Path(device): Path<String>,
    request: Request,
) -> Response {
    if request.version() != Version::HTTP_2 {
        return error(505, json!({"reason": "HTTP/2 required"}));
    }
    let headers = request.headers().clone();
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bearer "))
        .unwrap_or_default()
        .to_owned();
    let key = DecodingKey::from_ec_pem(fixture("apns-test-key.pub.pem").as_bytes()).expect("key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_required_spec_claims(&["iat", "iss"]);
    validation.validate_exp = false;
    let header_ok =
        jsonwebtoken::decode_header(&jwt).is_ok_and(|h| h.kid.as_deref() == Some("KEY1234567"));
    let claims_ok = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .is_ok_and(|d| d.claims["iss"] == "TEAM123456");
    if !header_ok || !claims_ok {
        return error(403, json!({"reason": "InvalidProviderToken"}));
    }
    if headers.get("apns-topic").and_then(|v| v.to_str().ok()) != Some("com.example.shop") {
        return error(400, json!({"reason": "BadTopic"}));
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 16)
        .await
        .unwrap_or_default();
    let mut book = book.lock().expect("book");
    book.provider_tokens.insert(jwt);
    book.pushed.push(Pushed {
        device: device.clone(),
        body: serde_json::from_slice(&body).unwrap_or_default(),
        headers,
    });
    if book.gone.contains(&device) {
        return error(
            410,
            json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000_u64}),
        );
    }
    if let Some(status) = book.script.pop_front() {
        return error(status, json!({"reason": "ServiceUnavailable"}));
    }
    StatusCode::OK.into_response()
}

/// The settings that point an account's push at these servers.
pub fn push_settings(fcm: &FakePush, apns: &FakePush) -> Value {
    json!({"channels": {"push": {
        "fcm": {
            "project_id": "inc-tests",
            "service_account": {
                "client_email": "inc-tests@example-project.iam.gserviceaccount.com",
                "private_key": fixture("fcm-test-key.pem"),
                "token_uri": format!("{}/token", fcm.base_url()),
            },
            "base_url": fcm.base_url(),
        },
        "apns": {
            "team_id": "TEAM123456",
            "key_id": "KEY1234567",
            "private_key": fixture("apns-test-key.p8"),
            "topic": "com.example.shop",
            "base_url": apns.base_url(),
        },
    }}})
}
