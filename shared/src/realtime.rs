//! The in-app feed's live side (contract 14): frames posted to a
//! recipient's open sockets through API Gateway's `@connections` API (the
//! local stack serves the same API). A socket API Gateway says is gone is
//! forgotten; a frame that cannot be posted is only logged — the feed
//! already holds what it said, and the app reads it on reconnecting.

use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::store::Store;
use crate::tls::OnFirstUse;

#[derive(Debug, Clone)]
pub struct Realtime {
    /// None when the stack has no WebSocket API: frames go nowhere. Built
    /// at the first frame: most of deliver's batches hold none.
    client: Option<OnFirstUse<aws_sdk_apigatewaymanagement::Client>>,
}

impl Realtime {
    /// A client of the `@connections` API at `management_url`.
    pub fn new(sdk: &aws_config::SdkConfig, management_url: Option<&str>) -> Realtime {
        let client = management_url.map(|url| {
            let url = url.to_owned();
            OnFirstUse::new(sdk, move |sdk| {
                let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                    .endpoint_url(&url)
                    .build();
                aws_sdk_apigatewaymanagement::Client::from_conf(config)
            })
        });
        Realtime { client }
    }

    /// Posts `frame` to every open socket of the recipient and forgets the
    /// gone ones; answers how many took it.
    pub async fn broadcast(
        &self,
        store: &Store,
        account_id: &str,
        recipient_id: &str,
        frame: &str,
    ) -> usize {
        let Some(client) = &self.client else {
            return 0;
        };
        let client = client.get();
        let connections = match store.connections_of(account_id, recipient_id).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(%err, "could not read the recipient's sockets; no frame sent");
                return 0;
            }
        };
        let posts = connections.iter().map(|c| async move {
            let result = client
                .post_to_connection()
                .connection_id(&c.connection_id)
                .data(Blob::new(frame.as_bytes()))
                .send()
                .await;
            match result {
                Ok(_) => true,
                Err(err) => {
                    let gone = err
                        .as_service_error()
                        .is_some_and(|e| e.is_gone_exception());
                    if gone {
                        if let Err(err) = store.remove_connection(&c.connection_id).await {
                            tracing::warn!(%err, "could not forget a gone socket");
                        }
                    } else {
                        tracing::warn!(connection_id = %c.connection_id,
                            error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&err),
                            "could not post a frame");
                    }
                    false
                }
            }
        });
        futures::future::join_all(posts)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }
}
