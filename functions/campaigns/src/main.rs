//! The campaigns Lambda: builds its clients once, then handles the fan-out
//! queue's pages.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let campaigns = inc_campaigns::Campaigns::new(&sdk, &config)?;
    let campaigns = &campaigns;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(campaigns.handle(event.payload).await)
        },
    ))
    .await
}
