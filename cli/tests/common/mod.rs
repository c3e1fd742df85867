//! What the `inc` binary's tests share.

use inc_cli::local::{Moto, Stack};

/// The `inc` binary with these arguments, configured for the local stack
/// the way a user's shell would be (its environment and the local AWS
/// endpoint's settings).
pub fn inc_command(stack: &Stack, moto: &Moto, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inc"));
    command
        .args(args)
        .envs(&stack.environment)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    command
}
