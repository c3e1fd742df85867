//! CloudWatch metrics as Embedded Metric Format (EMF) lines: a JSON document
//! per measurement written to stdout, which Lambda's log pipeline turns
//! into metrics in the `INC` namespace without any API call.
//!
//! - `EventsAccepted` (Count), by `EventType`;
//! - `NotificationsDelivered`, `NotificationsRetried`, `NotificationsFailed`
//!   (Count) and `DeliveryLatency` (Milliseconds, the attempt's own time),
//!   by `Channel`.
//!
//! Where the lines go is the caller's choice ([`Metrics::stdout`] on
//! Lambda; the local stack logs them at debug; tests capture them).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub const NAMESPACE: &str = "INC";

/// What became of one delivery attempt, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Retried,
    Failed,
}

impl Delivery {
    fn metric(self) -> &'static str {
        match self {
            Delivery::Delivered => "NotificationsDelivered",
            Delivery::Retried => "NotificationsRetried",
            Delivery::Failed => "NotificationsFailed",
        }
    }
}

/// One EMF document: `metrics` (name, value, unit) under one dimension.
pub fn emf(dimension: (&str, &str), metrics: &[(&str, f64, &str)], timestamp_ms: i64) -> Value {
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension.0]],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
    });
    if let Value::Object(map) = &mut doc {
        map.insert(dimension.0.to_owned(), dimension.1.into());
        for (name, value, _) in metrics {
            map.insert((*name).to_owned(), json!(value));
        }
    }
    doc
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where EMF lines go.
#[derive(Clone)]
pub struct Metrics {
    sink: Sink,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Lambda: one line on stdout each, which CloudWatch reads.
    pub fn stdout() -> Metrics {
        Metrics {
            sink: Arc::new(|line| println!("{line}")),
        }
    }

    /// Off Lambda, where nothing reads stdout for metrics: debug log lines.
    pub fn to_log() -> Metrics {
        Metrics {
            sink: Arc::new(|line| tracing::debug!(emf = line, "metric")),
        }
    }

    /// Keeps every line, for tests.
    pub fn captured() -> (Metrics, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let sink: Sink = Arc::new(move |line| {
            if let Ok(mut l) = kept.lock() {
                l.push(line.to_owned());
            }
        });
        (Metrics { sink }, lines)
    }

    fn emit(&self, doc: Value) {
        (self.sink)(&doc.to_string());
    }

    /// An event accepted (`202`), by its type.
    pub fn event_accepted(&self, event_type: &str) {
        self.emit(emf(
            ("EventType", event_type),
            &[("EventsAccepted", 1.0, "Count")],
            chrono::Utc::now().timestamp_millis(),
        ));
    }

    /// One delivery attempt's outcome and latency, by channel.
    pub fn delivery(&self, channel: &str, outcome: Delivery, latency_ms: u64) {
        self.emit(emf(
            ("Channel", channel),
            &[
                (outcome.metric(), 1.0, "Count"),
                ("DeliveryLatency", latency_ms as f64, "Milliseconds"),
            ],
            chrono::Utc::now().timestamp_millis(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_embedded_metric_format() {
        let (m, lines) = Metrics::captured();
        m.delivery("sms", Delivery::Retried, 42);
        m.event_accepted("payment.state_changed");
        let lines = lines.lock().unwrap();
        let doc: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "INC");
        assert_eq!(directive["Dimensions"], json!([["Channel"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "NotificationsRetried", "Unit": "Count"}, {"Name": "DeliveryLatency", "Unit": "Milliseconds"}])
        );
        assert!(doc["_aws"]["Timestamp"].is_i64());
        // Every metric and dimension named in the directive has its value.
        assert_eq!(
            (
                &doc["Channel"],
                &doc["NotificationsRetried"],
                &doc["DeliveryLatency"]
            ),
            (&json!("sms"), &json!(1.0), &json!(42.0))
        );
        let accepted: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (&accepted["EventType"], &accepted["EventsAccepted"]),
            (&json!("payment.state_changed"), &json!(1.0))
        );
    }
}
