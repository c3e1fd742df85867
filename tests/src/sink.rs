//! A merchant's endpoint (or a provider) on loopback: it records what it
//! receives and answers from a script.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

use crate::{PATIENCE, eventually};

/// One request a sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When the request's head arrived.
    pub at: Instant,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    /// What to answer, in order; 200 at once when it runs out.
    script: VecDeque<Answer>,
}

/// One answer of a [`Sink`].
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// How long the endpoint takes to answer (a slow endpoint).
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

/// A merchant's endpoint on loopback that records what it receives.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    state: Arc<Mutex<SinkState>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

impl Sink {
    pub async fn start() -> Sink {
        Sink::answering(&[]).await
    }

    /// A sink that answers these statuses first, then 200.
    pub async fn answering(script: &[u16]) -> Sink {
        let script: Vec<(u16, Option<u64>)> = script.iter().map(|&code| (code, None)).collect();
        Sink::answering_with(&script).await
    }

    /// A sink that answers these statuses, each with an optional
    /// `Retry-After`, first, then 200.
    pub async fn answering_with(script: &[(u16, Option<u64>)]) -> Sink {
        let script: Vec<Answer> = script
            .iter()
            .map(|&(status, retry_after)| Answer {
                retry_after,
                ..Answer::status(status)
            })
            .collect();
        Sink::scripted(&script).await
    }

    /// A sink that gives these answers first, then 200 at once.
    pub async fn scripted(script: &[Answer]) -> Sink {
        Sink::scripted_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    /// [`scripted`](Self::scripted), listening on `addr`.
    pub async fn scripted_on(addr: SocketAddr, script: &[Answer]) -> Sink {
        let state = Arc::new(Mutex::new(SinkState {
            received: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let app = Router::new()
            .fallback(
                |State(state): State<Arc<Mutex<SinkState>>>,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let path = uri.path().to_owned();
                    let (answer, count) = {
                        let mut s = state.lock().expect("sink lock");
                        s.received.push(Received {
                            at: Instant::now(),
                            path: uri.path().to_owned(),
                            headers: headers
                                .iter()
                                .map(|(k, v)| {
                                    (
                                        k.as_str().to_owned(),
                                        v.to_str().unwrap_or_default().to_owned(),
                                    )
                                })
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let answer = s.script.pop_front().unwrap_or(Answer::status(200));
                        (answer, s.received.len())
                    };
                    // The endpoint's own slowness, not synchronisation.
                    tokio::time::sleep(answer.delay).await;
                    let mut headers = HeaderMap::new();
                    if let Some(secs) = answer.retry_after {
                        headers.insert("retry-after", secs.into());
                    }
                    // As the WhatsApp Cloud API answers a send: the message's id,
                    // which its receipts name (`wamid.<n>`, n counting requests).
                    let body = match path.ends_with("/messages") && answer.status < 300 {
                        true => format!(
                            r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"x","wa_id":"x"}}],"messages":[{{"id":"wamid.{count}"}}]}}"#
                        ),
                        false => String::new(),
                    };
                    (
                        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
                        headers,
                        body,
                    )
                },
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            addr,
            state,
            _server: Arc::new(server),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/ipn", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("sink lock").received.clone()
    }

    /// Waits until the sink has received at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} webhook(s) at the sink"), PATIENCE, || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}
