//! A campaign as `POST /v1/campaigns` says it, checked, and as stored: its
//! status, its current run, and the moves between statuses that pause,
//! resume and cancel make.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::campaigns::invalid;
use crate::domain::campaigns::recurrence::Recurrence;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::messages::templates::is_valid_name;
use crate::domain::recipients::preferences::{MARKETING, check_category};
use crate::domain::recipients::recipient::check_id;
use crate::error::{Error, Result};

/// Longest name.
pub const MAX_NAME_LEN: usize = 200;
/// Largest `data`, as JSON.
pub const MAX_DATA_LEN: usize = 8 * 1024;
/// The most messages per second a campaign may ask for.
pub const MAX_RATE: u32 = 10_000;
/// How far ahead a campaign may be scheduled.
pub const MAX_AHEAD: chrono::Duration = chrono::Duration::days(366);

const FIELDS: &[&str] = &[
    "id",
    "name",
    "list",
    "channel",
    "template",
    "data",
    "category",
    "send_at",
    "rate",
    "recurrence",
];

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Waiting for its `send_at`, or for its next run.
    Scheduled,
    /// A run is reaching its members.
    Sending,
    /// Stopped by the merchant; resume goes on where it stopped.
    Paused,
    /// Its last run is done.
    Sent,
    /// Stopped for good: nothing not yet queued is sent.
    Canceled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Sent => "sent",
            CampaignStatus::Canceled => "canceled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, CampaignStatus::Sent | CampaignStatus::Canceled)
    }
}

/// The body of `POST /v1/campaigns`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRequest {
    pub id: String,
    pub name: String,
    pub list: String,
    pub channel: CustomerChannel,
    pub template: String,
    /// `data` as JSON text (an object), if any.
    pub data: Option<String>,
    pub category: String,
    pub send_at: Option<DateTime<Utc>>,
    pub rate: Option<u32>,
    pub recurrence: Option<Recurrence>,
    /// What the body said, for the idempotency check of a repeated id.
    pub fingerprint: String,
}

impl CampaignRequest {
    /// Parses a body; every refusal is a `400` naming its field (a channel
    /// INC cannot send a campaign on yet, a `422`).
    pub fn from_json(body: &[u8], now: DateTime<Utc>) -> Result<CampaignRequest> {
        let mut top = crate::domain::json_object(body)?;
        if let Some(key) = top.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::bad_request(
                "unknown_field",
                format!("{key}: unknown field; a campaign has {}", FIELDS.join(", ")),
                Some(key),
            ));
        }
        let fingerprint = {
            let canonical = serde_json::to_string(&top).unwrap_or_default();
            hex::encode(Sha256::digest(canonical.as_bytes()))
        };
        let mut string = |field: &str| match top.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(invalid(field, "must be a string")),
        };
        let id = string("id")?.ok_or_else(|| invalid("id", "is required"))?;
        let name = string("name")?.ok_or_else(|| invalid("name", "is required"))?;
        let list =
            string("list")?.ok_or_else(|| invalid("list", "is required: the id of a list"))?;
        let channel = string("channel")?.ok_or_else(|| invalid("channel", "is required"))?;
        let template = string("template")?.ok_or_else(|| {
            invalid(
                "template",
                "is required: the name of a template of the channel",
            )
        })?;
        let category = string("category")?.unwrap_or_else(|| MARKETING.to_owned());
        let send_at = string("send_at")?;
        check_id(&id, "id")?;
        check_id(&list, "list")?;
        if name.trim().is_empty()
            || name.chars().count() > MAX_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(invalid(
                "name",
                &format!("must be 1 to {MAX_NAME_LEN} printable characters"),
            ));
        }
        let channel = CustomerChannel::any_from_field("channel", &channel)?;
        if !is_valid_name(&template) {
            return Err(invalid(
                "template",
                "must be a template name such as spring_offer",
            ));
        }
        check_category(&category, "category")?;
        let data = match top.remove("data") {
            None | Some(Value::Null) => None,
            Some(data @ Value::Object(_)) => {
                let text = data.to_string();
                if text.len() > MAX_DATA_LEN {
                    return Err(invalid(
                        "data",
                        &format!("must be at most {MAX_DATA_LEN} bytes as JSON"),
                    ));
                }
                Some(text)
            }
            Some(_) => return Err(invalid("data", "must be an object")),
        };
        let rate = match top.remove("rate") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64().and_then(|r| u32::try_from(r).ok()) {
                Some(r) if (1..=MAX_RATE).contains(&r) => Some(r),
                _ => {
                    return Err(invalid(
                        "rate",
                        &format!("must be a whole number of messages per second, 1 to {MAX_RATE}"),
                    ));
                }
            },
            Some(_) => return Err(invalid("rate", "must be a number of messages per second")),
        };
        let recurrence = match top.remove("recurrence") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Recurrence::from_value(v)?),
        };
        let send_at = send_at
            .map(|t| crate::domain::parse_time("invalid_field", "send_at", &t))
            .transpose()?;
        if send_at.is_some_and(|t| t > now + MAX_AHEAD) {
            return Err(invalid("send_at", "must be at most 366 days ahead"));
        }
        Ok(CampaignRequest {
            id,
            name,
            list,
            channel,
            template,
            data,
            category,
            send_at,
            rate,
            recurrence,
            fingerprint,
        })
    }

    /// When its first run starts: its `send_at` (now if none or past),
    /// or, with a recurrence, the first occurrence from then.
    pub fn first_run_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.send_at.unwrap_or(now).max(now);
        match &self.recurrence {
            Some(r) => r.next(self.send_at.unwrap_or(now), start),
            None => Some(start),
        }
    }

    /// The data templates read: the campaign's `data` (an object).
    pub fn data_value(&self) -> Value {
        data_value(self.data.as_deref())
    }
}

fn data_value(data: Option<&str>) -> Value {
    data.and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub account_id: String,
    pub campaign_id: String,
    pub name: String,
    pub list_id: String,
    pub channel: CustomerChannel,
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    /// When the merchant asked it to start (its recurrence counts from here).
    pub start_at: DateTime<Utc>,
    pub fingerprint: String,
    pub status: CampaignStatus,
    /// The current (or last) run: 0 before the first.
    #[serde(default)]
    pub run: u32,
    /// When the next run starts, while one is to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write, each conditional on the version read.
    #[serde(default)]
    pub version: u64,
}

impl Campaign {
    /// The campaign a request makes: scheduled for its first run (which the
    /// caller starts at once when it is due now).
    pub fn create(account_id: &str, request: &CampaignRequest, now: DateTime<Utc>) -> Campaign {
        let next = request.first_run_at(now);
        Campaign {
            account_id: account_id.to_owned(),
            campaign_id: request.id.clone(),
            name: request.name.clone(),
            list_id: request.list.clone(),
            channel: request.channel,
            template: request.template.clone(),
            data: request.data.clone(),
            category: request.category.clone(),
            rate: request.rate,
            recurrence: request.recurrence.clone(),
            start_at: request.send_at.unwrap_or(now),
            fingerprint: request.fingerprint.clone(),
            status: match next {
                Some(_) => CampaignStatus::Scheduled,
                // A recurrence with no occurrence left.
                None => CampaignStatus::Sent,
            },
            run: 0,
            next_run_at: next,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether its next run is due at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.status == CampaignStatus::Scheduled && self.next_run_at.is_some_and(|at| at <= now)
    }

    /// The run after one that started at `started`, by its recurrence.
    pub fn run_after(&self, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let recurrence = self.recurrence.as_ref()?;
        recurrence.next(self.start_at, started + chrono::Duration::seconds(1))
    }

    pub fn data_value(&self) -> Value {
        data_value(self.data.as_deref())
    }

    /// How the API shows it, with the counts of its current run.
    pub fn view(&self, run: Option<&crate::domain::campaigns::run::Run>) -> Value {
        let counts = run.map(|r| r.counts).unwrap_or_default();
        json!({
            "id": self.campaign_id,
            "name": self.name,
            "list": self.list_id,
            "channel": self.channel,
            "template": self.template,
            "data": self.data_value(),
            "category": self.category,
            "rate": self.rate,
            "recurrence": self.recurrence,
            "status": self.status,
            "run": self.run,
            "counts": counts,
            "started_at": run.map(|r| r.started_at),
            "finished_at": run.and_then(|r| r.finished_at),
            "next_run_at": self.next_run_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// What the merchant asks of a campaign after its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

impl Control {
    /// The status `control` moves a campaign in `status` to (`between_runs`:
    /// no run is active, as between a recurring campaign's runs); a `409`
    /// when it cannot.
    pub fn apply(self, status: CampaignStatus, between_runs: bool) -> Result<CampaignStatus> {
        use CampaignStatus::*;
        let next = match (self, status) {
            (Control::Pause, Sending | Scheduled) => Some(Paused),
            (Control::Pause, Paused) => Some(Paused),
            (Control::Resume, Paused) if between_runs => Some(Scheduled),
            (Control::Resume, Paused) => Some(Sending),
            (Control::Resume, Sending | Scheduled) => Some(status),
            (Control::Cancel, Scheduled | Sending | Paused | Canceled) => Some(Canceled),
            _ => None,
        };
        next.ok_or_else(|| Error::Conflict {
            code: "campaign_not_changeable",
            message: format!(
                "this campaign is {}; it cannot be {} now",
                status.as_str(),
                match self {
                    Control::Pause => "paused",
                    Control::Resume => "resumed",
                    Control::Cancel => "canceled",
                }
            )
            .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<CampaignRequest> {
        CampaignRequest::from_json(body.to_string().as_bytes(), Utc::now())
    }

    #[test]
    fn a_campaign_parses_with_its_defaults() {
        let r = request(
            json!({"id": "spring-1", "name": "Spring", "list": "vip", "channel": "sms",
            "template": "spring_offer", "data": {"discount": 20}, "rate": 100}),
        )
        .expect("valid");
        assert_eq!(r.category, "marketing");
        assert_eq!(r.rate, Some(100));
        assert_eq!(r.data_value()["discount"], 20);
        let now = Utc::now();
        assert_eq!(r.first_run_at(now), Some(now));
        let c = Campaign::create("acc", &r, now);
        assert!(c.due(now));
        assert_eq!(c.status, CampaignStatus::Scheduled);
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = json!({"id": "c", "name": "n", "list": "l", "channel": "sms", "template": "t"});
        for (field, value, named) in [
            ("id", json!("a b"), "id"),
            ("list", json!(""), "list"),
            ("channel", json!("fax"), "channel"),
            ("template", json!("not a name"), "template"),
            ("category", json!("Promo"), "category"),
            ("rate", json!(0), "rate"),
            ("rate", json!("fast"), "rate"),
            ("data", json!([1]), "data"),
            ("send_at", json!("tomorrow"), "send_at"),
            (
                "recurrence",
                json!({"rrule": "FREQ=DAILY"}),
                "recurrence.timezone",
            ),
            ("colour", json!("red"), "colour"),
        ] {
            let mut body = base.clone();
            body[field] = value;
            let e = request(body.clone()).expect_err("refused");
            assert_eq!(e.field(), Some(named), "{body}");
        }
        for channel in ["push", "in_app"] {
            let mut apps = base.clone();
            apps["channel"] = json!(channel);
            assert!(
                request(apps).is_ok(),
                "{channel} campaigns reach apps (contract 14)"
            );
        }
    }

    #[test]
    fn controls_move_statuses_or_say_why_not() {
        use CampaignStatus::*;
        assert_eq!(Control::Pause.apply(Sending, false).ok(), Some(Paused));
        assert_eq!(Control::Resume.apply(Paused, false).ok(), Some(Sending));
        assert_eq!(Control::Resume.apply(Paused, true).ok(), Some(Scheduled));
        assert_eq!(Control::Cancel.apply(Paused, false).ok(), Some(Canceled));
        assert_eq!(
            Control::Cancel.apply(Canceled, false).ok(),
            Some(Canceled),
            "twice is the same"
        );
        assert_eq!(
            Control::Pause.apply(Sent, true).expect_err("done").status(),
            409
        );
        assert_eq!(
            Control::Resume
                .apply(Canceled, true)
                .expect_err("done")
                .status(),
            409
        );
    }
}
