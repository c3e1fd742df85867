//! Campaigns (contract section 13), the parts that run on their own: the
//! fan-out of a run's list ([`fanout`], the SQS-triggered handler of this
//! function), a run's start ([`start`]: by the API for a campaign due now,
//! by the sweeper for a scheduled one or the next run of a recurring one),
//! a run's end with its `campaign.finished` ([`finish`]: by the fan-out,
//! deliver and the sweeper, whichever sees it done first), and the
//! replies to campaign messages ([`replies`], from the receipt routes).
//! The rules are in `inc_shared::domain::campaigns`, the writes in the
//! store's `campaigns` and `campaign_runs`.

use aws_config::SdkConfig;

use inc_shared::emit::Emitter;
use inc_shared::queue::Queue;
use inc_shared::store::Store;
use inc_shared::{Config, Result};

pub mod fanout;
pub mod finish;
pub mod replies;
pub mod start;

pub struct Campaigns {
    store: Store,
    queue: Queue,
    /// Where a run's pages go.
    fanout_url: String,
    /// Where campaign messages go.
    campaign_url: String,
    emitter: Emitter,
    /// Members per page of the fan-out.
    page_size: usize,
}

impl Campaigns {
    pub fn new(sdk: &SdkConfig, config: &Config) -> Result<Campaigns> {
        let store = Store::for_config(aws_sdk_dynamodb::Client::new(sdk), config);
        Campaigns::with(store, Queue::new(aws_sdk_sqs::Client::new(sdk)), config)
    }

    /// With the store and queue of the function that holds it (api,
    /// deliver, sweeper), whose SDK clients are then built once: each costs
    /// about 0.1 ms of init.
    pub fn with(store: Store, queue: Queue, config: &Config) -> Result<Campaigns> {
        Ok(Campaigns {
            emitter: Emitter::new(
                store.clone(),
                queue.clone(),
                config.delivery_queue()?.to_owned(),
            ),
            fanout_url: config.fanout_queue()?.to_owned(),
            campaign_url: config.campaign_queue()?.to_owned(),
            page_size: config.fanout_page_size,
            store,
            queue,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
