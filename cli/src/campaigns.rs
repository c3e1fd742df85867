//! `inc campaigns create|status`: a campaign sent and watched from the
//! terminal, through the API as any client would — `status --watch` draws
//! its run's progress (the members whose message ended, of the list's) and
//! its live counts until the run is over.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::api::{Client, Target};
use crate::{Error, Result};

/// How often `--watch` asks.
const POLL: Duration = Duration::from_millis(500);

/// What `inc campaigns create` says.
pub struct Create {
    pub id: String,
    pub name: String,
    pub list: String,
    pub channel: String,
    pub template: String,
    /// `data`, as JSON text.
    pub data: Option<String>,
    pub category: Option<String>,
    pub rate: Option<u32>,
    pub send_at: Option<String>,
}

/// Creates a campaign; answers `{"id", "status"}`.
pub async fn create(target: &Target, c: &Create) -> Result<Value> {
    let mut body = json!({"id": c.id, "name": c.name, "list": c.list, "channel": c.channel, "template": c.template});
    if let Some(data) = &c.data {
        body["data"] = serde_json::from_str(data)
            .map_err(|e| Error::Api(format!("--data is not JSON: {e}")))?;
    }
    for (field, value) in [("category", &c.category), ("send_at", &c.send_at)] {
        if let Some(v) = value {
            body[field] = json!(v);
        }
    }
    if let Some(rate) = c.rate {
        body["rate"] = json!(rate);
    }
    Client::new(target)?
        .send(reqwest::Method::POST, "/v1/campaigns", Some(body))
        .await
}

/// A campaign as the API shows it.
pub async fn status(target: &Target, id: &str) -> Result<Value> {
    Client::new(target)?
        .send(reqwest::Method::GET, &format!("/v1/campaigns/{id}"), None)
        .await
}

/// One line of counts.
pub fn counts_line(campaign: &Value) -> String {
    let c = &campaign["counts"];
    let n = |k: &str| c[k].as_i64().unwrap_or(0);
    format!(
        "{} — members {}, queued {}, sent {}, delivered {}, failed {}, suppressed {}, skipped {}, replied {}",
        campaign["status"].as_str().unwrap_or("?"),
        n("members"),
        n("queued"),
        n("sent"),
        n("delivered"),
        n("failed"),
        n("suppressed"),
        n("skipped"),
        n("replied"),
    )
}

/// Whether the campaign's current run is over (nothing more will change but
/// receipts and replies).
fn settled(campaign: &Value) -> bool {
    matches!(
        campaign["status"].as_str(),
        Some("sent" | "canceled" | "paused" | "scheduled")
    ) && campaign["counts"]["queued"].as_i64().unwrap_or(0) == 0
}

/// Draws the campaign's progress until its run is over; answers it then.
pub async fn watch(target: &Target, id: &str) -> Result<Value> {
    let client = Client::new(target)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} members  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let campaign = client
            .send(reqwest::Method::GET, &format!("/v1/campaigns/{id}"), None)
            .await?;
        let runs = client
            .send(
                reqwest::Method::GET,
                &format!("/v1/campaigns/{id}/runs"),
                None,
            )
            .await?;
        let c = &campaign["counts"];
        let ended = ["sent", "failed", "suppressed", "skipped", "canceled"]
            .iter()
            .map(|k| c[k].as_u64().unwrap_or(0))
            .sum::<u64>();
        let total = runs["items"][0]["list_members"]
            .as_u64()
            .unwrap_or(0)
            .max(ended);
        bar.set_length(total);
        bar.set_position(ended);
        bar.set_message(counts_line(&campaign));
        if settled(&campaign) {
            bar.finish_and_clear();
            return Ok(campaign);
        }
        tokio::time::sleep(POLL).await;
    }
}
