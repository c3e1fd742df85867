//! A Lambda Runtime API of our own, on loopback: it starts a function's
//! release binary as Lambda would (`AWS_LAMBDA_RUNTIME_API` and the usual
//! variables), hands it events one at a time, and notes when the process
//! first asked for work, when each event was handed over and when each
//! answer came back.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    events: VecDeque<Vec<u8>>,
    first_next: Option<Instant>,
    handed: Vec<Instant>,
    answered: Vec<(Instant, bool)>,
    errors: Vec<String>,
}

#[derive(Clone, Default)]
struct Api {
    shared: Arc<Mutex<Shared>>,
    event_ready: Arc<Notify>,
    answer_ready: Arc<Notify>,
}

impl Api {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn next(State(api): State<Api>) -> Response {
    {
        let mut s = api.lock();
        s.first_next.get_or_insert_with(Instant::now);
    }
    loop {
        let notified = api.event_ready.notified();
        let event = {
            let mut s = api.lock();
            let event = s.events.pop_front();
            if event.is_some() {
                s.handed.push(Instant::now());
            }
            event.map(|e| (e, s.handed.len()))
        };
        if let Some((body, n)) = event {
            let mut headers = HeaderMap::new();
            let id = format!("bench-{n}");
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            for (name, value) in [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
                ),
                ("lambda-runtime-trace-id", format!("Root=1-bench-{n}")),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return (StatusCode::OK, headers, body).into_response();
        }
        notified.await;
    }
}

async fn response(State(api): State<Api>) -> StatusCode {
    api.lock().answered.push((Instant::now(), true));
    api.answer_ready.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Api>, body: Bytes) -> StatusCode {
    {
        let mut s = api.lock();
        s.answered.push((Instant::now(), false));
        s.errors.push(String::from_utf8_lossy(&body).into_owned());
    }
    api.answer_ready.notify_waiters();
    StatusCode::ACCEPTED
}

/// What one run of a function binary measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// From exec to the first `next` request: the function's init.
    pub init: Duration,
    /// The first invocation, from handing the event to its answer.
    pub first: Duration,
    /// The later invocations, each from hand-over to answer.
    pub warm: Vec<Duration>,
    /// Peak resident memory of the process (`VmHWM`), in bytes.
    pub peak_rss: u64,
    /// Invocations that answered with an error.
    pub errors: Vec<String>,
}

/// Starts `binary` against a fresh Runtime API and gives it `events` one
/// after another (each when the previous one was answered).
pub async fn run(
    binary: &Path,
    env: &BTreeMap<String, String>,
    events: Vec<Vec<u8>>,
) -> Result<Run, String> {
    let api = Api::default();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let total = events.len();
    let mut events = events.into_iter();
    if let Some(first) = events.next() {
        api.lock().events.push_back(first);
    }
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = 0;
    while answered < total {
        let notified = api.answer_ready.notified();
        let now = api.lock().answered.len();
        if now > answered {
            answered = now;
            if let Some(event) = events.next() {
                api.lock().events.push_back(event);
                api.event_ready.notify_waiters();
            }
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{}: {answered} of {total} invocations answered in 60 s",
                binary.display()
            ));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
    }
    let peak_rss = peak_rss(pid);
    let _ = child.kill().await;
    server.abort();

    let s = api.lock();
    let init = s.first_next.map(|t| t - started).ok_or("no next request")?;
    let spans: Vec<Duration> = s
        .handed
        .iter()
        .zip(&s.answered)
        .map(|(handed, (done, _))| *done - *handed)
        .collect();
    Ok(Run {
        init,
        first: spans.first().copied().unwrap_or_default(),
        warm: spans.iter().skip(1).copied().collect(),
        peak_rss,
        errors: s.errors.clone(),
    })
}

/// `VmHWM` of a live process, in bytes (0 where /proc does not say).
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
