//! The schedule runner: each `Schedule` event of the template fires its
//! function at the template's rate, as EventBridge would (the first tick
//! one period after start). A tick that is still running when the next is
//! due is not overlapped: the next waits, as the sweeper's reserved
//! concurrency of one makes Lambda do.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::{Error, Result};
use inc_shared::Config;

/// The handler of a scheduled function, by its binary's name.
pub enum ScheduledHandler {
    Sweeper(inc_sweeper::Sweeper),
}

impl ScheduledHandler {
    pub fn new(binary: &str, sdk: &SdkConfig, config: &Config) -> Result<ScheduledHandler> {
        match binary {
            "sweeper" => Ok(ScheduledHandler::Sweeper(inc_sweeper::Sweeper::new(
                sdk, config,
            )?)),
            other => Err(Error::Template(format!(
                "the local stack has no scheduled handler for binary `{other}`"
            ))),
        }
    }

    /// One tick.
    pub async fn fire(&self) {
        match self {
            ScheduledHandler::Sweeper(s) => {
                if let Err(e) = s.sweep(chrono::Utc::now()).await {
                    tracing::warn!(%e, "the sweeper failed; the next tick sweeps again");
                }
            }
        }
    }
}

/// One schedule: a handler and its period.
#[derive(Clone)]
pub struct Schedule {
    pub handler: Arc<ScheduledHandler>,
    pub every: Duration,
}

impl Schedule {
    pub async fn run(self) {
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.handler.fire().await;
        }
    }
}
