//! The ingest Lambda: builds its clients once, then serves `POST /v1/events`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let app = Arc::new(inc_ingest::Ingest::new(&sdk, &config)?);
    lambda_http::run(inc_ingest::router(app)).await
}
