//! The resend Lambda: manual customer-message resends, Ottu-compatible and
//! explained.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let app = Arc::new(inc_resend::Resend::new(&sdk, &config)?);
    lambda_http::run(inc_resend::router(app)).await
}
