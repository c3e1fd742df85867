//! The parts of `template.yaml` the local stack acts on.
//!
//! The template writes intrinsics in their long form (`Ref:`,
//! `Fn::GetAtt:`), so a plain YAML parser reads it; [`Template::resolve`]
//! evaluates the few intrinsics a function's environment uses.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub tables: Vec<Resource>,
    pub queues: Vec<Resource>,
    /// SNS topics (`AWS::SNS::Topic`).
    pub topics: Vec<Resource>,
    /// SES configuration sets (`AWS::SES::ConfigurationSet`).
    pub configuration_sets: Vec<Resource>,
    /// WebSocket APIs (`AWS::ApiGatewayV2::Api`, `ProtocolType: WEBSOCKET`)
    /// with their stage, routes and the function their integration invokes.
    pub websockets: Vec<WebSocketApi>,
}

/// A WebSocket API as the local stack serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketApi {
    pub logical_id: String,
    /// The stage's logical id and name (`Ref` of a stage is its name).
    pub stage: Option<(String, String)>,
    /// The logical id of the function its `AWS_PROXY` integration invokes.
    pub function: String,
    /// `$connect`, `$disconnect`, `$default`, …
    pub routes: Vec<String>,
}

/// A resource's logical id and properties.
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: which of the workspace's binaries.
    pub binary: String,
    /// Globals' variables overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
    pub routes: Vec<Route>,
    pub queues: Vec<QueueSource>,
    /// `Schedule` events: each expression unresolved (it may be a `Ref`).
    pub schedules: Vec<Value>,
    /// `SNS` events: the topics that invoke the function, by logical id.
    pub topics: Vec<String>,
    /// `DeadLetterQueue` (an SQS queue's logical id): where Lambda keeps an
    /// asynchronous invocation that failed every try.
    pub dead_letter_queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct QueueSource {
    pub queue_logical_id: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
}

/// What a template's references resolve to locally.
pub trait Resolver {
    fn table_name(&self, logical_id: &str) -> Option<String>;
    fn queue_url(&self, logical_id: &str) -> Option<String>;
    fn queue_arn(&self, logical_id: &str) -> Option<String>;
    /// A topic's `Ref`: its ARN.
    fn topic_arn(&self, logical_id: &str) -> Option<String>;
    /// A configuration set's `Ref`: its name.
    fn configuration_set(&self, logical_id: &str) -> Option<String>;
    /// A WebSocket API's `ApiEndpoint`: where the local stack serves it.
    fn websocket_endpoint(&self, logical_id: &str) -> Option<String>;
}

fn err(msg: impl Into<String>) -> Error {
    Error::Template(msg.into())
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn env_vars(node: Option<&Value>) -> BTreeMap<String, Value> {
    node.and_then(|n| n.pointer("/Environment/Variables"))
        .and_then(Value::as_object)
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl Template {
    pub fn load(path: &Path) -> Result<Template> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| err(e.to_string()))?;
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(k, p)| Some((k.clone(), scalar(p.get("Default")?)?)))
                    .collect()
            })
            .unwrap_or_default();
        let globals = env_vars(doc.pointer("/Globals/Function"));
        let resources = doc
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| err("no Resources"))?;
        let mut template = Template {
            parameters,
            functions: Vec::new(),
            tables: Vec::new(),
            queues: Vec::new(),
            topics: Vec::new(),
            configuration_sets: Vec::new(),
            websockets: Vec::new(),
        };
        for (id, resource) in resources {
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let properties = resource
                .get("Properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            match kind {
                "AWS::DynamoDB::Table" => template.tables.push(Resource {
                    logical_id: id.clone(),
                    properties,
                }),
                "AWS::SQS::Queue" => template.queues.push(Resource {
                    logical_id: id.clone(),
                    properties,
                }),
                "AWS::SNS::Topic" => template.topics.push(Resource {
                    logical_id: id.clone(),
                    properties,
                }),
                "AWS::SES::ConfigurationSet" => template.configuration_sets.push(Resource {
                    logical_id: id.clone(),
                    properties,
                }),
                "AWS::Serverless::Function" => {
                    template.functions.push(Template::function(
                        id,
                        resource,
                        &properties,
                        &globals,
                    )?);
                }
                _ => {}
            }
        }
        template.websockets = websockets(resources)?;
        Ok(template)
    }

    fn function(
        id: &str,
        resource: &Value,
        properties: &Map<String, Value>,
        globals: &BTreeMap<String, Value>,
    ) -> Result<Function> {
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{id}: no Metadata.BuildProperties.Binary")))?
            .to_owned();
        let mut environment = globals.clone();
        environment.extend(env_vars(Some(&Value::Object(properties.clone()))));
        let mut routes = Vec::new();
        let mut queues = Vec::new();
        let mut schedules = Vec::new();
        let mut topics = Vec::new();
        for (name, event) in properties
            .get("Events")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let props = event.get("Properties").cloned().unwrap_or_default();
            match event.get("Type").and_then(Value::as_str) {
                Some("HttpApi") => {
                    let field = |f: &str| {
                        props
                            .get(f)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| err(format!("{id}.{name}: HttpApi event needs {f}")))
                    };
                    routes.push(Route {
                        method: field("Method")?.to_ascii_uppercase(),
                        path: field("Path")?,
                    });
                }
                Some("SQS") => {
                    let queue = props
                        .pointer("/Queue/Fn::GetAtt/0")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            err(format!(
                                "{id}.{name}: Queue must be Fn::GetAtt [Queue, Arn]"
                            ))
                        })?;
                    let batch_size = props.get("BatchSize").and_then(Value::as_u64).unwrap_or(10);
                    let report = props
                        .get("FunctionResponseTypes")
                        .and_then(Value::as_array)
                        .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
                    queues.push(QueueSource {
                        queue_logical_id: queue.to_owned(),
                        batch_size: usize::try_from(batch_size.clamp(1, 10)).unwrap_or(10),
                        report_batch_item_failures: report,
                    });
                }
                Some("Schedule") => {
                    let expression = props.get("Schedule").cloned().ok_or_else(|| {
                        err(format!("{id}.{name}: Schedule event needs Schedule"))
                    })?;
                    schedules.push(expression);
                }
                Some("SNS") => {
                    let topic = props
                        .pointer("/Topic/Ref")
                        .and_then(Value::as_str)
                        .ok_or_else(|| err(format!("{id}.{name}: Topic must be Ref: <topic>")))?;
                    topics.push(topic.to_owned());
                }
                Some(other) => {
                    return Err(err(format!(
                        "{id}.{name}: event type {other} is not served locally"
                    )));
                }
                None => return Err(err(format!("{id}.{name}: event without Type"))),
            }
        }
        let dead_letter_queue = match properties.get("DeadLetterQueue") {
            None => None,
            Some(dlq) => Some(
                dlq.pointer("/TargetArn/Fn::GetAtt/0")
                    .and_then(Value::as_str)
                    .filter(|_| dlq.get("Type").and_then(Value::as_str) == Some("SQS"))
                    .ok_or_else(|| {
                        err(format!(
                            "{id}: DeadLetterQueue must be an SQS queue's Fn::GetAtt [Queue, Arn]"
                        ))
                    })?
                    .to_owned(),
            ),
        };
        Ok(Function {
            logical_id: id.to_owned(),
            binary,
            environment,
            routes,
            queues,
            schedules,
            topics,
            dead_letter_queue,
        })
    }

    /// Evaluates a value the way CloudFormation would, for the intrinsics a
    /// function's environment and a queue's redrive policy use.
    pub fn resolve(&self, value: &Value, resolver: &dyn Resolver) -> Result<String> {
        if let Some(s) = scalar(value) {
            return Ok(s);
        }
        let unsupported = || err(format!("cannot resolve {value} locally"));
        let obj = value
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(unsupported)?;
        if let Some(name) = obj.get("Ref").and_then(Value::as_str) {
            if let Some(v) = self.parameters.get(name) {
                return Ok(v.clone());
            }
            if let Some((_, stage)) = self
                .websockets
                .iter()
                .filter_map(|w| w.stage.as_ref())
                .find(|(id, _)| id == name)
            {
                return Ok(stage.clone());
            }
            return resolver
                .table_name(name)
                .or_else(|| resolver.queue_url(name))
                .or_else(|| resolver.topic_arn(name))
                .or_else(|| resolver.configuration_set(name))
                .ok_or_else(|| {
                    err(format!(
                        "Ref {name}: no such parameter, table, queue, topic or configuration set"
                    ))
                });
        }
        if let Some([id, attr]) = obj
            .get("Fn::GetAtt")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            if let (Some(id), Some("ApiEndpoint")) = (id.as_str(), attr.as_str()) {
                return resolver.websocket_endpoint(id).ok_or_else(|| {
                    err(format!(
                        "Fn::GetAtt {id}.ApiEndpoint: no such WebSocket API"
                    ))
                });
            }
            let (Some(id), Some("Arn")) = (id.as_str(), attr.as_str()) else {
                return Err(unsupported());
            };
            return resolver
                .queue_arn(id)
                .ok_or_else(|| err(format!("Fn::GetAtt {id}.Arn: no such queue")));
        }
        Err(unsupported())
    }
}

/// The template's WebSocket APIs: each `WEBSOCKET` API with its stage, its
/// routes, and the function its integration's URI names
/// (`…/functions/${Fn.Arn}/invocations`).
fn websockets(resources: &Map<String, Value>) -> Result<Vec<WebSocketApi>> {
    let of_kind = |kind: &'static str| {
        resources
            .iter()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, r)| (id, r.get("Properties").cloned().unwrap_or_default()))
    };
    let api_of = |props: &Value| {
        props
            .pointer("/ApiId/Ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut apis = Vec::new();
    for (id, props) in of_kind("AWS::ApiGatewayV2::Api") {
        if props.get("ProtocolType").and_then(Value::as_str) != Some("WEBSOCKET") {
            continue;
        }
        let mut function = None;
        for (_, integration) in of_kind("AWS::ApiGatewayV2::Integration") {
            if api_of(&integration).as_deref() != Some(id) {
                continue;
            }
            let uri = integration
                .pointer("/IntegrationUri/Fn::Sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            function = uri
                .split("${")
                .filter_map(|part| part.split_once(".Arn}"))
                .map(|(f, _)| f.to_owned())
                .next();
        }
        let function = function.ok_or_else(|| {
            err(format!(
                "{id}: a WebSocket API needs an integration whose IntegrationUri names ${{Function.Arn}}"
            ))
        })?;
        let stage = of_kind("AWS::ApiGatewayV2::Stage")
            .find(|(_, p)| api_of(p).as_deref() == Some(id))
            .and_then(|(sid, p)| Some((sid.clone(), p.get("StageName")?.as_str()?.to_owned())));
        let routes = of_kind("AWS::ApiGatewayV2::Route")
            .filter(|(_, p)| api_of(p).as_deref() == Some(id))
            .filter_map(|(_, p)| Some(p.get("RouteKey")?.as_str()?.to_owned()))
            .collect();
        apis.push(WebSocketApi {
            logical_id: id.clone(),
            stage,
            function,
            routes,
        });
    }
    Ok(apis)
}

/// How often an EventBridge `rate(...)` expression fires. (`cron(...)` is
/// not emulated: the template uses none.)
pub fn rate(expression: &str) -> Result<std::time::Duration> {
    let bad = || {
        err(format!(
            "schedule `{expression}`: the local stack runs rate(N minute|minutes|hour|hours|day|days)"
        ))
    };
    let inner = expression
        .trim()
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (n, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    match n {
        0 => Err(bad()),
        n => Ok(std::time::Duration::from_secs(n * seconds)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_template() -> Template {
        Template::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../template.yaml"
        )))
        .unwrap()
    }

    #[test]
    fn reads_the_projects_template() {
        let t = project_template();
        let names: Vec<_> = t.functions.iter().map(|f| f.binary.as_str()).collect();
        assert!(
            names.contains(&"ingest") && names.contains(&"deliver") && names.contains(&"api"),
            "{names:?}"
        );
        let ingest = t.functions.iter().find(|f| f.binary == "ingest").unwrap();
        assert_eq!(
            ingest.routes,
            vec![
                Route {
                    method: "DELETE".into(),
                    path: "/v1/messages/{id}".into()
                },
                Route {
                    method: "GET".into(),
                    path: "/v1/messages/{id}".into()
                },
                Route {
                    method: "POST".into(),
                    path: "/v1/events".into()
                },
                Route {
                    method: "POST".into(),
                    path: "/v1/messages".into()
                },
            ]
        );
        assert!(ingest.environment.contains_key("INC_EVENTS_TABLE"));
        let deliver = t.functions.iter().find(|f| f.binary == "deliver").unwrap();
        let queues: Vec<&str> = deliver
            .queues
            .iter()
            .map(|q| q.queue_logical_id.as_str())
            .collect();
        assert!(
            queues.contains(&"DeliveryQueue") && queues.contains(&"CampaignQueue"),
            "{queues:?}"
        );
        assert!(deliver.queues.iter().all(|q| q.report_batch_item_failures));
        let sweeper = t.functions.iter().find(|f| f.binary == "sweeper").unwrap();
        let every = t.resolve(&sweeper.schedules[0], &Names).unwrap();
        assert_eq!(rate(&every).unwrap(), std::time::Duration::from_secs(60));
        assert_eq!(t.tables.len(), 20);
        assert_eq!(
            t.websockets,
            vec![WebSocketApi {
                logical_id: "FeedSocketApi".into(),
                stage: Some(("FeedSocketStage".into(), "live".into())),
                function: "RealtimeFunction".into(),
                routes: vec!["$connect".into(), "$default".into(), "$disconnect".into()],
            }]
        );
        assert_eq!(t.queues.len(), 6);
        let receipts = t.functions.iter().find(|f| f.binary == "receipts").unwrap();
        assert_eq!(receipts.topics, ["EmailEventsTopic"]);
        assert_eq!(
            receipts.dead_letter_queue.as_deref(),
            Some("ReceiptsDeadLetterQueue")
        );
        assert_eq!(t.configuration_sets[0].logical_id, "EmailConfigurationSet");
        assert_eq!(
            t.parameters.get("MaxReceiveCount").map(String::as_str),
            Some("20")
        );
    }

    struct Names;
    impl Resolver for Names {
        fn table_name(&self, id: &str) -> Option<String> {
            (id == "T").then(|| "table-t".into())
        }
        fn queue_url(&self, id: &str) -> Option<String> {
            (id == "Q").then(|| "http://q".into())
        }
        fn queue_arn(&self, id: &str) -> Option<String> {
            (id == "Q").then(|| "arn:q".into())
        }
        fn topic_arn(&self, id: &str) -> Option<String> {
            (id == "N").then(|| "arn:n".into())
        }
        fn configuration_set(&self, id: &str) -> Option<String> {
            (id == "C").then(|| "set-c".into())
        }
        fn websocket_endpoint(&self, id: &str) -> Option<String> {
            (id == "W").then(|| "ws://w".into())
        }
    }

    #[test]
    fn resolves_refs_and_arns_and_refuses_the_rest() {
        let t =
            Template::parse("Parameters: {P: {Type: String, Default: x}}\nResources: {}").unwrap();
        let r = |v: &str| t.resolve(&serde_yaml_ng::from_str(v).unwrap(), &Names);
        assert_eq!(r("Ref: P").unwrap(), "x");
        assert_eq!(r("Ref: T").unwrap(), "table-t");
        assert_eq!(r("Ref: Q").unwrap(), "http://q");
        assert_eq!(r("Fn::GetAtt: [Q, Arn]").unwrap(), "arn:q");
        assert_eq!(r("Ref: N").unwrap(), "arn:n");
        assert_eq!(r("Ref: C").unwrap(), "set-c");
        assert_eq!(r("Fn::GetAtt: [W, ApiEndpoint]").unwrap(), "ws://w");
        assert_eq!(r("7").unwrap(), "7");
        assert!(r("Ref: Nope").is_err());
        assert!(r("Fn::Sub: x").is_err());
    }

    #[test]
    fn rates_are_read_and_the_rest_refused() {
        assert_eq!(rate("rate(5 minutes)").unwrap().as_secs(), 300);
        assert_eq!(rate("rate(1 hour)").unwrap().as_secs(), 3600);
        for bad in [
            "rate(0 minutes)",
            "rate(1 fortnight)",
            "cron(0 * * * ? *)",
            "soon",
        ] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }
}
