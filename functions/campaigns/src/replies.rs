//! Replies (contract section 13): an inbound SMS or WhatsApp message is
//! linked to the latest message INC sent to its sender (through the
//! notifications' `ByAddress` index, within 30 days), recorded once — with
//! its campaign run's `replied` count, when it answers a campaign — and
//! emitted as `message.replied` to the endpoints that want it. A report
//! the provider repeats is the same reply: recorded and emitted once.

use inc_shared::Result;
use inc_shared::domain::campaigns::replies::{Inbound, REPLIED, Reply};
use inc_shared::domain::messages::suppression;

use crate::Campaigns;

impl Campaigns {
    /// Records and emits one inbound message of `account_id`.
    pub async fn reply(&self, account_id: &str, inbound: &Inbound) -> Result<Reply> {
        let from = suppression::normalize(inbound.channel, &inbound.from);
        let answered = self
            .store
            .latest_message_to(account_id, inbound.channel, &from)
            .await?;
        let inbound = Inbound {
            from,
            ..inbound.clone()
        };
        let reply = Reply::link(account_id, &inbound, answered.as_ref());
        if self.store.record_reply(&reply).await? {
            tracing::info!(account_id, reply_id = %reply.reply_id, campaign_id = reply.campaign_id.as_deref(),
                channel = reply.channel.as_str(), "reply recorded");
        }
        // Emitted after it is recorded; again on a repeated report, once.
        self.emitter
            .emit(account_id, &reply.reply_id, REPLIED, reply.view())
            .await?;
        Ok(reply)
    }
}
