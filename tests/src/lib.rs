//! The end-to-end harness: a moto server of the test's own on a free port,
//! the local stack (the same code `make dev` runs) on another, and loopback
//! HTTP sinks standing in for merchants' endpoints.
//!
//! Nothing here sleeps to synchronise: [`eventually`] polls with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::Value;

use inc_cli::local::{Moto, Stack, StackOptions, sdk_config};

pub mod aws_reads;
pub mod ledger;
pub mod proxy;
pub mod push;
pub mod sink;

pub use ledger::Ledger;
pub use proxy::Proxy;
pub use serde_json::json;
pub use sink::{Answer, Received, Sink};

/// The workspace's root folder.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The seed's SENT event (CONTRACT §4), with the given id.
pub fn seed_event(id: &str, kind: &str) -> Value {
    json!({"id": id, "type": kind,
        "data": {"status": "RESULT_OK", "status_code": -1, "id_smsout": 6,
                 "request_code": "54618541", "pin": "025719", "custom": "",
                 "to": "320555555", "from": "00391231234",
                 "msg": "Your SMS message🧘", "source": "smsout_api"}})
}

/// The seed's IPN body as INC sends it (`+` for spaces, as forms write them).
pub fn seed_form(ipn_type: &str) -> String {
    format!(
        "status=RESULT_OK&status_code=-1&id_smsout=6&request_code=54618541&pin=025719&custom=\
         &ipn_type={ipn_type}&to=320555555&from=00391231234&msg=Your+SMS+message%F0%9F%A7%98"
    )
}

/// SES's event publishing record (`eventType`, `mail`, and the event's own
/// object), as SES posts it to the topic.
pub fn ses_event(kind: &str, account: &str, message_id: &str, to: &str, event: Value) -> String {
    let mut doc = json!({
        "eventType": kind,
        "mail": {
            "timestamp": "2026-12-02T10:00:00.000Z",
            "source": "noreply@shop.example",
            "sendingAccountId": "123456789012",
            "messageId": message_id,
            "destination": [to],
            "headersTruncated": false,
            "tags": {
                "ses:configuration-set": ["EmailConfigurationSet"],
                "ses:from-domain": ["shop.example"],
                "inc_account": [account],
            },
        },
    });
    doc[kind.to_ascii_lowercase()] = event;
    doc.to_string()
}

pub struct Account {
    pub id: String,
    pub key: String,
}

/// moto plus the local stack, both the test's own.
pub struct TestStack {
    pub stack: Stack,
    /// Straight to the local AWS endpoint: what the test itself checks with.
    pub sdk: SdkConfig,
    pub http: reqwest::Client,
    /// Between the stack and the local AWS endpoint, when the test asked.
    pub proxy: Option<Proxy>,
    moto: Option<Moto>,
}

impl TestStack {
    /// A stack whose retry schedule runs in no time: three attempts, and a
    /// one-second floor after a timeout or a 429.
    pub async fn start() -> TestStack {
        TestStack::with_parameters(&[("RetrySchedule", "0,0")]).await
    }

    /// A stack with these template parameters overridden (the retry floor
    /// is one second unless they say otherwise).
    pub async fn with_parameters(parameters: &[(&str, &str)]) -> TestStack {
        let mut all = vec![("RetryFloorSeconds", "1")];
        all.extend_from_slice(parameters);
        TestStack::build(&all, true, false, None).await
    }

    /// A stack with these parameters whose schedules (the sweeper) fire
    /// every `every`, as EventBridge fires them by the template's rate.
    pub async fn with_schedules_every(parameters: &[(&str, &str)], every: Duration) -> TestStack {
        let mut all = vec![("RetryFloorSeconds", "1")];
        all.extend_from_slice(parameters);
        TestStack::build(&all, true, false, Some(every)).await
    }

    /// The template's tables and queues on a moto of its own, with no
    /// function running: for running them another way.
    pub async fn provision_only() -> TestStack {
        TestStack::build(&[], false, false, None).await
    }

    /// A stack that reaches the local AWS endpoint through a [`Proxy`] the
    /// test can cut.
    pub async fn behind_proxy(parameters: &[(&str, &str)]) -> TestStack {
        let mut all = vec![("RetryFloorSeconds", "1")];
        all.extend_from_slice(parameters);
        TestStack::build(&all, true, true, None).await
    }

    /// [`behind_proxy`](Self::behind_proxy), with the schedules (the
    /// sweeper) firing every `every`, through the proxy as well.
    pub async fn behind_proxy_sweeping(parameters: &[(&str, &str)], every: Duration) -> TestStack {
        let mut all = vec![("RetryFloorSeconds", "1")];
        all.extend_from_slice(parameters);
        TestStack::build(&all, true, true, Some(every)).await
    }

    async fn build(
        parameters: &[(&str, &str)],
        run_functions: bool,
        proxied: bool,
        schedule_every: Option<Duration>,
    ) -> TestStack {
        inc_shared::telemetry::init_for_tests();
        let moto = Moto::start(None)
            .await
            .expect("moto starts (make test installs it)");
        let sdk = sdk_config(&moto.endpoint, "us-east-1").await;
        let proxy = match proxied {
            true => Some(Proxy::start(SocketAddr::from(([127, 0, 0, 1], moto.port))).await),
            false => None,
        };
        let stack_sdk = match &proxy {
            Some(p) => sdk_config(&p.endpoint(), "us-east-1").await,
            None => sdk.clone(),
        };
        let mut options = StackOptions {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            run_functions,
            // Unless the test asks, schedules wait an hour: the tests that
            // need the sweeper run it themselves, at a time they choose.
            schedule_every: Some(schedule_every.unwrap_or(Duration::from_secs(3600))),
            ..StackOptions::default()
        };
        for (k, v) in parameters {
            options.parameters.insert((*k).into(), (*v).into());
        }
        let stack = Stack::start(&stack_sdk, options)
            .await
            .expect("the local stack starts");
        let http = reqwest::Client::new();
        TestStack {
            stack,
            sdk,
            http,
            proxy,
            moto: Some(moto),
        }
    }

    /// Stops the queue consumers, and waits out any receive of theirs still
    /// long-polling in moto (a poll cut short on our side runs on there for
    /// up to its 1 s wait, and would take messages no one then handles).
    pub async fn stop_workers(&mut self) {
        self.stack.stop_workers();
        self.outlast_cut_polls().await;
    }

    /// Waits out the receives moto may still be serving for consumers
    /// whose connection was cut (by [`stop_workers`](Self::stop_workers) or
    /// the [`Proxy`]): such a poll would take a message and hide it for the
    /// queue's visibility timeout with no one to handle it — what SQS does
    /// when a receive's answer is lost. A receive of our own, started after
    /// and as long, ends after them.
    pub async fn outlast_cut_polls(&self) {
        aws_sdk_sqs::Client::new(&self.sdk)
            .receive_message()
            .queue_url(self.env("INC_DELIVERY_QUEUE_URL"))
            .wait_time_seconds(1)
            .visibility_timeout(0)
            .send()
            .await
            .expect("a receive that outlasts the stopped consumers' polls");
    }

    /// Stops the local AWS endpoint, as if DynamoDB and SQS were down.
    pub fn stop_aws(&mut self) {
        self.moto = None;
    }

    /// The local AWS endpoint's URL.
    pub fn aws_endpoint(&self) -> String {
        self.moto
            .as_ref()
            .map(|m| m.endpoint.clone())
            .expect("AWS is running")
    }

    /// The stack's configuration, as its functions read it.
    pub fn config(&self) -> inc_shared::Config {
        inc_shared::Config::from_lookup(&|k| self.stack.environment.get(k).cloned())
            .expect("config")
    }

    /// A deliver handler of the caller's own, on the stack's configuration.
    pub fn deliver(&self) -> inc_deliver::Deliver {
        inc_deliver::Deliver::new(&self.sdk, &self.config()).expect("deliver")
    }

    /// A sweeper of the caller's own, on the stack's configuration, straight
    /// to the local AWS endpoint.
    pub fn sweeper(&self) -> inc_sweeper::Sweeper {
        inc_sweeper::Sweeper::new(&self.sdk, &self.config()).expect("sweeper")
    }

    /// One sweep as it would run once the grace period has passed: what
    /// is owed by then is done now, with no waiting.
    pub async fn sweep_after_grace(&self) -> inc_sweeper::Report {
        let grace = chrono::Duration::from_std(self.config().sweep_grace).expect("grace");
        self.sweeper()
            .sweep(chrono::Utc::now() + grace + chrono::Duration::seconds(1))
            .await
            .expect("a sweep")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url())
    }

    /// Where apps open the in-app feed's socket (`ws://127.0.0.1:…`).
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}",
            self.stack.ws_addr.expect("the WebSocket API is served")
        )
    }

    /// `method` on `path` as an app calls it: with a recipient token.
    pub async fn as_app(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        self.send(
            self.http
                .request(method, self.url(path))
                .header("Authorization", format!("Bearer {token}")),
        )
        .await
    }

    pub fn env(&self, name: &str) -> String {
        self.stack
            .environment
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not set"))
    }

    /// Creates an account whose webhooks go to `endpoint`.
    pub async fn account(&self, endpoint: Option<&str>) -> Account {
        let tables =
            inc_shared::config::Tables::from_lookup(&|k| self.stack.environment.get(k).cloned())
                .expect("tables");
        let (account, key) = inc_cli::accounts::create(&self.sdk, tables, "Test shop")
            .await
            .expect("account");
        let account = Account {
            id: account.account_id,
            key,
        };
        if let Some(url) = endpoint {
            let (status, body) = self
                .patch_settings(&account.key, json!({ "endpoint_url": url }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        account
    }

    /// Creates an account with no endpoint whose SMS gateway is `gateway`.
    pub async fn account_with_sms(&self, gateway: &Sink) -> Account {
        let account = self.account(None).await;
        let (status, body) = self
            .patch_settings(
                &account.key,
                json!({"channels": {"sms": {"url": format!("http://{}/sms", gateway.addr), "api_key": "gateway-1234"}}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        account
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the local stack answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn post_event(&self, key: &str, event: &Value) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url("/v1/events"))
                .header("Authorization", format!("Api-Key {key}"))
                .json(event),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url("/v1/events"))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Api-Key {key}"));
        }
        self.send(request).await
    }

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(self.url(path))
                .header("Authorization", format!("Api-Key {key}")),
        )
        .await
    }

    pub async fn send_json(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .header("Authorization", format!("Api-Key {key}"))
                .json(&body),
        )
        .await
    }

    /// Any route: `method` on `path`, with a JSON body if one is given.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("Authorization", format!("Api-Key {key}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn patch_settings(&self, key: &str, patch: Value) -> (u16, Value) {
        self.send(
            self.http
                .patch(self.url("/v1/settings"))
                .header("Authorization", format!("Api-Key {key}"))
                .json(&patch),
        )
        .await
    }

    /// Posts `n` SENT events with ids `{prefix}-0`, … and answers the ids of
    /// the notifications INC accepted for them.
    pub async fn post_events(&self, key: &str, prefix: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let (status, body) = self
                .post_event(key, &seed_event(&format!("{prefix}-{i}"), "sms.sent"))
                .await;
            assert_eq!(status, 202, "{body}");
            for id in body["notifications"].as_array().expect("notifications") {
                ids.push(id.as_str().expect("id").to_owned());
            }
        }
        ids
    }

    /// One notification from the history, once `ready` says it is.
    pub async fn notification_when(
        &self,
        key: &str,
        id: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(&format!("notification {id}"), PATIENCE, || async {
            let (status, body) = self.get(key, &format!("/v1/notifications/{id}")).await;
            (status == 200 && ready(&body)).then_some(body)
        })
        .await
    }

    /// Every item of a table, for proving that nothing was stored.
    pub async fn scan(&self, table_env: &str) -> usize {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let out = client
            .scan()
            .table_name(self.env(table_env))
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default().len()
    }

    /// The first message to reach the dead-letter queue, and the reason
    /// deliver gave with it (`inc_failure_reason`).
    pub async fn dead_letter(&self) -> (aws_sdk_sqs::types::Message, Option<String>) {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let dlq = self.env("INC_DEAD_LETTER_QUEUE_URL");
        let message = eventually("a message in the dead-letter queue", PATIENCE, || async {
            let out = sqs
                .receive_message()
                .queue_url(&dlq)
                .message_attribute_names("All")
                .send()
                .await
                .ok()?;
            out.messages?.into_iter().next()
        })
        .await;
        let reason = message
            .message_attributes()
            .and_then(|a| a.get("inc_failure_reason"))
            .and_then(|v| v.string_value())
            .map(str::to_owned);
        (message, reason)
    }

    /// Sends `message` (a `POST /v1/messages` body) and answers its
    /// notification once it is delivered.
    pub async fn delivered_message(&self, key: &str, message: Value) -> Value {
        let (status, body) = self.send_json("/v1/messages", key, message).await;
        assert_eq!(status, 202, "{body}");
        let nid = body["notification_id"].as_str().expect("id").to_owned();
        eventually("the message delivered", PATIENCE, || async {
            let (_, n) = self.get(key, &format!("/v1/notifications/{nid}")).await;
            (n["status"] == "delivered").then_some(n)
        })
        .await
    }

    /// [`delivered_message`](Self::delivered_message) for an email: its
    /// notification id and the message id SES returned.
    pub async fn delivered_email(&self, key: &str, message: Value) -> (String, String) {
        let n = self.delivered_message(key, message).await;
        let id = |v: &Value| v.as_str().expect("an id").to_owned();
        (id(&n["id"]), id(&n["attempts"][0]["provider_message_id"]))
    }

    /// Publishes `message` to the template's `EmailEventsTopic`, as SES's
    /// event publishing does with the events of an email it sent.
    pub async fn publish_email_event(&self, message: &str) {
        let topic = self
            .stack
            .resources
            .topics
            .get("EmailEventsTopic")
            .expect("the template's email events topic");
        aws_sdk_sns::Client::new(&self.sdk)
            .publish()
            .topic_arn(topic)
            .message(message)
            .send()
            .await
            .expect("publish");
    }

    /// Messages on a queue, visible or in flight.
    pub async fn queue_depth(&self, url_env: &str) -> usize {
        self.depth_of(&self.env(url_env)).await
    }

    /// Messages on the template's queue `logical_id`, visible or in flight.
    pub async fn template_queue_depth(&self, logical_id: &str) -> usize {
        let (url, _) = self
            .stack
            .resources
            .queues
            .get(logical_id)
            .unwrap_or_else(|| panic!("no queue {logical_id}"))
            .clone();
        self.depth_of(&url).await
    }

    async fn depth_of(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let client = aws_sdk_sqs::Client::new(&self.sdk);
        let out = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attrs.get(a)?.parse::<usize>().ok())
        .sum()
    }
}
