//! The realtime Lambda, invoked by the WebSocket API's routes: builds its
//! clients once, then answers each connect, disconnect and message.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let realtime = inc_realtime::Realtime::new(&sdk, &config);
    let realtime = &realtime;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, lambda_runtime::Error>(realtime.handle(event.payload).await)
        },
    ))
    .await
}
