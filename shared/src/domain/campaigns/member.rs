//! What one member of a run gets. Each member's message has an id fixed by
//! the campaign, the run and the member, so that the fan-out claiming it
//! twice (a page handled again after a crash, two workers on one page)
//! makes one message: the second claim finds it there.
//!
//! A member with no address on the channel is `skipped`; one on the opt-out
//! list, or who switched the campaign's category off on the channel, is
//! `suppressed`. Either is stored as a `failed` notification naming why —
//! the history shows every member of a run once — and never queued.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::campaigns::campaign::Campaign;
use crate::domain::campaigns::run::Counts;
use crate::domain::common::channel::CustomerChannel;
use crate::domain::delivery::notification::{Notification, NotificationDraft, Payload, Status};
use crate::domain::messages::suppression::{self, SUPPRESSED};
use crate::domain::messages::templates::Template;
use crate::domain::recipients::preferences::PREFERENCE;
use crate::domain::recipients::recipient::Recipient;

/// The event type a campaign message carries in the history.
pub const CAMPAIGN_EVENT_TYPE: &str = "campaign";
/// The `last_error` of a member with no address on the channel.
pub const NO_ADDRESS: &str = "no_address";

/// What a member of a run gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A message to this address.
    Send { to: String },
    /// Opted out, or its preference is off: the reason.
    Suppressed(&'static str),
    /// No address on the channel.
    Skipped,
}

/// The outcome for `recipient` on `channel` for a message of `category`;
/// `opted_out` says whether its address is on the opt-out list.
pub fn outcome(
    recipient: &Recipient,
    channel: CustomerChannel,
    category: &str,
    opted_out: impl Fn(&str) -> bool,
) -> Outcome {
    outcome_at(
        recipient,
        channel,
        recipient.address(channel),
        category,
        opted_out,
    )
}

/// [`outcome`] at an address found apart: a push campaign's member is
/// reached at its newest device (contract 14), none is `skipped`.
pub fn outcome_at(
    recipient: &Recipient,
    channel: CustomerChannel,
    address: Option<&str>,
    category: &str,
    opted_out: impl Fn(&str) -> bool,
) -> Outcome {
    let Some(address) = address.and_then(|a| suppression::check_recipient(channel, "to", a).ok())
    else {
        return Outcome::Skipped;
    };
    if opted_out(&suppression::key(channel, &address)) {
        return Outcome::Suppressed(SUPPRESSED);
    }
    if !recipient.preferences.allows(category, channel.as_str()) {
        return Outcome::Suppressed(PREFERENCE);
    }
    Outcome::Send { to: address }
}

/// The id of a member's message in a run: a ULID whose time is the run's
/// start (so the history's time filters find a run's messages together)
/// and whose rest is the hash of the campaign, the run and the member.
pub fn notification_id(
    campaign_id: &str,
    run: u32,
    recipient_id: &str,
    started: DateTime<Utc>,
) -> String {
    let digest = Sha256::digest(format!("{campaign_id}\n{run}\n{recipient_id}").as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let ms = u64::try_from(started.timestamp_millis()).unwrap_or(0);
    format!(
        "ntf_{}",
        ulid::Ulid::from_parts(ms, u128::from_be_bytes(random))
    )
}

/// The data a campaign's template is rendered with for a member: the
/// campaign's `data`, and `recipient` (its fields and its `data`).
pub fn template_data(campaign: &Campaign, recipient: &Value) -> Value {
    let mut data = campaign.data_value();
    if let Some(fields) = data.as_object_mut() {
        fields.insert("recipient".into(), recipient.clone());
    }
    data
}

/// A member's notification in run `run` (begun at `started`), and what it
/// adds to the run's counts: queued to send, or failed at once (with the
/// reason) when it is not to be sent or its template cannot be rendered.
pub fn message(
    campaign: &Campaign,
    run: u32,
    started: DateTime<Utc>,
    recipient: &Recipient,
    outcome: &Outcome,
    template: &Template,
    now: DateTime<Utc>,
) -> (Notification, Counts) {
    let mut counts = Counts {
        members: 1,
        ..Counts::default()
    };
    let to = match outcome {
        Outcome::Send { to } => to.clone(),
        _ => recipient
            .address(campaign.channel)
            .unwrap_or_default()
            .to_owned(),
    };
    let data = template_data(campaign, &recipient.template_value());
    let rendered = template.payload(&to, recipient.language.as_deref(), &data);
    let (draft, failure) = match (outcome, rendered) {
        (Outcome::Send { .. }, Ok(payload)) => {
            counts.queued = 1;
            (NotificationDraft::new(payload), None)
        }
        (Outcome::Send { .. }, Err(reason)) => {
            counts.failed = 1;
            (
                NotificationDraft::new(Payload::unsent(campaign.channel, &to)),
                Some(reason),
            )
        }
        (Outcome::Suppressed(reason), _) => {
            counts.suppressed = 1;
            (
                NotificationDraft::new(Payload::unsent(campaign.channel, &to)),
                Some((*reason).to_owned()),
            )
        }
        (Outcome::Skipped, _) => {
            counts.skipped = 1;
            (
                NotificationDraft::new(Payload::unsent(campaign.channel, &to)),
                Some(NO_ADDRESS.to_owned()),
            )
        }
    };
    let mut n = Notification::create(
        &campaign.account_id,
        &campaign.campaign_id,
        CAMPAIGN_EVENT_TYPE,
        draft,
        None,
        now,
    );
    n.notification_id =
        notification_id(&campaign.campaign_id, run, &recipient.recipient_id, started);
    n.campaign_id = Some(campaign.campaign_id.clone());
    n.run = Some(run);
    n.recipient_id = Some(recipient.recipient_id.clone());
    n.category = Some(campaign.category.clone());
    n.timezone = recipient.timezone.clone();
    n.reference = Some(campaign.campaign_id.clone());
    if let Some(reason) = failure {
        n.status = Status::Failed;
        n.last_error = Some(reason);
    }
    (n, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaigns::campaign::CampaignRequest;
    use crate::domain::recipients::preferences::Preferences;
    use serde_json::json;

    fn recipient(id: &str, phone: Option<&str>) -> Recipient {
        let now = Utc::now();
        Recipient {
            account_id: "acc".into(),
            recipient_id: id.into(),
            phone: phone.map(str::to_owned),
            email: None,
            whatsapp: None,
            language: Some("it".into()),
            timezone: Some("Europe/Rome".into()),
            data: Some(r#"{"name":"Marco"}"#.into()),
            preferences: Preferences::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn campaign() -> Campaign {
        let request = CampaignRequest::from_json(
            json!({"id": "spring", "name": "Spring", "list": "vip", "channel": "sms",
                   "template": "offer", "data": {"discount": 20}})
            .to_string()
            .as_bytes(),
            Utc::now(),
        )
        .expect("valid");
        Campaign::create("acc", &request, Utc::now())
    }

    fn template() -> Template {
        let now = Utc::now();
        Template {
            account_id: "acc".into(),
            template_key: "sms#offer".into(),
            channel: CustomerChannel::Sms,
            name: "offer".into(),
            languages: [(
                "it".to_owned(),
                crate::domain::messages::templates::Text {
                    subject: None,
                    body: Some("Ciao {{ recipient.data.name }}, -{{ discount }}%".into()),
                    template: None,
                    parameters: Vec::new(),
                    title: None,
                    data: Default::default(),
                },
            )]
            .into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn each_member_gets_its_message_or_the_reason_why_not() {
        let mut off = recipient("off", Some("+393331112223"));
        off.preferences =
            Preferences::from_json(br#"{"categories": {"marketing": {"sms": false}}}"#)
                .expect("valid");
        let listed = suppression::key(CustomerChannel::Sms, "+393331112224");
        let opted = |k: &str| k == listed;
        assert_eq!(
            outcome(
                &recipient("a", Some("+393331112222")),
                CustomerChannel::Sms,
                "marketing",
                opted
            ),
            Outcome::Send {
                to: "+393331112222".into()
            }
        );
        assert_eq!(
            outcome(&off, CustomerChannel::Sms, "marketing", opted),
            Outcome::Suppressed(PREFERENCE)
        );
        assert_eq!(
            outcome(
                &recipient("b", Some("+393331112224")),
                CustomerChannel::Sms,
                "marketing",
                opted
            ),
            Outcome::Suppressed(SUPPRESSED)
        );
        assert_eq!(
            outcome(
                &recipient("c", None),
                CustomerChannel::Sms,
                "marketing",
                opted
            ),
            Outcome::Skipped
        );
        assert_eq!(
            outcome(
                &recipient("c", None),
                CustomerChannel::Email,
                "marketing",
                opted
            ),
            Outcome::Skipped
        );
    }

    #[test]
    fn a_members_message_is_rendered_in_its_language_under_a_fixed_id() {
        let c = campaign();
        let started = Utc::now();
        let r = recipient("a", Some("+393331112222"));
        let send = Outcome::Send {
            to: "+393331112222".into(),
        };
        let (n, counts) = message(&c, 1, started, &r, &send, &template(), Utc::now());
        assert_eq!(
            counts,
            Counts {
                members: 1,
                queued: 1,
                ..Counts::default()
            }
        );
        assert_eq!(n.status, Status::Queued);
        assert_eq!(
            n.payload,
            Payload::Sms {
                to: "+393331112222".into(),
                text: "Ciao Marco, -20%".into()
            }
        );
        assert_eq!(n.campaign_id.as_deref(), Some("spring"));
        let (again, _) = message(&c, 1, started, &r, &send, &template(), Utc::now());
        assert_eq!(
            n.notification_id, again.notification_id,
            "the same member, the same id"
        );
        let (next_run, _) = message(&c, 2, started, &r, &send, &template(), Utc::now());
        assert_ne!(n.notification_id, next_run.notification_id);
        let (skipped, counts) = message(
            &c,
            1,
            started,
            &recipient("z", None),
            &Outcome::Skipped,
            &template(),
            Utc::now(),
        );
        assert_eq!(
            (skipped.status, skipped.last_error.as_deref()),
            (Status::Failed, Some(NO_ADDRESS))
        );
        assert_eq!(counts.skipped, 1);
        let mut unnamed = recipient("y", Some("+393331112225"));
        unnamed.data = None;
        let (bad, counts) = message(&c, 1, started, &unnamed, &send, &template(), Utc::now());
        assert_eq!(bad.status, Status::Failed);
        assert_eq!(counts.failed, 1);
    }
}
