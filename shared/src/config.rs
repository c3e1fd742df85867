//! What a function reads from its environment — once, at init, so that a
//! missing or bad setting stops the function at start-up with a clear error
//! rather than at its first request.
//!
//! The names are the same on Lambda (set by `template.yaml`) and in the local
//! stack (which reads them from the same template).

use std::time::Duration;

use crate::domain::{EndpointPolicy, RetrySchedule};
use crate::error::{Error, Result};

/// The DynamoDB tables, by the names the template gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// Accounts, their settings and signing secret (`account_id`).
    pub accounts: String,
    /// API key hashes (`key_hash` → `account_id`).
    pub api_keys: String,
    /// Accepted events, for idempotency (`account_id`, `event_id`).
    pub events: String,
    /// The notification log (`account_id`, `notification_id`).
    pub notifications: String,
    /// Payments (`account_id`, `session_id`; index `ByOrderNo`).
    pub transactions: String,
    /// Endpoints (`account_id`, `endpoint_id`).
    pub endpoints: String,
    /// The declared event types (`account_id`, `event_type`).
    pub event_types: String,
    /// Endpoint statistics by hour (`endpoint_key`, `hour`; TTL `expires_at`).
    pub endpoint_stats: String,
    /// Opt-outs (`account_id`, `recipient` = `channel#to`).
    pub suppressions: String,
    /// Message templates (`account_id`, `template_key` = `channel#name`).
    pub templates: String,
    /// Direct messages by their idempotency id (`account_id`, `message_id`).
    pub messages: String,
    /// Recipients (`account_id`, `recipient_id`), their preferences on the item.
    pub recipients: String,
    /// Lists (`account_id`, `list_id`), each with its exact `member_count`.
    pub lists: String,
    /// List members (`shard_key` = `account#list#NN`, `recipient_id`).
    pub list_members: String,
    /// Campaigns (`account_id`, `campaign_id`; index `ByDue`).
    pub campaigns: String,
    /// Campaign runs, their fan-out shards and counters (`run_key`, `part`;
    /// index `ByDue`).
    pub campaign_runs: String,
    /// Replies to campaign messages and their claims (`reply_key`, `reply_sort`).
    pub replies: String,
    /// Recipients' devices (`device_key` = `account#recipient`, `token`).
    pub devices: String,
    /// In-app feeds and their unread counts (`feed_key`, `item_id`).
    pub feed: String,
    /// Open feed sockets (`conn_key`, `connection_id`).
    pub connections: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    /// Where ingest queues notifications and deliver reads them.
    pub delivery_queue_url: Option<String>,
    /// Where campaign messages are queued (deliver reads it too, beside the
    /// delivery queue, with a concurrency of its own).
    pub campaign_queue_url: Option<String>,
    /// Where a campaign's fan-out pages are queued.
    pub fanout_queue_url: Option<String>,
    /// Where deliver puts notifications it has given up on.
    pub dead_letter_queue_url: Option<String>,
    /// Where Lambda keeps the SES events the receipts function failed.
    pub receipts_dead_letter_queue_url: Option<String>,
    pub retry: RetrySchedule,
    /// The delivery queue's `maxReceiveCount`: the attempt that reaches it is
    /// the last, whatever the schedule says.
    pub max_receive_count: u32,
    pub endpoint_policy: EndpointPolicy,
    pub webhook_timeout: Duration,
    /// How long past its due time a pending notification waits before the
    /// sweeper takes its message for lost (`INC_SWEEP_GRACE_SECS`).
    pub sweep_grace: Duration,
    /// How long before its `send_at` a scheduled message goes on the queue
    /// with an SQS delay (`INC_SCHEDULE_LEAD_SECS`, 1 to 840: SQS delays
    /// 900 s at most, and the sweeper needs a period of margin).
    pub schedule_lead: Duration,
    /// How long an endpoint may fail with no 2xx before it is disabled
    /// (`INC_ENDPOINT_DISABLE_AFTER_SECS`, 5 days by default).
    pub endpoint_disable_after: Duration,
    /// Members per page of a campaign's fan-out (`INC_FANOUT_PAGE_SIZE`,
    /// 1 to 98).
    pub fanout_page_size: usize,
    /// The SES configuration set emails are sent with, which publishes
    /// their receipts (`INC_SES_CONFIGURATION_SET`; none: no email receipts).
    pub ses_configuration_set: Option<String>,
    /// Where frames are posted to the in-app feed's sockets: the WebSocket
    /// API's `@connections` endpoint, made of its endpoint
    /// (`INC_WS_ENDPOINT`, `wss://…`) and stage (`INC_WS_STAGE`). None: no
    /// frames are sent (the feed still holds every item).
    pub websocket_management_url: Option<String>,
    /// Where apps open that API's sockets (`wss://…/live`): what the feed
    /// demo page connects to.
    pub websocket_url: Option<String>,
}

/// Where clients open a WebSocket API's sockets: its endpoint and stage.
pub fn socket_url(endpoint: &str, stage: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    match stage.trim_matches('/') {
        "" => endpoint.to_owned(),
        stage => format!("{endpoint}/{stage}"),
    }
}

/// The `@connections` endpoint of a WebSocket API: `https://` for its
/// `wss://` (`http://` for a local `ws://`), with its stage.
pub fn management_url(endpoint: &str, stage: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    let base = match endpoint.split_once("://") {
        Some(("wss", rest)) => format!("https://{rest}"),
        Some(("ws", rest)) => format!("http://{rest}"),
        _ => endpoint.to_owned(),
    };
    match stage.trim_matches('/') {
        "" => base,
        stage => format!("{base}/{stage}"),
    }
}

impl Tables {
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Tables> {
        Ok(Tables {
            accounts: required(get, "INC_ACCOUNTS_TABLE")?,
            api_keys: required(get, "INC_API_KEYS_TABLE")?,
            events: required(get, "INC_EVENTS_TABLE")?,
            notifications: required(get, "INC_NOTIFICATIONS_TABLE")?,
            transactions: required(get, "INC_TRANSACTIONS_TABLE")?,
            endpoints: required(get, "INC_ENDPOINTS_TABLE")?,
            event_types: required(get, "INC_EVENT_TYPES_TABLE")?,
            endpoint_stats: required(get, "INC_ENDPOINT_STATS_TABLE")?,
            suppressions: required(get, "INC_SUPPRESSIONS_TABLE")?,
            templates: required(get, "INC_TEMPLATES_TABLE")?,
            messages: required(get, "INC_MESSAGES_TABLE")?,
            recipients: required(get, "INC_RECIPIENTS_TABLE")?,
            lists: required(get, "INC_LISTS_TABLE")?,
            list_members: required(get, "INC_LIST_MEMBERS_TABLE")?,
            campaigns: required(get, "INC_CAMPAIGNS_TABLE")?,
            campaign_runs: required(get, "INC_CAMPAIGN_RUNS_TABLE")?,
            replies: required(get, "INC_REPLIES_TABLE")?,
            devices: required(get, "INC_DEVICES_TABLE")?,
            feed: required(get, "INC_FEED_TABLE")?,
            connections: required(get, "INC_CONNECTIONS_TABLE")?,
        })
    }

    pub fn from_env() -> Result<Tables> {
        Tables::from_lookup(&|k| std::env::var(k).ok())
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (the process environment on
    /// Lambda, the template's variables in the local stack).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let retry = match get("INC_RETRY_SCHEDULE") {
            Some(spec) => RetrySchedule::parse(&spec)?,
            None => RetrySchedule::default(),
        };
        let floor = number(&get, "INC_RETRY_FLOOR_SECS", 30)?;
        let retry = retry.with_floor(Duration::from_secs(floor.into()));
        let max_receive_count = number(&get, "INC_MAX_RECEIVE_COUNT", 20)?;
        let needed = retry.receives_needed();
        if max_receive_count < needed {
            return Err(Error::Config(format!(
                "INC_MAX_RECEIVE_COUNT is {max_receive_count}, but the retry schedule needs {needed} receives of a message \
                 (one per attempt, plus one per 12 h of a longer wait): raise the queue's maxReceiveCount or shorten INC_RETRY_SCHEDULE"
            )));
        }
        let allow_private = match get("INC_ALLOW_PRIVATE_ENDPOINTS").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(Error::Config(format!(
                    "INC_ALLOW_PRIVATE_ENDPOINTS must be true or false, not `{other}`"
                )));
            }
        };
        let timeout = number(&get, "INC_WEBHOOK_TIMEOUT_SECS", 15)?;
        if !(1..=60).contains(&timeout) {
            return Err(Error::Config(
                "INC_WEBHOOK_TIMEOUT_SECS must be 1 to 60".into(),
            ));
        }
        let lead = number(&get, "INC_SCHEDULE_LEAD_SECS", 600)?;
        if !(1..=840).contains(&lead) {
            return Err(Error::Config(
                "INC_SCHEDULE_LEAD_SECS must be 1 to 840".into(),
            ));
        }
        let page = number(&get, "INC_FANOUT_PAGE_SIZE", 98)?;
        if !(1..=98).contains(&page) {
            return Err(Error::Config("INC_FANOUT_PAGE_SIZE must be 1 to 98".into()));
        }
        Ok(Config {
            fanout_page_size: usize::try_from(page).unwrap_or(98),
            tables: Tables::from_lookup(&get)?,
            delivery_queue_url: get("INC_DELIVERY_QUEUE_URL"),
            campaign_queue_url: get("INC_CAMPAIGN_QUEUE_URL"),
            fanout_queue_url: get("INC_FANOUT_QUEUE_URL"),
            dead_letter_queue_url: get("INC_DEAD_LETTER_QUEUE_URL"),
            receipts_dead_letter_queue_url: get("INC_RECEIPTS_DEAD_LETTER_QUEUE_URL"),
            retry,
            max_receive_count,
            endpoint_policy: EndpointPolicy { allow_private },
            webhook_timeout: Duration::from_secs(timeout.into()),
            sweep_grace: Duration::from_secs(number(&get, "INC_SWEEP_GRACE_SECS", 360)?.into()),
            schedule_lead: Duration::from_secs(lead.into()),
            endpoint_disable_after: Duration::from_secs(
                number(&get, "INC_ENDPOINT_DISABLE_AFTER_SECS", 432_000)?
                    .max(1)
                    .into(),
            ),
            ses_configuration_set: get("INC_SES_CONFIGURATION_SET"),
            websocket_management_url: get("INC_WS_ENDPOINT")
                .map(|e| management_url(&e, &get("INC_WS_STAGE").unwrap_or_default())),
            websocket_url: get("INC_WS_ENDPOINT")
                .map(|e| socket_url(&e, &get("INC_WS_STAGE").unwrap_or_default())),
        })
    }

    /// The delivery queue, for the functions that need it.
    pub fn delivery_queue(&self) -> Result<&str> {
        self.delivery_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("INC_DELIVERY_QUEUE_URL is not set".into()))
    }

    /// The campaign queue, for the functions that need it.
    pub fn campaign_queue(&self) -> Result<&str> {
        self.campaign_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("INC_CAMPAIGN_QUEUE_URL is not set".into()))
    }

    /// The fan-out queue, for the functions that need it.
    pub fn fanout_queue(&self) -> Result<&str> {
        self.fanout_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("INC_FANOUT_QUEUE_URL is not set".into()))
    }

    /// The receipts function's dead-letter queue, for `inc dlq redrive
    /// --queue receipts`.
    pub fn receipts_dead_letter_queue(&self) -> Result<&str> {
        self.receipts_dead_letter_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("INC_RECEIPTS_DEAD_LETTER_QUEUE_URL is not set".into()))
    }

    /// The dead-letter queue, for the functions that need it.
    pub fn dead_letter_queue(&self) -> Result<&str> {
        self.dead_letter_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("INC_DEAD_LETTER_QUEUE_URL is not set".into()))
    }
}

fn required(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<String> {
    get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::Config(format!("{name} is not set")))
}

fn number(get: &dyn Fn(&str) -> Option<String>, name: &str, default: u32) -> Result<u32> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::Config(format!("{name} must be a whole number, not `{v}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TABLES: [(&str, &str); 20] = [
        ("INC_ACCOUNTS_TABLE", "a"),
        ("INC_API_KEYS_TABLE", "k"),
        ("INC_EVENTS_TABLE", "e"),
        ("INC_NOTIFICATIONS_TABLE", "n"),
        ("INC_TRANSACTIONS_TABLE", "t"),
        ("INC_ENDPOINTS_TABLE", "ep"),
        ("INC_EVENT_TYPES_TABLE", "et"),
        ("INC_ENDPOINT_STATS_TABLE", "es"),
        ("INC_SUPPRESSIONS_TABLE", "su"),
        ("INC_TEMPLATES_TABLE", "tp"),
        ("INC_MESSAGES_TABLE", "ms"),
        ("INC_RECIPIENTS_TABLE", "r"),
        ("INC_LISTS_TABLE", "l"),
        ("INC_LIST_MEMBERS_TABLE", "lm"),
        ("INC_CAMPAIGNS_TABLE", "c"),
        ("INC_CAMPAIGN_RUNS_TABLE", "cr"),
        ("INC_REPLIES_TABLE", "rp"),
        ("INC_DEVICES_TABLE", "dv"),
        ("INC_FEED_TABLE", "fd"),
        ("INC_CONNECTIONS_TABLE", "cn"),
    ];

    #[test]
    fn the_sockets_management_url_is_made_of_the_endpoint_and_stage() {
        assert_eq!(
            management_url("wss://abc.execute-api.eu-west-1.amazonaws.com", "live"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/live"
        );
        assert_eq!(
            management_url("ws://127.0.0.1:3001/", "live"),
            "http://127.0.0.1:3001/live"
        );
        assert_eq!(
            socket_url("ws://127.0.0.1:3001/", "live"),
            "ws://127.0.0.1:3001/live"
        );
    }

    #[test]
    fn defaults_apply_and_required_names_are_named() {
        let c = Config::from_lookup(&lookup(&TABLES)).unwrap();
        assert_eq!(c.retry, RetrySchedule::default());
        assert_eq!(c.max_receive_count, 20);
        assert!(!c.endpoint_policy.allow_private);
        assert!(
            c.delivery_queue()
                .unwrap_err()
                .to_string()
                .contains("INC_DELIVERY_QUEUE_URL")
        );
        let e = Config::from_lookup(&lookup(&TABLES[1..])).unwrap_err();
        assert!(e.to_string().contains("INC_ACCOUNTS_TABLE"), "{e}");
    }

    #[test]
    fn bad_values_stop_the_start() {
        for (k, v) in [
            ("INC_RETRY_SCHEDULE", "soon"),
            ("INC_MAX_RECEIVE_COUNT", "0"),
            // The default schedule's 13 attempts need 13 receives.
            ("INC_MAX_RECEIVE_COUNT", "12"),
            ("INC_RETRY_FLOOR_SECS", "soon"),
            ("INC_ALLOW_PRIVATE_ENDPOINTS", "maybe"),
            ("INC_WEBHOOK_TIMEOUT_SECS", "900"),
            ("INC_SWEEP_GRACE_SECS", "soon"),
            ("INC_SCHEDULE_LEAD_SECS", "900"),
        ] {
            let mut pairs = TABLES.to_vec();
            pairs.push((k, v));
            let e = Config::from_lookup(&lookup(&pairs)).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }
}
