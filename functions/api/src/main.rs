//! The control-panel API Lambda: settings, secret, history, health.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let app = Arc::new(inc_api::Api::new(&sdk, &config)?);
    lambda_http::run(inc_api::router(app)).await
}
