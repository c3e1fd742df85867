//! Endpoints: where an account's webhooks go. Each has its own URL, signing
//! secret and a filter of the event types it wants; one event fans out to
//! every enabled endpoint whose filter matches ([`targets`]). What a create
//! or patch body may say, and the endpoint a create makes, is `input`.
//!
//! The account's **default endpoint** is the URL of `PATCH /v1/settings`
//! (`endpoint_url`), as it always was: no filter, the settings' format, the
//! account's secret. It is not stored as an endpoint item: the account
//! builds it (`Account::default_endpoint`), with the fixed id
//! [`DEFAULT_ENDPOINT_ID`] and the health its item keeps, so accounts that
//! existed before endpoints keep their URL, secret and history unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::accounts::settings::{Settings, WebhookFormat};
use crate::domain::destinations::Destination;
use crate::domain::endpoints::signing;

/// Most endpoints per account besides the default one.
pub const MAX_ENDPOINTS: u32 = 50;
pub use crate::domain::common::ids::DEFAULT_ENDPOINT_ID;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub account_id: String,
    pub endpoint_id: String,
    /// Where it delivers: the HTTP URL, or the target of its
    /// [`Destination`] (queue URL, topic ARN, bus name).
    pub url: String,
    /// HTTP (absent on items from before destinations), SQS, SNS or
    /// EventBridge.
    #[serde(default, skip_serializing_if = "Destination::is_http")]
    pub destination: Destination,
    /// A jq program reshaping each webhook (contract section 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    #[serde(default)]
    pub description: String,
    /// `None`: every event type.
    #[serde(default)]
    pub filter_types: Option<Vec<String>>,
    pub format: WebhookFormat,
    pub enabled: bool,
    #[serde(default)]
    pub rate_limit: Option<u64>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last 2xx (contract section 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// `endpoint.failing` was sent for the current streak.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failing_alerted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Bumped by every write, each conditional on the version read.
    #[serde(default)]
    pub version: u64,
}

impl Endpoint {
    /// Whether an event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.route().wants(event_type)
    }

    /// What deciding an event's endpoints reads of it.
    pub fn route(&self) -> Route {
        Route {
            endpoint_id: self.endpoint_id.clone(),
            format: self.format,
            enabled: self.enabled,
            filter_types: self.filter_types.clone(),
        }
    }

    /// The secrets that sign its webhooks now (a rotated one for 24 h more).
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        signing::active_secrets(
            &self.secret,
            self.previous_secret.as_deref(),
            self.previous_secret_expires_at,
            now,
        )
    }

    /// How the API shows it: never the secret.
    pub fn view(&self) -> Value {
        let mut view = json!({
            "id": self.endpoint_id,
            "type": self.destination.type_name(),
            "url": self.url,
            "description": self.description,
            "filter_types": self.filter_types,
            "format": self.format,
            "enabled": self.enabled,
            "rate_limit": self.rate_limit,
            "headers": self.headers,
            "is_default": self.endpoint_id == DEFAULT_ENDPOINT_ID,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since,
            "transformation": self.transformation,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if let Some((field, target)) = self.destination.target() {
            view[field] = target.into();
        }
        view
    }
}

/// Why a deleted endpoint's pending notifications failed.
pub fn deleted_reason(endpoint_id: &str) -> String {
    format!("the endpoint {endpoint_id} was deleted")
}

/// Whether `filter` (absent: everything) lets `event_type` through. An entry
/// is an exact type or `prefix.*`, which matches any type below `prefix`.
pub fn matches(filter: Option<&[String]>, event_type: &str) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    filter.iter().any(|entry| match entry.strip_suffix(".*") {
        Some(prefix) => event_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
        None => entry == event_type,
    })
}

/// What deciding the endpoints of an event needs of each: ingest reads
/// only these fields of an account's endpoints (never their secrets,
/// headers or transformations, which deliver reads for the one it sends to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub endpoint_id: String,
    pub format: WebhookFormat,
    pub enabled: bool,
    #[serde(default)]
    pub filter_types: Option<Vec<String>>,
}

impl Route {
    /// The fields a [`Route`] is read from, as stored.
    pub const FIELDS: [&'static str; 4] = ["endpoint_id", "format", "enabled", "filter_types"];

    /// Whether an event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled && matches(self.filter_types.as_deref(), event_type)
    }
}

/// One endpoint an event goes to, and the format its webhook takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint_id: String,
    pub format: WebhookFormat,
}

/// The endpoints an event of `event_type` fans out to: none while INC is
/// off, or for an `sms.*` event whose Genio toggle is off; otherwise every
/// enabled endpoint of `endpoints` (the default one among them, if set)
/// whose filter matches.
pub fn targets(settings: &Settings, endpoints: &[Route], event_type: &str) -> Vec<Target> {
    let toggled_off = match event_type {
        "sms.sent" => !settings.sms_out_api_sent,
        "sms.delivered" => !settings.sms_out_api_delivery,
        _ => false,
    };
    if !settings.inc_enabled || toggled_off {
        return Vec::new();
    }
    endpoints
        .iter()
        .filter(|e| e.wants(event_type))
        .map(|e| Target {
            endpoint_id: e.endpoint_id.clone(),
            format: e.format,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::endpoints::input::EndpointSpec;

    fn filter(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn prefix_patterns_match_below_the_prefix_only() {
        let f = filter(&["order.*", "iot.alert"]);
        for yes in ["order.completed", "order.refund.created", "iot.alert"] {
            assert!(matches(Some(&f), yes), "{yes}");
        }
        for no in ["order", "orders.completed", "iot.alert.x", "iot.reading"] {
            assert!(!matches(Some(&f), no), "{no}");
        }
        assert!(matches(None, "anything.at_all"));
    }

    #[test]
    fn a_route_is_read_from_the_fields_an_endpoint_is_stored_with() {
        let endpoint = Endpoint::create(
            "acc",
            EndpointSpec {
                url: "http://127.0.0.1:9/".into(),
                destination: Default::default(),
                transformation: None,
                description: String::new(),
                filter_types: Some(filter(&["order.*"])),
                format: WebhookFormat::Json,
                enabled: true,
                rate_limit: None,
                headers: BTreeMap::new(),
            },
            Utc::now(),
        );
        let stored = serde_json::to_value(&endpoint).unwrap();
        let route = serde_json::to_value(endpoint.route()).unwrap();
        let mut fields: Vec<&str> = route
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        fields.sort_unstable();
        let mut listed = Route::FIELDS.to_vec();
        listed.sort_unstable();
        assert_eq!(
            fields, listed,
            "Route::FIELDS must name every field of a Route"
        );
        for field in Route::FIELDS {
            assert_eq!(
                stored[field], route[field],
                "{field} is stored as a route reads it"
            );
        }
    }

    #[test]
    fn targets_follow_the_gates_and_the_filters() {
        let settings = Settings {
            endpoint_url: Some("http://127.0.0.1:9/".into()),
            ..Settings::default()
        };
        let spec = |f: Option<&[&str]>, enabled| EndpointSpec {
            url: "http://127.0.0.1:9/".into(),
            destination: Default::default(),
            transformation: None,
            description: String::new(),
            filter_types: f.map(filter),
            format: WebhookFormat::Json,
            enabled,
            rate_limit: None,
            headers: BTreeMap::new(),
        };
        let now = Utc::now();
        let endpoints = [
            Endpoint::create("acc", spec(Some(&["order.*"]), true), now).route(),
            Endpoint::create("acc", spec(Some(&["order.*"]), false), now).route(),
            Endpoint::create("acc", spec(None, true), now).route(),
        ];
        let ids = |t: Vec<Target>| t.into_iter().map(|t| t.endpoint_id).collect::<Vec<_>>();
        let order = ids(targets(&settings, &endpoints, "order.completed"));
        assert_eq!(
            order,
            [
                endpoints[0].endpoint_id.as_str(),
                endpoints[2].endpoint_id.as_str()
            ]
        );
        assert_eq!(ids(targets(&settings, &endpoints, "iot.alert")).len(), 1);
        let off = Settings {
            inc_enabled: false,
            ..settings.clone()
        };
        assert!(targets(&off, &endpoints, "order.completed").is_empty());
        let no_sent = Settings {
            sms_out_api_sent: false,
            ..settings.clone()
        };
        assert!(targets(&no_sent, &endpoints, "sms.sent").is_empty());
        assert_eq!(targets(&no_sent, &endpoints, "sms.delivered").len(), 1);
    }
}
