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

struct StubState {
    upstream: String,
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
    let slot = slot(&target, &body);
    if !state.replaying.load(Ordering::SeqCst) {
        return record(&state, &target, &slot, headers, body).await;
    }
    let operation = target.rsplit('.').next().unwrap_or_default();
    let reply = match operation {
        "BatchGetItem" => batch_get(&state, &body),
        "SendMessageBatch" => send_batch(&state, &body),
        _ => {
            let recorded = state.recorded.lock().expect("stub lock");
            recorded
                .answers
                .get(&slot)
                .cloned()
                .unwrap_or_else(|| Bytes::from_static(b"{}"))
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        reply,
    )
        .into_response()
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

/// Where an answer is kept: by target, and by table for a call on one table.
fn slot(target: &str, body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    match request["TableName"].as_str() {
        Some(table) => format!("{target} {table}"),
        None => target.to_owned(),
    }
}

/// Every key asked for, answered with its table's recorded item under that key.
fn batch_get(state: &StubState, body: &[u8]) -> Bytes {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let recorded = state.recorded.lock().expect("stub lock");
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
                Value::Object(item)
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

/// Every entry sent.
fn send_batch(state: &StubState, body: &[u8]) -> Bytes {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
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
