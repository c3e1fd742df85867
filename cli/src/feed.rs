//! `inc feed`: opens a recipient's in-app feed socket as an app would
//! (contract 14) and prints each frame as it arrives — what the tour uses
//! to watch items and reads go by live.

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::{Error, Result};

/// Prints each frame of the socket at `ws_url` opened with `token`, until
/// it closes (or `frames` have arrived, when given).
pub async fn watch(ws_url: &str, token: &str, frames: Option<usize>) -> Result<()> {
    let url = format!("{}/?token={token}", ws_url.trim_end_matches('/'));
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => Error::Api(format!(
                "the socket was refused ({}): is the token a recipient token, and unexpired?",
                r.status()
            )),
            other => Error::Api(format!("cannot open {ws_url}: {other}")),
        })?;
    eprintln!("listening to the feed (Ctrl-C stops)…");
    let mut seen = 0;
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => {
                println!("{text}");
                seen += 1;
                if frames.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => return Err(Error::Api(format!("the socket failed: {e}"))),
        }
    }
    Ok(())
}
