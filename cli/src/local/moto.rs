//! moto in server mode: the local AWS endpoint.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::{Error, Result};

/// A running moto server; stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    _child: Child,
}

/// Where moto's launcher is: `INC_MOTO_SERVER`, else the project's venv
/// (`make` installs it there), else `PATH`.
pub fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("INC_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    for root in [
        std::env::current_dir().ok(),
        Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))),
    ]
    .into_iter()
    .flatten()
    {
        let candidate = root.join(".venv/moto/bin/moto_server");
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from("moto_server")
}

/// The launcher that runs moto with its DynamoDB backend isolated (see
/// `moto_isolated.py`), and the Python of moto's own venv to run it with;
/// `None` when moto's launcher is not in a venv beside its Python.
fn isolated_launcher(moto_server: &std::path::Path) -> Result<Option<(PathBuf, PathBuf)>> {
    let Some(python) = moto_server
        .parent()
        .map(|bin| bin.join("python"))
        .filter(|p| p.exists())
    else {
        return Ok(None);
    };
    let script = include_str!("moto_isolated.py");
    let launcher = std::env::temp_dir().join(format!(
        "inc-moto-isolated-{:016x}.py",
        script
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b))
                .wrapping_mul(0x0100_0000_01b3))
    ));
    if !launcher.exists() {
        // Written whole under another name first, so that two stacks
        // starting at once never run half a file.
        let partial = launcher.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&partial, script)?;
        std::fs::rename(&partial, &launcher)?;
    }
    Ok(Some((python, launcher)))
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Moto {
    /// Starts moto on `port` (a free one if `None`) and waits until it
    /// answers.
    pub async fn start(port: Option<u16>) -> Result<Moto> {
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let path = moto_server_path();
        let mut command = match isolated_launcher(&path)? {
            Some((python, launcher)) => {
                let mut c = Command::new(python);
                c.arg(launcher);
                c
            }
            None => Command::new(&path),
        };
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Moto(format!(
                    "cannot start {} ({e}); run `make dev` or `scripts/install-tools.sh moto` to install it",
                    path.display()
                ))
            })?;
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _child: child,
        };
        moto.wait_ready(Duration::from_secs(60)).await?;
        Ok(moto)
    }

    async fn wait_ready(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let addr = format!("127.0.0.1:{}", self.port);
        loop {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Moto(format!(
                    "moto did not answer on {addr} within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
