//! Alerts to the merchant (contract section 8): what each says, and the
//! notifications that carry it to where `settings.alerts` (module
//! `accounts::alerts`) says — a signed JSON webhook to `alerts.url`, an
//! email to `alerts.email`. Alert notifications are delivered and retried like any
//! other, under the reserved endpoint id [`ALERTS_ENDPOINT_ID`], and never
//! cause an alert themselves.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::accounts::alerts::Alerts;
use crate::domain::delivery::notification::{NotificationDraft, Payload, WebhookPayload};

pub use crate::domain::common::ids::ALERTS_ENDPOINT_ID;
pub use crate::domain::events::catalog::ALERT_TYPES;

impl Alerts {
    /// The notifications that carry `alert` to where the merchant asked.
    pub fn drafts(&self, alert: &Alert) -> Vec<NotificationDraft> {
        let mut drafts = Vec::new();
        if self.url.is_some() {
            drafts.push(NotificationDraft::webhook(
                WebhookPayload {
                    content_type: "application/json".into(),
                    body: alert.body(),
                    ipn_type: None,
                    source: None,
                },
                ALERTS_ENDPOINT_ID.into(),
            ));
        }
        if let Some(to) = &self.email {
            let mut draft = NotificationDraft::new(Payload::Email {
                to: to.clone(),
                subject: alert.subject(),
                text: alert.text(),
            });
            draft.endpoint_id = Some(ALERTS_ENDPOINT_ID.into());
            drafts.push(draft);
        }
        drafts
    }
}

/// One alert: `{"id", "type", "created_at", "data": {"endpoint_id", …}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub alert_type: &'static str,
    pub created_at: DateTime<Utc>,
    pub data: Value,
}

impl Alert {
    pub fn new(alert_type: &'static str, data: Value, now: DateTime<Utc>) -> Alert {
        Alert {
            id: format!(
                "alt_{}",
                crate::domain::common::ids::new_notification_id().trim_start_matches("ntf_")
            ),
            alert_type,
            created_at: now,
            data,
        }
    }

    /// The JSON body, its keys in the contract's order (as every webhook's).
    pub fn body(&self) -> String {
        fn text<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_else(|_| "null".into())
        }
        format!(
            "{{\"id\":{},\"type\":{},\"created_at\":{},\"data\":{}}}",
            text(&self.id),
            text(&self.alert_type),
            text(&self.created_at),
            text(&self.data)
        )
    }

    pub fn subject(&self) -> String {
        let about = self.data["endpoint_id"].as_str().unwrap_or("an endpoint");
        match self.alert_type {
            "endpoint.failing" => format!("INC: endpoint {about} is failing"),
            "endpoint.disabled" => format!("INC: endpoint {about} was disabled"),
            "endpoint.recovered" => format!("INC: endpoint {about} recovered"),
            _ => format!("INC: a notification to {about} failed"),
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{}\n\n{}\n",
            self.subject(),
            serde_json::from_str::<Value>(&self.body())
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::common::url_policy::EndpointPolicy;
    use serde_json::json;

    #[test]
    fn a_patch_sets_checks_and_removes_each_field() {
        let policy = EndpointPolicy {
            allow_private: false,
        };
        let alerts = Alerts::default()
            .patched(
                &json!({"url": "https://ops.example.com/inc", "email": "ops@example.com"}),
                &policy,
            )
            .expect("valid");
        assert_eq!(alerts.email.as_deref(), Some("ops@example.com"));
        let removed = alerts
            .patched(&json!({"url": null}), &policy)
            .expect("valid");
        assert_eq!(
            (removed.url, removed.email.as_deref()),
            (None, Some("ops@example.com"))
        );
        for (patch, field) in [
            (json!({"url": "http://10.0.0.1/x"}), "alerts.url"),
            (json!({"email": "not an address"}), "alerts.email"),
            (json!({"email": 3}), "alerts.email"),
            (json!({"sms": "x"}), "alerts.sms"),
        ] {
            let e = Alerts::default()
                .patched(&patch, &policy)
                .expect_err("refused");
            assert!(e.to_string().contains(field), "{patch}: {e}");
        }
    }

    #[test]
    fn an_alert_goes_to_each_channel_asked_for_with_the_contracts_shape() {
        let alert = Alert::new(
            "endpoint.disabled",
            json!({"endpoint_id": "ep_1"}),
            Utc::now(),
        );
        let alerts = Alerts {
            url: Some("https://ops.example.com".into()),
            email: Some("ops@example.com".into()),
        };
        let drafts = alerts.drafts(&alert);
        assert_eq!(drafts.len(), 2);
        let Payload::Webhook(w) = &drafts[0].payload else {
            panic!("a webhook first");
        };
        assert!(w.body.starts_with("{\"id\":\"alt_"), "{}", w.body);
        assert!(
            w.body
                .contains("\"type\":\"endpoint.disabled\",\"created_at\":"),
            "{}",
            w.body
        );
        let body: Value = serde_json::from_str(&w.body).expect("json");
        assert_eq!(body["data"]["endpoint_id"], "ep_1");
        assert!(
            drafts
                .iter()
                .all(|d| d.endpoint_id.as_deref() == Some(ALERTS_ENDPOINT_ID))
        );
        assert!(Alerts::default().drafts(&alert).is_empty());
    }
}
