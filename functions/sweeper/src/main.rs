//! The sweeper Lambda, run by its EventBridge schedule: builds its clients
//! once, then sweeps on every tick (the event's content is not used).

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inc_shared::telemetry::init();
    let config = inc_shared::Config::from_env()?;
    let sdk = inc_shared::tls::sdk_config().await?;
    let sweeper = inc_sweeper::Sweeper::new(&sdk, &config)?;
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let report = sweeper.sweep(chrono::Utc::now()).await?;
            Ok::<_, lambda_runtime::Error>(report)
        },
    ))
    .await
}
