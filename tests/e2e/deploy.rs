//! What users who deploy with SAM rely on: the template is valid, every route
//! it declares is served, and the sample events in `events/` run through the
//! real Lambda runtime (`cargo lambda watch` / `invoke`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use inc_cli::local::Template;
use inc_tests::{PATIENCE, Sink, TestStack, eventually, json, workspace_root};
use serde_json::Value;

fn template() -> Template {
    Template::load(&workspace_root().join("template.yaml")).expect("template.yaml")
}

fn tool(venv: &str, name: &str) -> PathBuf {
    workspace_root()
        .join(".venv")
        .join(venv)
        .join("bin")
        .join(name)
}

#[test]
fn the_template_passes_sam_validate_lint() {
    let sam = tool("sam", "sam");
    let out = std::process::Command::new(&sam)
        .args([
            "validate",
            "--lint",
            "--region",
            "us-east-1",
            "--template-file",
            "template.yaml",
        ])
        .current_dir(workspace_root())
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); make test installs it", sam.display()));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("is a valid SAM Template"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_template_is_served_by_its_function() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    for function in template().functions {
        for route in function.routes {
            let path = route.path.replace("{id}", "ntf_01JJ0000000000000000000000");
            let method = reqwest::Method::from_bytes(route.method.as_bytes()).expect("method");
            let response = t
                .http
                .request(method, t.url(&path))
                .header("Authorization", format!("Api-Key {}", acct.key))
                .json(&json!({}))
                .send()
                .await
                .expect("answer");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unrouted = body["error"]["message"] == "route not found" || status == 405;
            assert!(
                !unrouted && status < 500,
                "{} {path} -> {status} {body}",
                route.method
            );
        }
    }
}

/// The route a sample event stands for, as the template writes it.
fn route_of(event: &ApiGatewayV2httpRequest) -> String {
    event.route_key.clone().unwrap_or_default()
}

fn sample_events() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("events"))
        .expect("events/")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let v =
                serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("JSON");
            (p, v)
        })
        .collect()
}

#[test]
fn there_is_a_valid_sample_event_for_every_route_and_queue() {
    let mut routes = BTreeSet::new();
    let mut sqs = 0;
    let mut scheduled = 0;
    let mut sns = 0;
    let mut sockets = BTreeSet::new();
    for (path, value) in sample_events() {
        if value["requestContext"]["eventType"].is_string() {
            // The WebSocket API's routes (contract 14).
            let event: ApiGatewayWebsocketProxyRequest =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            sockets.insert(event.request_context.route_key.unwrap_or_default());
        } else if value["detail-type"] == "Scheduled Event" {
            assert_eq!(value["source"], "aws.events", "{}", path.display());
            scheduled += 1;
        } else if value["Records"][0]["EventSource"] == "aws:sns" {
            let event: SnsEvent =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!event.records.is_empty());
            sns += 1;
        } else if value.get("Records").is_some() {
            let event: SqsEvent =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!event.records.is_empty());
            sqs += 1;
        } else {
            let event: ApiGatewayV2httpRequest =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            routes.insert(route_of(&event));
        }
    }
    let declared: BTreeSet<String> = template()
        .functions
        .iter()
        .flat_map(|f| f.routes.iter().map(|r| format!("{} {}", r.method, r.path)))
        .collect();
    assert_eq!(
        routes, declared,
        "events/ should hold one API Gateway event per template route"
    );
    assert!(
        sqs >= 2,
        "events/ should hold an SQS event for deliver and for campaigns"
    );
    let schedules = template()
        .functions
        .iter()
        .filter(|f| !f.schedules.is_empty())
        .count();
    assert_eq!(
        scheduled, schedules,
        "events/ should hold an EventBridge event per scheduled function"
    );
    assert_eq!(
        sockets,
        BTreeSet::from([
            "$connect".to_owned(),
            "$default".to_owned(),
            "$disconnect".to_owned()
        ]),
        "events/ should hold the WebSocket API's connect, message and disconnect"
    );
    let triggered = template()
        .functions
        .iter()
        .filter(|f| !f.topics.is_empty())
        .count();
    assert_eq!(
        sns, triggered,
        "events/ should hold an SNS event per SNS-triggered function"
    );
}

/// `cargo lambda watch` in a process group of its own, stopped on drop.
struct Watch {
    child: std::process::Child,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

fn lambda_path() -> String {
    let venv = tool("lambda", "");
    format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

async fn invoke(watch: &Watch, function: &str, event: &Path) -> Value {
    let out = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(watch.port.to_string())
        .arg("--data-file")
        .arg(event)
        .env("PATH", lambda_path())
        .current_dir(workspace_root())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), out)
        .await
        .expect("invoke in time")
        .expect("cargo lambda");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{function}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{function}: {e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_events_run_through_the_real_lambda_runtime() {
    let t = TestStack::provision_only().await;
    let sink = Sink::start().await;
    let acct = t.account(None).await;
    let dir = std::env::temp_dir().join(format!("inc-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // The functions' environment as the template resolves it, plus the SDK's
    // own settings pointing at this test's moto.
    let mut env: Vec<String> = t
        .stack
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.extend([
        format!("AWS_ENDPOINT_URL={}", t.aws_endpoint()),
        "AWS_REGION=us-east-1".into(),
        "AWS_ACCESS_KEY_ID=test".into(),
        "AWS_SECRET_ACCESS_KEY=test".into(),
    ]);
    let env_file = dir.join("lambda.env");
    std::fs::write(&env_file, env.join("\n")).expect("env file");

    let port = inc_cli::local::moto::free_port().expect("port");
    let child = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .env("PATH", lambda_path())
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch (make test installs cargo-lambda)")
    };
    let watch = Watch { child, port };
    eventually("cargo lambda watch", Duration::from_secs(120), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;

    let substitute = |name: &str, pairs: &[(&str, &str)]| {
        let mut text =
            std::fs::read_to_string(workspace_root().join("events").join(name)).expect("event");
        for (from, to) in pairs {
            text = text.replace(from, to);
        }
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write event");
        path
    };
    let with_key = |name: &str| substitute(name, &[("inc_replace_with_your_api_key", &acct.key)]);

    let health = invoke(&watch, "api", &with_key("api-health.json")).await;
    assert_eq!(health["statusCode"], 200, "{health}");
    let settings_patch = substitute(
        "api-patch-settings.json",
        &[
            ("inc_replace_with_your_api_key", &acct.key),
            ("https://shop.example/ipn", &sink.url()),
        ],
    );
    let patched = invoke(&watch, "api", &settings_patch).await;
    assert_eq!(patched["statusCode"], 200, "{patched}");

    let accepted = invoke(&watch, "ingest", &with_key("ingest-post-event.json")).await;
    assert_eq!(accepted["statusCode"], 202, "{accepted}");
    let body: Value =
        serde_json::from_str(accepted["body"].as_str().expect("body")).expect("JSON body");
    let notification_id = body["notifications"][0]
        .as_str()
        .expect("a notification")
        .to_owned();

    let batch = substitute(
        "deliver-sqs.json",
        &[
            ("acc_replace_with_account_id", &acct.id),
            ("ntf_replace_with_notification_id", &notification_id),
        ],
    );
    let response = invoke(&watch, "deliver", &batch).await;
    assert_eq!(response, json!({"batchItemFailures": []}));
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].headers["webhook-id"], notification_id);

    let one = substitute(
        "api-get-notification.json",
        &[
            ("inc_replace_with_your_api_key", &acct.key),
            ("ntf_01JJ0000000000000000000000", &notification_id),
        ],
    );
    let shown = eventually("the delivered notification", PATIENCE, || async {
        let r = invoke(&watch, "api", &one).await;
        let body: Value = serde_json::from_str(r["body"].as_str()?).ok()?;
        (body["status"] == "delivered").then_some(body)
    })
    .await;
    assert_eq!(shown["attempts"][0]["status_code"], 200);

    // The sweeper's schedule tick: nothing is owed, so it does nothing.
    let swept = invoke(
        &watch,
        "sweeper",
        &workspace_root().join("events/sweeper-schedule.json"),
    )
    .await;
    assert_eq!(
        swept,
        json!({"released": 0, "requeued": 0, "undone": 0, "given_up": 0, "dead_lettered": 0, "skipped": 0,
               "runs_started": 0, "pages_requeued": 0, "runs_finished": 0})
    );

    // A page of a campaign run that does not exist: read, and dropped.
    let page = substitute(
        "campaigns-fanout-sqs.json",
        &[("acc_replace_with_account_id", &acct.id)],
    );
    let response = invoke(&watch, "campaigns", &page).await;
    assert_eq!(response, json!({"batchItemFailures": []}));

    // SES's Delivery event through SNS, for an email this moto never sent:
    // read, looked up, and ignored.
    let ses = substitute(
        "receipts-ses-delivery.json",
        &[("acc_replace_with_account_id", &acct.id)],
    );
    let report = invoke(&watch, "receipts", &ses).await;
    assert_eq!(
        report,
        json!({"recorded": 0, "suppressed": 0, "ignored": 1})
    );
    // The feed's socket: a token that is not one is refused at connect; a
    // disconnect of a socket never seen is answered all the same.
    let refused = invoke(
        &watch,
        "realtime",
        &workspace_root().join("events/realtime-connect.json"),
    )
    .await;
    assert_eq!(refused["statusCode"], 401, "{refused}");
    let gone = invoke(
        &watch,
        "realtime",
        &workspace_root().join("events/realtime-disconnect.json"),
    )
    .await;
    assert_eq!(gone["statusCode"], 200, "{gone}");
    // What an app sends on its socket is answered and ignored.
    let message = invoke(
        &watch,
        "realtime",
        &workspace_root().join("events/realtime-message.json"),
    )
    .await;
    assert_eq!(message["statusCode"], 200, "{message}");
    drop(watch);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The template's resources of one type, by logical id.
fn resources_of(doc: &serde_yaml_ng::Value, kind: &str) -> Vec<(String, serde_yaml_ng::Value)> {
    doc["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

#[test]
fn the_template_is_ready_for_production() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    for p in [
        "Stage",
        "LogRetentionDays",
        "AlarmEmail",
        "Architecture",
        "DeliveryMaxConcurrency",
    ] {
        assert!(doc["Parameters"][p].is_mapping(), "parameter {p}");
    }
    // Point-in-time recovery and encryption on every table; SSE on queues.
    for (id, table) in resources_of(&doc, "AWS::DynamoDB::Table") {
        assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"), "{id}");
        let p = &table["Properties"];
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
        assert_eq!(
            p["SSESpecification"]["SSEEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
    }
    for (id, queue) in resources_of(&doc, "AWS::SQS::Queue") {
        assert_eq!(
            queue["Properties"]["SqsManagedSseEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
    }
    // Every function logs JSON to a group with a retention.
    let functions = resources_of(&doc, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 8);
    let groups = resources_of(&doc, "AWS::Logs::LogGroup");
    for (id, f) in &functions {
        let logging = &f["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{id}");
        let group = logging["LogGroup"]["Ref"]
            .as_str()
            .expect("a log group of its own");
        let (_, g) = groups
            .iter()
            .find(|(gid, _)| gid == group)
            .expect("declared");
        assert_eq!(
            g["Properties"]["RetentionInDays"]["Ref"].as_str(),
            Some("LogRetentionDays")
        );
    }
    // The SQS mapping cannot take the account's whole concurrency.
    let deliver = &functions
        .iter()
        .find(|(id, _)| id == "DeliverFunction")
        .expect("deliver")
        .1;
    assert_eq!(
        deliver["Properties"]["Events"]["Deliveries"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]["Ref"].as_str(),
        Some("DeliveryMaxConcurrency")
    );
    // Campaign messages and pages each have a concurrency of their own.
    assert_eq!(
        deliver["Properties"]["Events"]["CampaignDeliveries"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]["Ref"].as_str(),
        Some("CampaignMaxConcurrency")
    );
    // The sweeper runs on its schedule, one at a time.
    let sweeper = &functions
        .iter()
        .find(|(id, _)| id == "SweeperFunction")
        .expect("sweeper")
        .1;
    assert_eq!(
        sweeper["Properties"]["Events"]["Sweep"]["Properties"]["Schedule"]["Ref"].as_str(),
        Some("SweepSchedule")
    );
    assert_eq!(
        sweeper["Properties"]["ReservedConcurrentExecutions"].as_i64(),
        Some(1)
    );
    // Alarms: any DLQ message, the oldest delivery message's age, and each
    // function's errors, all to the alarm topic.
    let alarms = resources_of(&doc, "AWS::CloudWatch::Alarm");
    let on = |metric: &str, dimension: &str| {
        alarms
            .iter()
            .filter(|(_, a)| {
                let p = &a["Properties"];
                p["MetricName"].as_str() == Some(metric)
                    && serde_yaml_ng::to_string(&p["Dimensions"])
                        .is_ok_and(|d| d.contains(dimension))
                    && p["AlarmActions"][0]["Ref"].as_str() == Some("AlarmTopic")
            })
            .count()
    };
    assert_eq!(
        on(
            "ApproximateNumberOfMessagesVisible",
            "DeliveryDeadLetterQueue"
        ),
        1
    );
    assert_eq!(
        on(
            "ApproximateNumberOfMessagesVisible",
            "ReceiptsDeadLetterQueue"
        ),
        1
    );
    assert_eq!(
        on(
            "ApproximateNumberOfMessagesVisible",
            "FanoutDeadLetterQueue"
        ),
        1
    );
    assert_eq!(on("ApproximateAgeOfOldestMessage", "DeliveryQueue"), 1);
    for (id, _) in &functions {
        assert_eq!(on("Errors", id), 1, "an error alarm for {id}");
    }
    let dlq_alarm = alarms
        .iter()
        .find(|(id, _)| id == "DeadLetterAlarm")
        .expect("DLQ alarm");
    assert_eq!(dlq_alarm.1["Properties"]["Threshold"].as_i64(), Some(1));
    for output in [
        "ApiUrl",
        "AlarmTopicArn",
        "DeliveryQueueUrl",
        "DeadLetterQueueUrl",
        "NotificationsTableName",
    ] {
        assert!(doc["Outputs"][output].is_mapping(), "output {output}");
    }
}
