//! Init taken apart: the steps every function's `main` takes before its
//! first `next`, each timed, in a process of its own (what is lazy or
//! cached is paid here as in a cold start). Prints a JSON list of
//! `[step, microseconds]` in order; `make bench` runs it five times and
//! reports the medians.

use std::time::Instant;

use inc_shared::Config;
use inc_shared::webhook::WebhookClient;

#[tokio::main]
async fn main() {
    let mut phases = Vec::new();
    let mut step = Instant::now();
    let mut done = |name: &str| {
        phases.push(serde_json::json!([name, step.elapsed().as_micros() as u64]));
        step = Instant::now();
    };
    inc_shared::telemetry::init();
    done("tracing subscriber");
    let config = Config::from_env().expect("configuration");
    done("configuration");
    let http = inc_shared::tls::sdk_http_client().expect("SDK HTTP client");
    done("SDK HTTP client (TLS roots)");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    done("SDK configuration (region, credentials)");
    let _dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let _sqs = aws_sdk_sqs::Client::new(&sdk);
    done("DynamoDB and SQS clients");
    let _webhooks =
        WebhookClient::new(config.endpoint_policy, config.webhook_timeout).expect("webhooks");
    done("webhook client (deliver, resend)");
    let _deliver = inc_deliver::Deliver::new(&sdk, &config).expect("deliver");
    done(
        "deliver's handler (its DynamoDB and SQS clients, webhook and push clients; SES, SNS, EventBridge and @connections wait for their first use)",
    );
    println!("{}", serde_json::Value::Array(phases));
}
