//! `inc listen`: a webhook endpoint on loopback that prints what it receives,
//! so the tour (and a merchant on a laptop) can watch INC deliver.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use crate::Result;

/// Serves until the process is stopped, answering every request `status`.
pub async fn run(addr: SocketAddr, status: StatusCode) -> Result<()> {
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned()
            };
            println!("{method} {uri}  ({})", header("content-type"));
            for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
                println!("  {name}: {}", header(name));
            }
            println!("  {}\n", String::from_utf8_lossy(&body));
            status
        },
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on http://{addr}, answering {status}");
    axum::serve(listener, app).await?;
    Ok(())
}
