//! `inc`: accounts, the local stack, and a webhook listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use inc_cli::{Result, accounts};
use inc_shared::config::Tables;
use inc_shared::store::Store;

#[derive(Parser)]
#[command(name = "inc", version, about = "INC, the Instant Notification Center")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage accounts (merchants).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Run the local stack: moto, every table and queue of template.yaml, the
    /// HTTP API and the queue consumers.
    Dev {
        /// Port of the HTTP API.
        #[arg(long, env = "INC_HTTP_PORT", default_value_t = 3000)]
        http_port: u16,
        /// Port of the local AWS endpoint (moto).
        #[arg(long, env = "INC_AWS_PORT", default_value_t = 4566)]
        aws_port: u16,
        /// The SAM template to run.
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
    /// The dead-letter queue: notifications INC gave up on.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Manage an account's webhook endpoints.
    Endpoints {
        #[command(subcommand)]
        command: EndpointsCommand,
    },
    /// One-off upgrade of a deployment from before endpoints: gives every
    /// stored notification the history keys of the `endpoint_id` and
    /// `event_type` filters. Safe to run again and beside live traffic.
    Migrate,
    /// Manage an account's API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Send and watch campaigns through the API.
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
    /// Manage an account's recipients through the API.
    Recipients {
        #[command(subcommand)]
        command: RecipientsCommand,
    },
    /// Play SES for an email INC sent: publish its Delivery, Bounce or
    /// Complaint event to the email events topic (the local stack's, by
    /// default), as SES's event publishing would.
    SesEvent {
        /// What SES says became of the email.
        #[arg(value_enum)]
        kind: inc_cli::ses_event::Kind,
        /// The email's notification id.
        notification_id: String,
        /// Its account (make dev's demo account by default).
        #[arg(long, env = "INC_DEMO_ACCOUNT_ID")]
        account: String,
        #[arg(long, env = "INC_EMAIL_EVENTS_TOPIC_ARN")]
        topic_arn: String,
    },
    /// Watch a recipient's in-app feed live, as its app would: print each
    /// frame its socket gets (POST /v1/recipients/{id}/token makes a token).
    Feed {
        #[arg(long)]
        token: String,
        /// The WebSocket API (the local stack's, from .inc/local.env).
        #[arg(long, env = "INC_WS_URL", default_value = "ws://127.0.0.1:3001")]
        url: String,
        /// Stop after this many frames.
        #[arg(long)]
        frames: Option<usize>,
    },
    /// Receive webhooks on loopback and print them.
    Listen {
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// The HTTP status to answer with (try 500 to watch retries).
        #[arg(long, default_value_t = 200)]
        status: u16,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account and print its API key (shown once, stored hashed).
    Create {
        #[arg(long)]
        name: String,
        /// Print `{"account_id": …, "api_key": …}`.
        #[arg(long)]
        json: bool,
    },
}

/// Where the API is and whose key to send (`make dev`'s demo key when
/// INC_API_KEY is unset).
#[derive(clap::Args)]
struct ApiArgs {
    /// The INC API (the local stack's, from .inc/local.env).
    #[arg(long, env = "INC_API_URL")]
    api_url: String,
    /// An API key of the account (INC_API_KEY; make dev's demo key,
    /// INC_DEMO_API_KEY, if unset).
    #[arg(long, env = "INC_API_KEY")]
    api_key: Option<String>,
}

impl ApiArgs {
    fn target(self) -> Result<inc_cli::api::Target> {
        let api_key = self
            .api_key
            .or_else(|| std::env::var("INC_DEMO_API_KEY").ok())
            .ok_or_else(|| inc_cli::Error::Api("set INC_API_KEY (or pass --api-key)".to_owned()))?;
        Ok(inc_cli::api::Target {
            api_url: self.api_url,
            api_key,
        })
    }
}

#[derive(Subcommand)]
enum CampaignsCommand {
    /// Send a template to every member of a list, now (or at --send-at).
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        list: String,
        /// sms, email or whatsapp.
        #[arg(long)]
        channel: String,
        /// The channel's template to send.
        #[arg(long)]
        template: String,
        /// The campaign's data, as JSON (templates read it beside `recipient`).
        #[arg(long)]
        data: Option<String>,
        /// Marketing by default; what recipients' preferences are read for.
        #[arg(long)]
        category: Option<String>,
        /// Messages per second at most.
        #[arg(long)]
        rate: Option<u32>,
        /// RFC 3339; now if absent.
        #[arg(long)]
        send_at: Option<String>,
        /// Draw its progress until the run is over.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A campaign's status and counts.
    Status {
        id: String,
        /// Draw its progress until the run is over.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
enum RecipientsCommand {
    /// Add the recipients of a CSV file to a list (created if missing), a
    /// thousand rows a request, each row replacing its recipient whole.
    /// Columns: id, phone, email, whatsapp, language, timezone, data.<key>.
    Import {
        /// The list's id.
        #[arg(long)]
        list: String,
        /// The CSV file, with a header row.
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum QueueName {
    Delivery,
    Receipts,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Queue the parked notifications again (fix their cause first).
    Redrive {
        /// Which dead-letter queue: `delivery` (notifications) or
        /// `receipts` (SES events the receipts function failed).
        #[arg(long, value_enum, default_value_t = QueueName::Delivery)]
        queue: QueueName,
        /// The most messages to handle.
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Only print what would be done.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum EndpointsCommand {
    /// List an account's endpoints (the default one is its endpoint_url).
    List {
        #[arg(long)]
        account: String,
    },
    /// Add an endpoint and print its signing secret.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        url: String,
        /// An event type or prefix pattern (`order.*`); repeat for more.
        /// None: every type.
        #[arg(long = "filter")]
        filter_types: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete an endpoint (its history stays).
    Delete {
        #[arg(long)]
        account: String,
        #[arg(long)]
        endpoint_id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add an API key to an account and print it (shown once, stored hashed).
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// List an account's keys by id (never the keys themselves).
    List {
        #[arg(long)]
        account: String,
    },
    /// Revoke a key: the next request with it is refused.
    Revoke {
        #[arg(long)]
        account: String,
        #[arg(long)]
        key_id: String,
    },
}

impl From<EndpointsCommand> for inc_cli::endpoints::Command {
    fn from(c: EndpointsCommand) -> Self {
        use inc_cli::endpoints::Command as C;
        match c {
            EndpointsCommand::List { account } => C::List { account },
            EndpointsCommand::Create {
                account,
                url,
                filter_types,
                description,
            } => C::Create {
                account,
                url,
                filter_types,
                description,
            },
            EndpointsCommand::Delete {
                account,
                endpoint_id,
            } => C::Delete {
                account,
                endpoint_id,
            },
        }
    }
}

#[tokio::main]
async fn main() {
    inc_shared::telemetry::init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("inc: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Accounts {
            command: AccountsCommand::Create { name, json },
        } => {
            let sdk = aws_config::load_from_env().await;
            let (account, key) = accounts::create(&sdk, Tables::from_env()?, &name).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "account_id": account.account_id, "api_key": key })
                );
            } else {
                println!(
                    "account {} created\nAPI key (shown once): {key}",
                    account.account_id
                );
            }
            Ok(())
        }
        Command::Keys { command } => {
            let sdk = aws_config::load_from_env().await;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()?);
            match command {
                KeysCommand::Create { account, json } => {
                    let (info, key) = store.create_key(&account).await?;
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "key_id": info.key_id, "api_key": key })
                        );
                    } else {
                        println!("key {} created\nAPI key (shown once): {key}", info.key_id);
                    }
                }
                KeysCommand::List { account } => {
                    for key in store.list_keys(&account).await? {
                        println!(
                            "{}  created {}",
                            key.key_id,
                            key.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                        );
                    }
                }
                KeysCommand::Revoke { account, key_id } => {
                    store.revoke_key(&account, &key_id).await?;
                    println!("key {key_id} revoked");
                }
            }
            Ok(())
        }
        Command::Migrate => {
            let sdk = aws_config::load_from_env().await;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()?);
            let done = store.backfill_history_keys().await?;
            println!(
                "{} notifications without the new history keys, {} updated",
                done.scanned, done.updated
            );
            Ok(())
        }
        Command::Endpoints { command } => {
            let sdk = aws_config::load_from_env().await;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()?);
            inc_cli::endpoints::run(&store, command.into()).await
        }
        Command::Dlq {
            command:
                DlqCommand::Redrive {
                    queue,
                    max,
                    dry_run,
                },
        } => {
            let sdk = aws_config::load_from_env().await;
            let config = inc_shared::Config::from_env()?;
            let which = match queue {
                QueueName::Delivery => inc_cli::dlq::Which::Delivery,
                QueueName::Receipts => inc_cli::dlq::Which::Receipts,
            };
            let report = inc_cli::dlq::redrive_queue(&sdk, &config, which, max, dry_run).await?;
            let verb = if dry_run { "would redrive" } else { "redriven" };
            for id in &report.redriven {
                println!("{verb}: {id}");
            }
            for id in &report.dropped {
                println!("nothing to do (delivered, resent or gone): {id}");
            }
            println!(
                "{} {verb}, {} dropped, {} unreadable left on the queue",
                report.redriven.len(),
                report.dropped.len(),
                report.unreadable
            );
            Ok(())
        }
        Command::SesEvent {
            kind,
            notification_id,
            account,
            topic_arn,
        } => {
            let sdk = aws_config::load_from_env().await;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()?);
            let event = inc_cli::ses_event::publish(
                &sdk,
                &store,
                &topic_arn,
                &account,
                &notification_id,
                kind,
            )
            .await?;
            println!("{event}");
            Ok(())
        }
        Command::Campaigns { command } => campaigns(command).await,
        Command::Recipients {
            command: RecipientsCommand::Import { list, file, api },
        } => {
            let target = api.target()?;
            let summary = inc_cli::import::run(&target, &list, &file).await?;
            println!(
                "{}: {} rows added to list `{list}`, {} updated, {} refused",
                file.display(),
                summary.added,
                summary.updated,
                summary.refused.len()
            );
            for r in &summary.refused {
                println!("  line {}: {}", r.line, r.reason);
            }
            println!("list `{list}` has {} members", summary.member_count);
            Ok(())
        }
        Command::Feed { token, url, frames } => inc_cli::feed::watch(&url, &token, frames).await,
        Command::Listen { port, status } => {
            let status = axum::http::StatusCode::from_u16(status).map_err(|e| {
                inc_shared::Error::bad_request("invalid_status", e.to_string(), Some("status"))
            })?;
            inc_cli::listen::run(SocketAddr::from(([127, 0, 0, 1], port)), status).await
        }
        Command::Dev {
            http_port,
            aws_port,
            template,
        } => inc_cli::dev::run(http_port, aws_port, template).await,
    }
}

async fn campaigns(command: CampaignsCommand) -> Result<()> {
    use inc_cli::campaigns as c;
    let (target, id, watch) = match command {
        CampaignsCommand::Create {
            id,
            name,
            list,
            channel,
            template,
            data,
            category,
            rate,
            send_at,
            watch,
            api,
        } => {
            let target = api.target()?;
            let create = c::Create {
                id: id.clone(),
                name,
                list,
                channel,
                template,
                data,
                category,
                rate,
                send_at,
            };
            let answer = c::create(&target, &create).await?;
            println!(
                "campaign {id}: {}",
                answer["status"].as_str().unwrap_or("?")
            );
            (target, id, watch)
        }
        CampaignsCommand::Status { id, watch, api } => (api.target()?, id, watch),
    };
    let campaign = match watch {
        true => c::watch(&target, &id).await?,
        false => c::status(&target, &id).await?,
    };
    println!("campaign {id}: {}", c::counts_line(&campaign));
    Ok(())
}
