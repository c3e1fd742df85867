//! `inc dev` (what `make dev` runs): moto, the local stack from
//! template.yaml, a demo account, and `.inc/local.env` for the shell.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use inc_shared::config::Tables;
use inc_shared::domain::Settings;
use inc_shared::store::Store;

use crate::local::{Moto, Stack, StackOptions, Template, sdk_config};
use crate::{Result, accounts};

/// Where the demo account's webhooks go: `inc listen`'s default address.
const DEMO_ENDPOINT: &str = "http://127.0.0.1:8000/ipn";

/// Runs the whole stack until Ctrl-C (or SIGTERM).
pub async fn run(http_port: u16, aws_port: u16, template: PathBuf) -> Result<()> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    eprintln!("starting the local AWS endpoint (moto) on 127.0.0.1:{aws_port}…");
    let moto = Moto::start(Some(aws_port)).await?;
    let sdk = sdk_config(&moto.endpoint, &region).await;

    // A template parameter whose variable is set in this shell takes its
    // value from there (INC_RETRY_SCHEDULE=1,1,2 make dev).
    let mut options = StackOptions {
        template: template.clone(),
        http_addr: SocketAddr::from(([127, 0, 0, 1], http_port)),
        ..StackOptions::default()
    };
    let declared = Template::load(&template)?;
    for function in &declared.functions {
        for (var, value) in &function.environment {
            let param = value
                .get("Ref")
                .and_then(|r| r.as_str())
                .filter(|p| declared.parameters.contains_key(*p));
            if let (Some(param), Ok(set)) = (param, std::env::var(var)) {
                options.parameters.insert(param.to_owned(), set);
            }
        }
    }
    let stack = Stack::start(&sdk, options).await?;

    let tables = Tables::from_lookup(&|k| stack.environment.get(k).cloned())?;
    let (account, key) = accounts::create(&sdk, tables.clone(), "Demo shop").await?;
    let settings = Settings {
        endpoint_url: Some(DEMO_ENDPOINT.into()),
        ..Settings::default()
    };
    // A new account: nothing else has written its settings.
    Store::new(aws_sdk_dynamodb::Client::new(&sdk), tables)
        .put_settings(&account, &settings)
        .await?;

    let api_url = stack.api_url();
    let mut env = BTreeMap::from([
        ("AWS_ENDPOINT_URL".to_owned(), moto.endpoint.clone()),
        ("AWS_REGION".to_owned(), region),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        ("INC_API_URL".to_owned(), api_url.clone()),
        ("INC_DEMO_API_KEY".to_owned(), key.clone()),
        ("INC_DEMO_ACCOUNT_ID".to_owned(), account.account_id.clone()),
    ]);
    env.extend(stack.environment.clone());
    // Where apps open their in-app feed's socket (contract 14).
    let ws_url = stack
        .ws_addr
        .map(|a| format!("ws://{a}"))
        .unwrap_or_default();
    env.insert("INC_WS_URL".to_owned(), ws_url.clone());
    // Each topic's ARN (INC_EMAIL_EVENTS_TOPIC_ARN for EmailEventsTopic): where
    // to publish what AWS would, such as SES's email events.
    for (logical_id, arn) in &stack.resources.topics {
        env.insert(format!("INC_{}_ARN", snake_upper(logical_id)), arn.clone());
    }
    std::fs::create_dir_all(".inc")?;
    let lines: String = env
        .iter()
        .map(|(k, v)| format!("{k}={}\n", shell_quote(v)))
        .collect();
    std::fs::write(".inc/local.env", lines)?;

    println!(
        "\nINC is running.\n  HTTP API:            {api_url}\n  control panel:       {api_url}/panel (sign in with the API key below)\n  in-app feed sockets: {ws_url}/?token=<recipient token>\n  local AWS endpoint:  {}\n  environment:         .inc/local.env (set -a; . .inc/local.env; set +a)\n\n\
         Demo account {} — its webhooks go to {DEMO_ENDPOINT} (run `cargo run -q --bin inc -- listen` to watch them).\n  API key: {key}\n\n\
         Send the seed's SENT event:\n\n{}\n\nCtrl-C stops everything.",
        moto.endpoint,
        account.account_id,
        seed_curl(&api_url, &key)
    );
    wait_for_stop().await?;
    eprintln!("stopping…");
    drop(stack);
    drop(moto);
    let _ = std::fs::remove_file(".inc/local.env");
    Ok(())
}

/// `EmailEventsTopic` as `EMAIL_EVENTS_TOPIC`.
fn snake_upper(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Ctrl-C, or a SIGTERM from a supervisor: either way moto is stopped too.
async fn wait_for_stop() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn seed_curl(api_url: &str, key: &str) -> String {
    format!(
        "curl -s {api_url}/v1/events -H 'Authorization: Api-Key {key}' -H 'Content-Type: application/json' \\\n  \
         -d '{{\"id\": \"evt-1\", \"type\": \"sms.sent\", \"data\": {{\"status\": \"RESULT_OK\", \"status_code\": -1, \"id_smsout\": 6, \
         \"request_code\": \"54618541\", \"pin\": \"025719\", \"custom\": \"\", \"to\": \"320555555\", \"from\": \"00391231234\", \
         \"msg\": \"Your SMS message🧘\", \"source\": \"smsout_api\"}}}}'"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn topic_ids_become_variable_names() {
        assert_eq!(super::snake_upper("EmailEventsTopic"), "EMAIL_EVENTS_TOPIC");
        assert_eq!(super::snake_upper("AlarmTopic"), "ALARM_TOPIC");
    }
}
