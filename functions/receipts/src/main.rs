//! The receipts Lambda, invoked by SNS with SES's email events: builds its
//! clients once, then records each invocation's events.

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let receipts = inc_receipts::Receipts::new(&sdk, &config)?;
    let receipts = &receipts;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        let report = receipts.handle(event.payload).await?;
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
