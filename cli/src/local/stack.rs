//! The local stack: provisions the template's resources on the local
//! endpoint ([`provision`](super::provision)), then serves its functions —
//! HTTP routes on one listener ([`gateway`](super::gateway)), SQS queues
//! through pollers ([`poller`](super::poller)), schedules through the
//! [`scheduler`](super::scheduler), SNS topics through queues subscribed to
//! them ([`topics`](super::topics)).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use axum::Router;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use tokio::task::JoinSet;

use super::gateway::{fresh_request, http_router, verify_email_senders};
pub use super::poller::lambda_record;
use super::poller::{Poller, sqs_handler};
pub use super::provision::Resources;
use super::provision::provision;
use super::scheduler::{Schedule, ScheduledHandler};
use super::template::{Function, Resolver, Template, rate};
use super::topics::{SnsHandler, Trigger};
use crate::{Error, Result};
use inc_shared::Config;

/// An SDK configuration aimed at a local endpoint with dummy credentials —
/// the same settings `AWS_ENDPOINT_URL` and friends give any SDK client.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "inc-local",
        ))
        .load()
        .await
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub template: PathBuf,
    /// Where the HTTP routes are served (port 0: any free port).
    pub http_addr: SocketAddr,
    /// Where the template's WebSocket API is served (`127.0.0.1:3001`;
    /// port 0: any free port).
    pub ws_addr: SocketAddr,
    /// Template parameters to override (`AllowPrivateEndpoints`, …).
    pub parameters: BTreeMap<String, String>,
    /// Serve the routes and consume the queues; false only provisions the
    /// resources (for running the functions another way, such as
    /// `cargo lambda watch`).
    pub run_functions: bool,
    /// Fire every schedule this often instead of at its template rate
    /// (EventBridge's shortest is a minute; tests want seconds).
    pub schedule_every: Option<Duration>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            template: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 3001)),
            // The local stack accepts endpoints on loopback (CONTRACT §1).
            parameters: BTreeMap::from([("AllowPrivateEndpoints".to_owned(), "true".to_owned())]),
            run_functions: true,
            schedule_every: None,
        }
    }
}

/// A running local stack. Dropping it stops its server and pollers.
pub struct Stack {
    pub http_addr: SocketAddr,
    /// Where the WebSocket API is served, if the template has one.
    pub ws_addr: Option<SocketAddr>,
    pub resources: Resources,
    /// Every function's resolved environment, merged: what `.inc/local.env`
    /// holds besides the AWS settings.
    pub environment: BTreeMap<String, String>,
    _tasks: JoinSet<()>,
    /// The queue consumers, and the tasks running them.
    workers: Vec<Poller>,
    worker_tasks: JoinSet<()>,
}

impl Stack {
    pub async fn start(sdk: &SdkConfig, options: StackOptions) -> Result<Stack> {
        let mut template = Template::load(&options.template)?;
        template.parameters.extend(options.parameters.clone());
        let mut resources = provision(sdk, &template).await?;
        let mut tasks = JoinSet::new();
        // The WebSocket API's address is known before any function's
        // environment names it (`Fn::GetAtt [Api, ApiEndpoint]`).
        let mut ws_listener = match (template.websockets.first(), options.run_functions) {
            (Some(api), true) => {
                let listener = bind(options.ws_addr).await?;
                let addr = listener.local_addr()?;
                resources
                    .websockets
                    .insert(api.logical_id.clone(), format!("ws://{addr}"));
                Some((api.clone(), listener))
            }
            (Some(api), false) => {
                resources
                    .websockets
                    .insert(api.logical_id.clone(), format!("ws://{}", options.ws_addr));
                None
            }
            (None, _) => None,
        };
        let mut ws_addr = None;
        let mut routes: BTreeMap<String, MethodRouter> = BTreeMap::new();
        let mut environment = BTreeMap::new();
        let mut workers = Vec::new();
        for function in &template.functions {
            let env = function_env(&template, function, &resources)?;
            let config = Config::from_lookup(&|k| env.get(k).cloned())
                .map_err(|e| Error::Template(format!("{}: {e}", function.logical_id)))?;
            environment.extend(env);
            if !options.run_functions {
                continue;
            }
            if let Some((api, listener)) =
                ws_listener.take_if(|(api, _)| api.function == function.logical_id)
            {
                let stage = api
                    .stage
                    .as_ref()
                    .map(|(_, name)| name.as_str())
                    .unwrap_or("");
                let handler = match function.binary.as_str() {
                    "realtime" => inc_realtime::Realtime::new(sdk, &config),
                    other => {
                        return Err(Error::Template(format!(
                            "the local stack has no WebSocket handler for binary `{other}`"
                        )));
                    }
                };
                let app = super::sockets::Sockets::new(handler, stage).router();
                ws_addr = Some(listener.local_addr()?);
                tasks.spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(%e, "WebSocket server stopped");
                    }
                });
            }
            if !function.routes.is_empty() {
                let mut router = http_router(&function.binary, sdk, &config)?;
                if function.binary == "api" {
                    router = router.layer(axum::middleware::from_fn_with_state(
                        aws_sdk_sesv2::Client::new(sdk),
                        verify_email_senders,
                    ));
                }
                for route in &function.routes {
                    let method = Method::from_bytes(route.method.as_bytes())
                        .ok()
                        .and_then(|m| MethodFilter::try_from(m).ok())
                        .ok_or_else(|| {
                            Error::Template(format!(
                                "{}: bad method {}",
                                function.logical_id, route.method
                            ))
                        })?;
                    let entry = routes.remove(&route.path).unwrap_or_default();
                    routes.insert(
                        route.path.clone(),
                        entry.on_service(method, fresh_request(router.clone())),
                    );
                }
            }
            for expression in &function.schedules {
                let every = match options.schedule_every {
                    Some(every) => every,
                    None => rate(&template.resolve(expression, &resources)?)?,
                };
                let schedule = Schedule {
                    handler: Arc::new(ScheduledHandler::new(&function.binary, sdk, &config)?),
                    every,
                };
                tasks.spawn(schedule.run());
            }
            for topic in &function.topics {
                let topic_arn = resources.topics.get(topic).ok_or_else(|| {
                    Error::Template(format!("{}: no topic {topic}", function.logical_id))
                })?;
                let dead_letter_arn = match &function.dead_letter_queue {
                    Some(q) => Some(resources.queue_arn(q).ok_or_else(|| {
                        Error::Template(format!("{}: no queue {q}", function.logical_id))
                    })?),
                    None => None,
                };
                let trigger = Trigger::subscribe(
                    sdk,
                    &format!("{}-{topic}", function.logical_id),
                    topic_arn,
                    dead_letter_arn.as_deref(),
                    Arc::new(SnsHandler::new(&function.binary, sdk, &config)?),
                )
                .await?;
                tasks.spawn(trigger.run());
            }
            for source in &function.queues {
                let handler = Arc::new(sqs_handler(&function.binary, sdk, &config)?);
                let (url, arn) = resources
                    .queues
                    .get(&source.queue_logical_id)
                    .cloned()
                    .ok_or_else(|| {
                        Error::Template(format!(
                            "{}: no queue {}",
                            function.logical_id, source.queue_logical_id
                        ))
                    })?;
                let poller = Poller {
                    sqs: aws_sdk_sqs::Client::new(sdk),
                    url,
                    arn,
                    region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
                    batch_size: source.batch_size,
                    partial: source.report_batch_item_failures,
                    handler,
                };
                // Lambda polls with several consumers; two keep one slow
                // endpoint from holding up every other delivery.
                workers.push(poller.clone());
                workers.push(poller);
            }
        }
        let mut app = Router::new();
        for (path, method_router) in routes {
            app = app.route(&path, method_router);
        }
        let app = app.fallback(inc_shared::api::not_found);
        let listener = bind(options.http_addr).await?;
        let http_addr = listener.local_addr()?;
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(%e, "HTTP server stopped");
            }
        });
        let mut stack = Stack {
            http_addr,
            ws_addr,
            resources,
            environment,
            _tasks: tasks,
            workers,
            worker_tasks: JoinSet::new(),
        };
        stack.start_workers();
        Ok(stack)
    }

    /// Stops every queue consumer at once, whatever it is doing: as a
    /// crashed or timed-out Lambda, it neither finishes its batch nor
    /// answers for it, so SQS hands the batch out again later.
    pub fn stop_workers(&mut self) {
        // Dropping a JoinSet aborts its tasks.
        self.worker_tasks = JoinSet::new();
    }

    /// Starts the queue consumers (again).
    pub fn start_workers(&mut self) {
        if !self.worker_tasks.is_empty() {
            return;
        }
        for poller in &self.workers {
            let poller = poller.clone();
            self.worker_tasks.spawn(async move { poller.run().await });
        }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e}"),
        ))
    })
}

fn function_env(
    template: &Template,
    function: &Function,
    resources: &Resources,
) -> Result<BTreeMap<String, String>> {
    function
        .environment
        .iter()
        .map(|(k, v)| Ok((k.clone(), template.resolve(v, resources)?)))
        .collect()
}
