//! The event-type catalog: a declared JSON Schema checks its events' data
//! and nothing bad is stored; invalid or reaching schemas are refused.

use inc_tests::{Sink, TestStack, eventually, json};
use reqwest::Method;

use super::{PATIENCE, create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_checks_data_against_a_declared_schema_and_stores_nothing_bad() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    create(&t, &acct.key, json!({"url": sink.url()})).await;
    let schema = json!({
        "type": "object",
        "required": ["device", "temperature"],
        "properties": {
            "device": {"type": "string"},
            "temperature": {"type": "number", "minimum": -50, "maximum": 150}
        }
    });
    let (status, declared) = t
        .call(
            Method::PUT,
            "/v1/event-types/iot.reading",
            &acct.key,
            Some(json!({"description": "A sensor reading", "schema": schema})),
        )
        .await;
    assert_eq!(status, 200, "{declared}");
    assert_eq!(declared["type"], "iot.reading");

    for (data, field) in [
        (
            json!({"device": "d1", "temperature": "hot"}),
            "data.temperature",
        ),
        (
            json!({"device": "d1", "temperature": 900}),
            "data.temperature",
        ),
        (json!({"temperature": 20}), "data.device"),
    ] {
        let (status, answer) = t
            .post_event(
                &acct.key,
                &json!({"id": "read-1", "type": "iot.reading", "data": data}),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    // Nothing was stored under that id: the valid event takes it now.
    let (status, answer) = t
        .post_event(
            &acct.key,
            &json!({"id": "read-1", "type": "iot.reading", "data": {"device": "d1", "temperature": 21}}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    sink.wait_for(1).await;

    for bad in [
        json!({"schema": {"type": "thermometer"}}),
        json!({"schema": {"$ref": "https://example.com/schema.json"}}),
        json!({"schema": {"properties": {"a": {"$ref": "file:///etc/passwd"}}}}),
    ] {
        let (status, answer) = t
            .call(
                Method::PUT,
                "/v1/event-types/iot.alert",
                &acct.key,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "schema");
    }
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/event-types/payment.state_changed",
            &acct.key,
            Some(json!({"description": "mine"})),
        )
        .await;
    assert_eq!(status, 409);

    let (_, list) = t.get(&acct.key, "/v1/event-types").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sms.sent",
            "sms.delivered",
            "payment.state_changed",
            // The alerts INC sends the merchant (contract section 8).
            "endpoint.failing",
            "endpoint.disabled",
            "endpoint.recovered",
            "notification.failed",
            "campaign.started",
            "campaign.finished",
            "message.replied",
            "iot.reading"
        ]
    );
    // The alerts are INC's own: listed as reserved, and refused as events,
    // so an endpoint can trust that an endpoint.disabled came from INC.
    for item in list["items"].as_array().expect("items") {
        let alert = item["type"].as_str().is_some_and(|t| {
            t.starts_with("endpoint.")
                || t.starts_with("campaign.")
                || t == "notification.failed"
                || t == "message.replied"
        });
        assert_eq!(item["reserved"], alert, "{item}");
    }
    for (i, alert) in [
        "endpoint.failing",
        "endpoint.disabled",
        "endpoint.recovered",
        "notification.failed",
        "campaign.finished",
        "message.replied",
    ]
    .into_iter()
    .enumerate()
    {
        let forged =
            json!({"id": format!("forged-{i}"), "type": alert, "data": {"endpoint_id": "ep_x"}});
        let (status, body) = t.post_event(&acct.key, &forged).await;
        assert_eq!(status, 422, "{alert}: {body}");
        assert_eq!(body["error"]["code"], "reserved_event_type", "{body}");
        assert_eq!(body["error"]["field"], "type", "{body}");
    }
    let (_, forged) = t
        .get(&acct.key, "/v1/notifications?event_type=endpoint.disabled")
        .await;
    assert_eq!(
        forged["items"],
        json!([]),
        "nothing stored for a refused alert"
    );
    let (status, _) = t
        .call(
            Method::DELETE,
            "/v1/event-types/iot.reading",
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = t.get(&acct.key, "/v1/event-types/iot.reading").await;
    assert_eq!(status, 404);
    // Undeclared, any data goes.
    let (status, _) = t
        .post_event(
            &acct.key,
            &json!({"id": "read-2", "type": "iot.reading", "data": {"x": 1}}),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the second reading", PATIENCE, || async {
        (sink.received().len() == 2).then_some(())
    })
    .await;
}
