//! `inc endpoints list|create|delete --account ACC`: an operator's view of
//! an account's endpoints, through the same validation and store as the
//! API's `/v1/endpoints`.

use chrono::Utc;
use inc_shared::domain::{Endpoint, EndpointPolicy, EndpointSpec};
use inc_shared::store::Store;

use crate::Result;

pub enum Command {
    List {
        account: String,
    },
    Create {
        account: String,
        url: String,
        filter_types: Vec<String>,
        description: String,
    },
    Delete {
        account: String,
        endpoint_id: String,
    },
}

/// The URL policy of the stack the CLI talks to (`INC_ALLOW_PRIVATE_ENDPOINTS`,
/// as `.inc/local.env` sets it for the local stack).
fn policy() -> EndpointPolicy {
    EndpointPolicy {
        allow_private: std::env::var("INC_ALLOW_PRIVATE_ENDPOINTS").is_ok_and(|v| v == "true"),
    }
}

fn line(id: &str, url: &str, filter: &serde_json::Value, enabled: bool) -> String {
    let filter = match filter.as_array() {
        Some(types) => types
            .iter()
            .filter_map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(","),
        None => "*".to_owned(),
    };
    let state = if enabled { "enabled" } else { "disabled" };
    format!("{id}  {state}  {filter}  {url}")
}

pub async fn run(store: &Store, command: Command) -> Result<()> {
    match command {
        Command::List { account } => {
            let found = store
                .get_account(&account)
                .await?
                .ok_or(inc_shared::Error::NotFound("account"))?;
            let stored = store.endpoints_of(&account).await?;
            for e in found.default_endpoint().iter().chain(&stored) {
                let v = e.view();
                println!(
                    "{}",
                    line(&e.endpoint_id, &e.url, &v["filter_types"], e.enabled)
                );
            }
        }
        Command::Create {
            account,
            url,
            filter_types,
            description,
        } => {
            if store.get_account(&account).await?.is_none() {
                return Err(inc_shared::Error::NotFound("account").into());
            }
            let mut body = serde_json::json!({ "url": url, "description": description });
            if !filter_types.is_empty() {
                body["filter_types"] = filter_types.into();
            }
            let spec = EndpointSpec::from_json(body.to_string().as_bytes(), &policy())?;
            let endpoint = Endpoint::create(&account, spec, Utc::now());
            store.create_endpoint(&endpoint).await?;
            println!(
                "endpoint {} created\nsigning secret: {}",
                endpoint.endpoint_id, endpoint.secret
            );
        }
        Command::Delete {
            account,
            endpoint_id,
        } => {
            if !store.delete_endpoint(&account, &endpoint_id).await? {
                return Err(inc_shared::Error::NotFound("endpoint").into());
            }
            let failed = store
                .fail_pending_of_endpoint(
                    &account,
                    &endpoint_id,
                    &inc_shared::domain::endpoints::endpoint::deleted_reason(&endpoint_id),
                )
                .await?;
            println!("endpoint {endpoint_id} deleted; {failed} pending notifications failed");
        }
    }
    Ok(())
}
