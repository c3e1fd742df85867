//! Provisions the template's resources on the local endpoint, then serves
//! its functions: HTTP routes on one listener, SQS queues through pollers
//! that behave like Lambda's event-source mapping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use std::convert::Infallible;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::{Map, Value};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::template::{Function, Resolver, Template};
use crate::{Error, Result};
use inc_shared::Config;
use inc_shared::metrics::Metrics;

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
    /// Template parameters to override (`AllowPrivateEndpoints`, …).
    pub parameters: BTreeMap<String, String>,
    /// Serve the routes and consume the queues; false only provisions the
    /// resources (for running the functions another way, such as
    /// `cargo lambda watch`).
    pub run_functions: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            template: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            // The local stack accepts endpoints on loopback (CONTRACT §1).
            parameters: BTreeMap::from([("AllowPrivateEndpoints".to_owned(), "true".to_owned())]),
            run_functions: true,
        }
    }
}

/// Local names of the template's resources.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    pub tables: BTreeMap<String, String>,
    /// Logical id → (URL, ARN).
    pub queues: BTreeMap<String, (String, String)>,
}

impl Resolver for Resources {
    fn table_name(&self, id: &str) -> Option<String> {
        self.tables.get(id).cloned()
    }
    fn queue_url(&self, id: &str) -> Option<String> {
        self.queues.get(id).map(|(url, _)| url.clone())
    }
    fn queue_arn(&self, id: &str) -> Option<String> {
        self.queues.get(id).map(|(_, arn)| arn.clone())
    }
}

/// A running local stack. Dropping it stops its server and pollers.
pub struct Stack {
    pub http_addr: SocketAddr,
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
        let resources = provision(sdk, &template).await?;
        let mut tasks = JoinSet::new();
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
        let listener = tokio::net::TcpListener::bind(options.http_addr)
            .await
            .map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}: {e}", options.http_addr),
                ))
            })?;
        let http_addr = listener.local_addr()?;
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(%e, "HTTP server stopped");
            }
        });
        let mut stack = Stack {
            http_addr,
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

/// Hands a request to a function's router as API Gateway would: as a new
/// request, without what this listener's own routing attached to it (its
/// path parameters would otherwise be seen twice).
fn fresh_request(
    router: Router,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future = impl Send>
+ Clone
+ Send {
    tower::service_fn(move |mut request: Request| {
        request.extensions_mut().clear();
        router.clone().oneshot(request)
    })
}

/// SES (and moto) refuse to send from an unverified sender. A deployed
/// stack relies on the identities verified in SES; the local stack verifies
/// the email sender itself whenever settings name one.
async fn verify_email_senders(
    State(ses): State<aws_sdk_sesv2::Client>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let is_settings_patch =
        request.method() == Method::PATCH && request.uri().path() == "/v1/settings";
    let response = next.run(request).await;
    if !is_settings_patch || !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, inc_shared::api::MAX_BODY)
        .await
        .unwrap_or_default();
    let sender = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        v.pointer("/channels/email/from")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if let Some(sender) = sender
        && let Err(e) = ses
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
    {
        let already = e
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        if !already {
            tracing::warn!(%sender, error = %aws_sdk_sesv2::error::DisplayErrorContext(e), "could not verify the email sender");
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A received SQS message as Lambda's event source mapping hands it to a
/// function (the caller adds the queue's ARN and region where it has them).
pub fn lambda_record(m: aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id;
    record.receipt_handle = m.receipt_handle;
    record.body = m.body;
    record.md5_of_body = m.md5_of_body;
    record.attributes = m
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    record.event_source = Some("aws:sqs".into());
    record
}

/// The axum router of an HTTP function, by its binary's name.
fn http_router(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<Router> {
    Ok(match binary {
        "ingest" => inc_ingest::router(Arc::new(
            // Nothing reads stdout for metrics here: they go to the debug log.
            inc_ingest::Ingest::new(sdk, config)?.with_metrics(Metrics::to_log()),
        )),
        "api" => inc_api::router(Arc::new(inc_api::Api::new(sdk, config))),
        "resend" => inc_resend::router(Arc::new(inc_resend::Resend::new(sdk, config)?)),
        other => {
            return Err(Error::Template(format!(
                "the local stack has no HTTP handler for binary `{other}`"
            )));
        }
    })
}

/// The handler of an SQS-triggered function, by its binary's name.
enum SqsHandler {
    Deliver(inc_deliver::Deliver),
}

impl SqsHandler {
    async fn handle(&self, event: SqsEvent) -> Vec<String> {
        match self {
            SqsHandler::Deliver(d) => d
                .handle(event)
                .await
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
        }
    }
}

fn sqs_handler(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<SqsHandler> {
    match binary {
        "deliver" => Ok(SqsHandler::Deliver(
            inc_deliver::Deliver::new(sdk, config)?.with_metrics(Metrics::to_log()),
        )),
        other => Err(Error::Template(format!(
            "the local stack has no SQS handler for binary `{other}`"
        ))),
    }
}

/// One consumer of a queue, as Lambda's event-source mapping is.
#[derive(Clone)]
struct Poller {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    region: String,
    batch_size: usize,
    partial: bool,
    handler: Arc<SqsHandler>,
}

impl Poller {
    async fn run(self) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(queue = %self.url, %e, "polling failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn poll_once(&self) -> Result<()> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(self.batch_size).unwrap_or(10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for m in messages {
            let mut record = lambda_record(m);
            record.event_source_arn = Some(self.arn.clone());
            record.aws_region = Some(self.region.clone());
            if let (Some(id), Some(receipt)) = (&record.message_id, &record.receipt_handle) {
                receipts.insert(id.clone(), receipt.clone());
            }
            event.records.push(record);
        }
        let failed: HashSet<String> = self.handler.handle(event).await.into_iter().collect();
        // Without ReportBatchItemFailures any failure fails the whole batch.
        if !self.partial && !failed.is_empty() {
            return Ok(());
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}

/// Creates every table and queue of the template, named by logical id.
async fn provision(sdk: &SdkConfig, template: &Template) -> Result<Resources> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut resources = Resources::default();
    for table in &template.tables {
        create_table(&dynamodb, &table.logical_id, &table.properties).await?;
        resources
            .tables
            .insert(table.logical_id.clone(), table.logical_id.clone());
    }
    // Queues first, then their redrive policies, which name other queues.
    for queue in &template.queues {
        let mut request = sqs.create_queue().queue_name(&queue.logical_id);
        for (name, attribute) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            (
                "MessageRetentionPeriod",
                QueueAttributeName::MessageRetentionPeriod,
            ),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            (
                "ReceiveMessageWaitTimeSeconds",
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            ),
        ] {
            if let Some(value) = queue.properties.get(name) {
                request = request.attributes(attribute, template.resolve(value, &resources)?);
            }
        }
        let url = request
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or_else(|| Error::aws("CreateQueue returned no URL"))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| Error::aws("GetQueueAttributes returned no ARN"))?;
        resources
            .queues
            .insert(queue.logical_id.clone(), (url, arn));
    }
    for queue in &template.queues {
        let Some(policy) = queue
            .properties
            .get("RedrivePolicy")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let mut resolved = Map::new();
        for (k, v) in policy {
            let value = template.resolve(v, &resources)?;
            let value = value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(value));
            resolved.insert(k.clone(), value);
        }
        sqs.set_queue_attributes()
            .queue_url(&resources.queues[&queue.logical_id].0)
            .attributes(
                QueueAttributeName::RedrivePolicy,
                Value::Object(resolved).to_string(),
            )
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    Ok(resources)
}

fn key_schema(value: Option<&Value>) -> Result<Vec<KeySchemaElement>> {
    value
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Template("a table or index has no KeySchema".into()))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(
                    k.get("AttributeName")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .key_type(KeyType::from(
                    k.get("KeyType").and_then(Value::as_str).unwrap_or_default(),
                ))
                .build()
                .map_err(|e| Error::Template(e.to_string()))
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &Map<String, Value>,
) -> Result<()> {
    let definitions = props
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Template(format!("{name}: no AttributeDefinitions")))?
        .iter()
        .map(|d| {
            AttributeDefinition::builder()
                .attribute_name(
                    d.get("AttributeName")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .attribute_type(ScalarAttributeType::from(
                    d.get("AttributeType")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ))
                .build()
                .map_err(|e| Error::Template(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut request = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(props.get("KeySchema"))?))
        .billing_mode(BillingMode::PayPerRequest);
    for index in props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let projection = index.get("Projection");
        let projection = Projection::builder()
            .set_projection_type(
                projection
                    .and_then(|p| p.get("ProjectionType"))
                    .and_then(Value::as_str)
                    .map(ProjectionType::from),
            )
            .set_non_key_attributes(
                projection
                    .and_then(|p| p.get("NonKeyAttributes"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    }),
            )
            .build();
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(
                index
                    .get("IndexName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
            .projection(projection)
            .build()
            .map_err(|e| Error::Template(e.to_string()))?;
        request = request.global_secondary_indexes(gsi);
    }
    request
        .send()
        .await
        .map_err(|e| Error::aws(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(
                ttl.get("AttributeName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
            .build()
            .map_err(|e| Error::Template(e.to_string()))?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}
