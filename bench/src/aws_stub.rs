//! An AWS endpoint that answers at once, for the benchmarks that must
//! measure INC rather than moto (issue 3, point 3).
//!
//! It first **records**: every request goes on to moto and its answer is
//! kept, by `X-Amz-Target`, with one item of each table a `BatchGetItem`
//! returned. Then it **replays**: each call is answered from memory without
//! touching moto — a `BatchGetItem` with the recorded item of each table,
//! its key set to the key asked for; a `SendMessageBatch` with every entry
//! successful; anything else with its recorded answer (`{}` if none). The
//! handlers see DynamoDB's and SQS's own wire shapes, so the SDK does all
//! the work it does against AWS (signing, serialising, parsing); only the
//! server's time is gone. Nothing it is told is stored: the ledger of a
//! replayed run is what the loopback endpoint received.
//!
//! For the scale rows it can also stand in for a list of any size
//! ([`synthesize_list`](AwsStub::synthesize_list): a member query answered
//! with generated ids after its start key), hand the messages sent to one
//! queue back to the bench ([`follow`](AwsStub::follow)), and keep a
//! **ledger** of every other message sent ([`count_sent`](AwsStub::count_sent):
//! counted by the `notification_id` of its body, or by its `webhook-id`
//! attribute). For the feed's scale row, a table's queries can be kept per
//! key ([`keyed_queries`](AwsStub::keyed_queries): a key never recorded
//! finds nothing) and a table's recorded item made each key's own
//! ([`personalize`](AwsStub::personalize)).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

#[derive(Default)]
struct Recorded {
    /// The last answer to each `X-Amz-Target` and table.
    answers: HashMap<String, Bytes>,
    /// One item of each table, as a `BatchGetItem` returned it.
    items: HashMap<String, Map<String, Value>>,
}

/// A list the stub makes up: its members' table, and members per shard.
struct SyntheticList {
    table: String,
    per_shard: usize,
}

/// One queue whose messages go back to the bench.
struct Follow {
    queue: String,
    to_bench: tokio::sync::mpsc::UnboundedSender<String>,
}

/// What a key asked for makes of a placeholder.
type KeyValue = Box<dyn Fn(&Map<String, Value>) -> String + Send + Sync>;

/// A recorded item made a key's own: `placeholder` anywhere in it becomes
/// what `value` makes of the key asked for.
struct Personal {
    table: String,
    placeholder: String,
    value: KeyValue,
}

struct StubState {
    upstream: String,
    keyed: Mutex<Option<String>>,
    personal: Mutex<Option<Personal>>,
    list: Mutex<Option<SyntheticList>>,
    follow: Mutex<Option<Follow>>,
    sent: Mutex<Option<HashMap<String, u32>>>,
    http: reqwest::Client,
    replaying: AtomicBool,
    recorded: Mutex<Recorded>,
    calls: Mutex<BTreeMap<String, usize>>,
    ids: AtomicU64,
}

pub struct AwsStub {
    pub addr: SocketAddr,
    state: Arc<StubState>,
    server: tokio::task::JoinHandle<()>,
}

impl AwsStub {
    /// Records what `upstream` (moto's URL) answers until [`replay`](Self::replay).
    pub async fn start(upstream: &str) -> AwsStub {
        let state = Arc::new(StubState {
            upstream: upstream.to_owned(),
            keyed: Mutex::default(),
            personal: Mutex::default(),
            list: Mutex::default(),
            follow: Mutex::default(),
            sent: Mutex::default(),
            http: reqwest::Client::new(),
            replaying: AtomicBool::new(false),
            recorded: Mutex::default(),
            calls: Mutex::default(),
            ids: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the AWS stub");
        let addr = listener.local_addr().expect("stub address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AwsStub {
            addr,
            state,
            server,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, answers from memory.
    pub fn replay(&self) {
        self.state.replaying.store(true, Ordering::SeqCst);
    }

    /// From now on, a query on `table` (a list's members by shard) is
    /// answered with `per_shard` made-up members of each shard, in pages as
    /// the query's limit asks, each member id naming its shard.
    pub fn synthesize_list(&self, table: &str, per_shard: usize) {
        *self.state.list.lock().expect("stub lock") = Some(SyntheticList {
            table: table.to_owned(),
            per_shard,
        });
    }

    /// Queries on `table` are recorded and replayed per key (`:k`); in
    /// replay, a key never recorded finds nothing. Set before recording.
    pub fn keyed_queries(&self, table: &str) {
        *self.state.keyed.lock().expect("stub lock") = Some(table.to_owned());
    }

    /// In replay, `table`'s recorded item answers each key asked for with
    /// `placeholder` (anywhere in the item) replaced by `value(key)`.
    pub fn personalize(
        &self,
        table: &str,
        placeholder: &str,
        value: impl Fn(&Map<String, Value>) -> String + Send + Sync + 'static,
    ) {
        *self.state.personal.lock().expect("stub lock") = Some(Personal {
            table: table.to_owned(),
            placeholder: placeholder.to_owned(),
            value: Box::new(value),
        });
    }

    /// From now on, the bodies of messages sent to `queue` come out of the
    /// receiver (and are not counted).
    pub fn follow(&self, queue: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (to_bench, from_stub) = tokio::sync::mpsc::unbounded_channel();
        *self.state.follow.lock().expect("stub lock") = Some(Follow {
            queue: queue.to_owned(),
            to_bench,
        });
        from_stub
    }

    /// From now on, counts every message sent: by its body's
    /// `notification_id`, or by its `webhook-id` attribute.
    pub fn count_sent(&self) {
        *self.state.sent.lock().expect("stub lock") = Some(HashMap::new());
    }

    /// How many times each message was sent since [`count_sent`](Self::count_sent);
    /// stops counting.
    pub fn sent(&self) -> HashMap<String, u32> {
        self.state
            .sent
            .lock()
            .expect("stub lock")
            .take()
            .unwrap_or_default()
    }

    /// How many calls of each `X-Amz-Target` it answered since the last
    /// call, and starts counting afresh.
    pub fn take_calls(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.state.calls.lock().expect("stub lock"))
    }
}

impl Drop for AwsStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(State(state): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    *state
        .calls
        .lock()
        .expect("stub lock")
        .entry(target.clone())
        .or_default() += 1;
    let slot = slot(&state, &target, &body);
    if !state.replaying.load(Ordering::SeqCst) {
        return record(&state, &target, &slot, headers, body).await;
    }
    let operation = target.rsplit('.').next().unwrap_or_default();
    let reply = match operation {
        "BatchGetItem" => batch_get(&state, &body),
        "Query" if let Some(page) = synthetic_page(&state, &body) => page,
        "SendMessage" => {
            count(&state, &serde_json::from_slice(&body).unwrap_or_default());
            recorded_answer(&state, &slot)
        }
        "SendMessageBatch" => send_batch(&state, &body),
        _ => recorded_answer(&state, &slot),
    };
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        reply,
    )
        .into_response()
}

fn recorded_answer(state: &StubState, slot: &str) -> Bytes {
    let recorded = state.recorded.lock().expect("stub lock");
    if let Some(answer) = recorded.answers.get(slot) {
        return answer.clone();
    }
    let keyed = state.keyed.lock().expect("stub lock");
    let of_keyed = keyed
        .as_deref()
        .is_some_and(|table| slot.starts_with(&format!("DynamoDB_20120810.Query {table} ")));
    match of_keyed {
        true => Bytes::from_static(br#"{"Items":[],"Count":0,"ScannedCount":0}"#),
        false => Bytes::from_static(b"{}"),
    }
}

/// Counts one message sent (a `SendMessage` request or a batch's entry), if
/// counting: by its body's `notification_id`, else its `webhook-id`.
fn count(state: &StubState, message: &Value) {
    let mut sent = state.sent.lock().expect("stub lock");
    let Some(sent) = sent.as_mut() else {
        return;
    };
    let body: Value = serde_json::from_str(message["MessageBody"].as_str().unwrap_or_default())
        .unwrap_or_default();
    // A bundle is each of its messages.
    if let Some(bundle) = body["bundle"].as_array() {
        for m in bundle {
            let id = m["notification_id"].as_str().unwrap_or_default().to_owned();
            *sent.entry(id).or_default() += 1;
        }
        return;
    }
    let id = match body["notification_id"].as_str() {
        Some(id) => id.to_owned(),
        None => message["MessageAttributes"]["webhook-id"]["StringValue"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    *sent.entry(id).or_default() += 1;
}

/// Passes the request on to moto and keeps its answer.
async fn record(
    state: &StubState,
    target: &str,
    slot: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = state.http.post(&state.upstream).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.0")
        .to_owned();
    let bytes = response.bytes().await.unwrap_or_default();
    if status.is_success() {
        let mut recorded = state.recorded.lock().expect("stub lock");
        if target.ends_with(".BatchGetItem")
            && let Ok(Value::Object(out)) = serde_json::from_slice::<Value>(&bytes)
            && let Some(Value::Object(tables)) = out.get("Responses")
        {
            for (table, items) in tables {
                if let Some(Value::Object(item)) = items.as_array().and_then(|i| i.first()) {
                    recorded.items.insert(table.clone(), item.clone());
                }
            }
        }
        recorded.answers.insert(slot.to_owned(), bytes.clone());
    }
    (status, [("content-type", content_type)], bytes).into_response()
}

/// Where an answer is kept: by target, by table for a call on one table,
/// and by key for a query on the keyed table.
fn slot(state: &StubState, target: &str, body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let keyed = state.keyed.lock().expect("stub lock");
    match request["TableName"].as_str() {
        Some(table) if target.ends_with(".Query") && keyed.as_deref() == Some(table) => {
            let key = &request["ExpressionAttributeValues"][":k"]["S"];
            format!("{target} {table} {}", key.as_str().unwrap_or_default())
        }
        Some(table) => format!("{target} {table}"),
        None => target.to_owned(),
    }
}

/// Every key asked for, answered with its table's recorded item under that key.
fn batch_get(state: &StubState, body: &[u8]) -> Bytes {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let recorded = state.recorded.lock().expect("stub lock");
    let personal = state.personal.lock().expect("stub lock");
    let mut responses = Map::new();
    for (table, wanted) in request["RequestItems"].as_object().into_iter().flatten() {
        let Some(template) = recorded.items.get(table) else {
            continue;
        };
        let items: Vec<Value> = wanted["Keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|key| {
                let mut item = template.clone();
                item.extend(key.clone());
                match personal.as_ref().filter(|p| p.table == *table) {
                    Some(p) => {
                        let text = Value::Object(item).to_string();
                        let text = text.replace(&p.placeholder, &(p.value)(key));
                        serde_json::from_str(&text).expect("a personalised item")
                    }
                    None => Value::Object(item),
                }
            })
            .collect();
        responses.insert(table.clone(), Value::Array(items));
    }
    Bytes::from(
        json!({"Responses": responses, "UnprocessedKeys": {}})
            .to_string()
            .into_bytes(),
    )
}

/// A page of the made-up list's shard the query names, if it is that
/// list's: member ids `s{shard}-{n:07}`, after the start key, up to the limit.
fn synthetic_page(state: &StubState, body: &[u8]) -> Option<Bytes> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let list = state.list.lock().expect("stub lock");
    let list = list.as_ref().filter(|l| request["TableName"] == l.table)?;
    let shard_key = request["ExpressionAttributeValues"][":k"]["S"].as_str()?;
    let shard = shard_key.rsplit('#').next().unwrap_or(shard_key);
    let from = request["ExclusiveStartKey"]["recipient_id"]["S"]
        .as_str()
        .and_then(|last| last.rsplit('-').next()?.parse::<usize>().ok())
        .map_or(0, |n| n + 1);
    let limit = request["Limit"].as_u64().unwrap_or(100) as usize;
    let to = (from + limit).min(list.per_shard);
    let items: Vec<Value> = (from..to)
        .map(|n| json!({"recipient_id": {"S": format!("s{shard}-{n:07}")}}))
        .collect();
    let mut out = json!({"Items": items, "Count": to - from, "ScannedCount": to - from});
    if to < list.per_shard {
        out["LastEvaluatedKey"] = json!({
            "shard_key": {"S": shard_key},
            "recipient_id": {"S": format!("s{shard}-{:07}", to - 1)},
        });
    }
    Some(Bytes::from(out.to_string().into_bytes()))
}

/// Every entry sent (and handed on, or counted).
fn send_batch(state: &StubState, body: &[u8]) -> Bytes {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let entries = request["Entries"].as_array().into_iter().flatten();
    for entry in entries {
        let body = entry["MessageBody"].as_str().unwrap_or_default();
        if let Some(follow) = state.follow.lock().expect("stub lock").as_ref()
            && request["QueueUrl"] == follow.queue.as_str()
        {
            let _ = follow.to_bench.send(body.to_owned());
            continue;
        }
        count(state, entry);
    }
    let successful: Vec<Value> = request["Entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let n = state.ids.fetch_add(1, Ordering::Relaxed);
            json!({
                "Id": entry["Id"],
                "MessageId": format!("stub-{n}"),
                "MD5OfMessageBody": "00000000000000000000000000000000",
            })
        })
        .collect();
    Bytes::from(
        json!({"Successful": successful, "Failed": []})
            .to_string()
            .into_bytes(),
    )
}
