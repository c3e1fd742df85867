//! A TCP proxy between INC and the local AWS endpoint that can cut every
//! connection and refuse new ones, then let them through again: moto keeps
//! its state only in memory, so the network is cut rather than the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
struct State {
    cut: AtomicBool,
    /// Requests containing a rule's text close their connection unanswered,
    /// once the rule has let its first `pass` such requests through.
    refused: Mutex<Vec<Rule>>,
    connections: Mutex<Vec<AbortHandle>>,
    /// Requests seen, by their `X-Amz-Target` (`DynamoDB_20120810.GetItem`).
    calls: Mutex<std::collections::BTreeMap<String, usize>>,
}

struct Rule {
    text: String,
    pass: usize,
    /// How many matching requests it refuses before letting them through
    /// again (`None`: until [`Proxy::restore`]).
    times: Option<usize>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forwards every connection to `target` until [`cut`](Self::cut).
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if shared.cut.load(Ordering::SeqCst) {
                    drop(inbound); // The client sees the connection close.
                    continue;
                }
                let state = shared.clone();
                let task = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        forward(inbound, outbound, state).await;
                    }
                });
                let mut connections = shared.connections.lock().expect("proxy lock");
                connections.retain(|c| !c.is_finished());
                connections.push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            state,
            accept,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for c in self.state.connections.lock().expect("proxy lock").drain(..) {
            c.abort();
        }
    }

    /// Lets connections through again (and every request).
    pub fn restore(&self) {
        self.state.refused.lock().expect("proxy lock").clear();
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Closes, unanswered, the connection of any request that contains
    /// `text` — such as `AmazonSQS.SendMessageBatch` in its `X-Amz-Target`
    /// header, to take SQS down while DynamoDB stays up.
    pub fn refuse(&self, text: &str) {
        self.refuse_after(text, 0);
    }

    /// How many requests of each `X-Amz-Target` went through since the
    /// last call, and starts counting afresh.
    pub fn take_calls(&self) -> std::collections::BTreeMap<String, usize> {
        std::mem::take(&mut *self.state.calls.lock().expect("proxy lock"))
    }

    /// Like [`refuse`](Self::refuse), beside any rule already set, but
    /// lets the first `pass` matching requests through: to fail the second
    /// `UpdateItem` of a path (its undo) and not the first.
    pub fn refuse_after(&self, text: &str, pass: usize) {
        self.state.refused.lock().expect("proxy lock").push(Rule {
            text: text.to_owned(),
            pass,
            times: None,
        });
    }

    /// Refuses the next `times` requests that contain `text`, then lets
    /// them through: a dependency failing for a moment (a throttle, a
    /// blip), beside any rule already set.
    pub fn refuse_next(&self, text: &str, times: usize) {
        self.state.refused.lock().expect("proxy lock").push(Rule {
            text: text.to_owned(),
            pass: 0,
            times: Some(times),
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Copies both ways, looking at what the client sends for a refused request.
async fn forward(inbound: TcpStream, outbound: TcpStream, state: Arc<State>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(target) = amz_target(&buf[..n]) {
                *state
                    .calls
                    .lock()
                    .expect("proxy lock")
                    .entry(target)
                    .or_default() += 1;
            }
            let refuse = {
                let mut rules = state.refused.lock().expect("proxy lock");
                rules.iter_mut().any(|rule| {
                    let text = rule.text.as_bytes();
                    if !buf[..n].windows(text.len()).any(|w| w == text) {
                        return false;
                    }
                    match (rule.pass, rule.times) {
                        (0, None) => true,
                        (0, Some(0)) => false,
                        (0, Some(left)) => {
                            rule.times = Some(left - 1);
                            true
                        }
                        _ => {
                            rule.pass -= 1;
                            false
                        }
                    }
                })
            };
            if refuse {
                return;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
    // Whichever way ends first ends the connection.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// The `X-Amz-Target` header of a request whose head is in `bytes`.
fn amz_target(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-amz-target")
            .then(|| value.trim().to_owned())
    })
}
