//! The WebSocket API emulation (contract 14): what API Gateway does for
//! the template's `WEBSOCKET` API, on `ws://127.0.0.1:3001`.
//!
//! - A client connects with `?token=…`: the API's function gets the
//!   `$connect` event, as on AWS; anything but a 2xx refuses the handshake
//!   with that status. A text the client sends is a `$default` event; a
//!   close, a `$disconnect`.
//! - The `@connections` API (`POST /{stage}/@connections/{id}` with the
//!   frame, `DELETE` to close, `GET` to ask) is what deliver and the API
//!   post frames to through the SDK; a socket that is not open answers
//!   `410 GoneException`, as API Gateway does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::{
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    ApiGatewayWebsocketProxyRequestContext,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

/// The function behind the API: the realtime handler.
pub struct Sockets {
    handler: inc_realtime::Realtime,
    stage: String,
    open: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
}

fn event(route: &str, connection_id: &str, token: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut context = ApiGatewayWebsocketProxyRequestContext::default();
    context.route_key = Some(route.to_owned());
    context.connection_id = Some(connection_id.to_owned());
    context.event_type = Some(
        match route {
            "$connect" => "CONNECT",
            "$disconnect" => "DISCONNECT",
            _ => "MESSAGE",
        }
        .to_owned(),
    );
    let mut request = ApiGatewayWebsocketProxyRequest::default();
    request.request_context = context;
    if let Some(token) = token {
        request.query_string_parameters =
            HashMap::from([("token".to_owned(), token.to_owned())]).into();
    }
    request
}

fn status_of(response: &ApiGatewayProxyResponse) -> StatusCode {
    u16::try_from(response.status_code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A connection id as API Gateway makes them: short, opaque.
fn new_connection_id() -> String {
    let id = inc_shared::domain::common::ids::new_notification_id();
    id.trim_start_matches("ntf_")
        .chars()
        .rev()
        .take(16)
        .collect()
}

impl Sockets {
    pub fn new(handler: inc_realtime::Realtime, stage: &str) -> Arc<Sockets> {
        Arc::new(Sockets {
            handler,
            stage: stage.to_owned(),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The API's router: the socket at `/` (and `/{stage}`), and the
    /// `@connections` API under the stage.
    pub fn router(self: &Arc<Sockets>) -> Router {
        let connections = format!("/{}/@connections/{{id}}", self.stage);
        Router::new()
            .route("/", get(connect))
            .route(&format!("/{}", self.stage), get(connect))
            .route(&connections, post(post_frame).delete(close).get(ask))
            .with_state(self.clone())
    }

    fn sender(&self, id: &str) -> Option<mpsc::UnboundedSender<Message>> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    async fn run(self: Arc<Sockets>, socket: WebSocket, id: String) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        let writer = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
        });
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(_) | Message::Binary(_) => {
                    self.handler.handle(event("$default", &id, None)).await;
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        writer.abort();
        self.handler.handle(event("$disconnect", &id, None)).await;
    }
}

async fn connect(
    State(sockets): State<Arc<Sockets>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let id = new_connection_id();
    let answer = sockets
        .handler
        .handle(event(
            "$connect",
            &id,
            query.get("token").map(String::as_str),
        ))
        .await;
    let status = status_of(&answer);
    if !status.is_success() {
        let body = match answer.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => t,
            _ => String::new(),
        };
        return (status, body).into_response();
    }
    upgrade.on_upgrade(move |socket| sockets.run(socket, id))
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        axum::Json(serde_json::json!({"message": "the connection is gone"})),
    )
        .into_response()
}

async fn post_frame(
    State(sockets): State<Arc<Sockets>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    match sockets.sender(&id) {
        Some(tx) if tx.send(Message::Text(text.into())).is_ok() => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

async fn close(State(sockets): State<Arc<Sockets>>, Path(id): Path<String>) -> Response {
    match sockets.sender(&id) {
        Some(tx) => {
            let _ = tx.send(Message::Close(None));
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}

async fn ask(State(sockets): State<Arc<Sockets>>, Path(id): Path<String>) -> Response {
    match sockets.sender(&id) {
        Some(_) => axum::Json(serde_json::json!({"connectionId": id})).into_response(),
        None => gone(),
    }
}
