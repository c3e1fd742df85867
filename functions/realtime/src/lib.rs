//! The in-app feed's sockets (contract 14), behind API Gateway's WebSocket
//! API: `$connect` checks the recipient token in `?token=` and remembers
//! the socket under its recipient (a bad or expired token is refused: the
//! socket never opens); `$disconnect` forgets it; `$default` (anything the
//! app sends) is answered and ignored — frames flow one way, from deliver
//! and the API through the `@connections` endpoint.

use aws_config::SdkConfig;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use chrono::Utc;
use serde_json::json;

use inc_shared::Config;
use inc_shared::Error;
use inc_shared::api::authenticate_recipient;
use inc_shared::store::Store;
use inc_shared::store::connections::Connection;

pub struct Realtime {
    store: Store,
}

/// What API Gateway is answered: at `$connect`, anything but a 2xx
/// refuses the socket.
fn answer(status: u16, body: serde_json::Value) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.body = Some(Body::Text(body.to_string()));
    response
}

impl Realtime {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Realtime {
        Realtime {
            store: Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config),
        }
    }

    pub async fn handle(
        &self,
        request: ApiGatewayWebsocketProxyRequest,
    ) -> ApiGatewayProxyResponse {
        let context = &request.request_context;
        let Some(connection_id) = context.connection_id.clone() else {
            return answer(400, json!({"error": "no connection id"}));
        };
        match context.route_key.as_deref() {
            Some("$connect") => {
                let token = request
                    .query_string_parameters
                    .first("token")
                    .unwrap_or_default();
                self.connect(&connection_id, token).await
            }
            Some("$disconnect") => match self.store.remove_connection(&connection_id).await {
                Ok(()) => answer(200, json!({})),
                Err(err) => {
                    tracing::warn!(%err, "could not forget a socket; it expires by itself");
                    answer(200, json!({}))
                }
            },
            _ => answer(200, json!({"ok": true})),
        }
    }

    async fn connect(&self, connection_id: &str, token: &str) -> ApiGatewayProxyResponse {
        let bearer = match authenticate_recipient(&self.store, token).await {
            Ok(bearer) => bearer,
            Err(Error::NotRecipient) => {
                return answer(
                    401,
                    json!({"error": "the token is not a valid recipient token"}),
                );
            }
            Err(err) => {
                tracing::warn!(%err, "could not check a recipient token");
                return answer(503, json!({"error": "try again shortly"}));
            }
        };
        let connection = Connection {
            connection_id: connection_id.to_owned(),
            account_id: bearer.account_id,
            recipient_id: bearer.recipient_id,
            connected_at: Utc::now(),
        };
        match self.store.add_connection(&connection).await {
            Ok(()) => {
                tracing::info!(connection_id, account_id = %connection.account_id, "feed socket opened");
                answer(200, json!({}))
            }
            Err(err) => {
                tracing::warn!(%err, "could not remember a socket");
                answer(503, json!({"error": "try again shortly"}))
            }
        }
    }
}
