//! `inc accounts create`: an account, its settings and its first API key.

use aws_config::SdkConfig;
use inc_shared::config::Tables;
use inc_shared::store::{Account, Store};

use crate::Result;

/// Creates an account and returns it with its API key (shown only now).
pub async fn create(sdk: &SdkConfig, tables: Tables, name: &str) -> Result<(Account, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(inc_shared::Error::bad_request(
            "invalid_field",
            "name: must be 1 to 128 printable characters",
            Some("name"),
        )
        .into());
    }
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), tables);
    Ok(store.create_account(name).await?)
}
