//! `inc accounts create` as a user runs it: the binary, aimed at the local
//! endpoint through the AWS SDK's own environment variables.

use std::net::SocketAddr;

mod common;

use inc_cli::local::{Moto, Stack, StackOptions, sdk_config};
use inc_shared::domain::common::ids::hash_api_key;
use inc_shared::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_an_account_whose_key_is_stored_only_as_a_hash() {
    let moto = Moto::start(None).await.expect("moto");
    let sdk = sdk_config(&moto.endpoint, "us-east-1").await;
    let options = StackOptions {
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        run_functions: false,
        ..StackOptions::default()
    };
    let stack = Stack::start(&sdk, options).await.expect("stack");

    let out = common::inc_command(
        &stack,
        &moto,
        &["accounts", "create", "--name", "Acme", "--json"],
    )
    .output()
    .await
    .expect("inc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let key = printed["api_key"].as_str().expect("api_key");
    let account_id = printed["account_id"].as_str().expect("account_id");

    let tables = inc_shared::config::Tables::from_lookup(&|k| stack.environment.get(k).cloned())
        .expect("tables");
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), tables.clone());
    let account = store
        .account_for_key(key)
        .await
        .expect("lookup")
        .expect("the key works");
    assert_eq!(
        (account.account_id.as_str(), account.name.as_str()),
        (account_id, "Acme")
    );

    // The key itself is nowhere in the table, only its hash.
    let items = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(&tables.api_keys)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let dump = format!("{items:?}");
    assert!(!dump.contains(key) && dump.contains(&hash_api_key(key)));

    // A bad name is refused, and without AWS settings the error says so.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_inc"))
        .args(["accounts", "create", "--name", " "])
        .envs(&stack.environment)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .output()
        .await
        .expect("inc runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_has_several_keys_and_a_revoked_one_is_refused_at_once() {
    let moto = Moto::start(None).await.expect("moto");
    let sdk = sdk_config(&moto.endpoint, "us-east-1").await;
    let options = StackOptions {
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..StackOptions::default()
    };
    let stack = Stack::start(&sdk, options).await.expect("stack");
    let tables = inc_shared::config::Tables::from_lookup(&|k| stack.environment.get(k).cloned())
        .expect("tables");
    let (account, first) = inc_cli::accounts::create(&sdk, tables.clone(), "Acme")
        .await
        .expect("account");
    let inc = |args: &[&str]| common::inc_command(&stack, &moto, args);
    let out = inc(&["keys", "create", "--account", &account.account_id, "--json"])
        .output()
        .await
        .expect("inc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let second = created["api_key"].as_str().expect("key").to_owned();

    let http = reqwest::Client::new();
    let settings = |key: String| {
        let request = http
            .get(format!("{}/v1/settings", stack.api_url()))
            .header("Authorization", format!("Api-Key {key}"));
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    assert_eq!(
        (
            settings(first.clone()).await,
            settings(second.clone()).await
        ),
        (200, 200)
    );

    let out = inc(&["keys", "list", "--account", &account.account_id])
        .output()
        .await
        .expect("inc");
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        !listed.contains(&first) && !listed.contains(&second),
        "keys are never shown again"
    );
    let first_id = listed
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .find(|id| *id != created["key_id"])
        .expect("the first key's id")
        .to_owned();

    let out = inc(&[
        "keys",
        "revoke",
        "--account",
        &account.account_id,
        "--key-id",
        &first_id,
    ])
    .output()
    .await
    .expect("inc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        settings(first).await,
        401,
        "a revoked key is refused at once"
    );
    assert_eq!(settings(second).await, 200);
    let out = inc(&[
        "keys",
        "revoke",
        "--account",
        "acc_other",
        "--key-id",
        &first_id,
    ])
    .output()
    .await
    .expect("inc");
    assert!(!out.status.success());
}
