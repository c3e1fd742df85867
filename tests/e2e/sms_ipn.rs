//! Genio's SMS notification center end to end: an SMS result reported to
//! `POST /v1/events` reaches the merchant's endpoint as Genio's IPN, through
//! DynamoDB, SQS and the deliver function, and shows up in the history.

use inc_shared::domain::endpoints::signing;
use inc_tests::{Sink, TestStack, json, seed_event, seed_form};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_sent_and_delivery_events_reach_the_endpoint_as_genio_ipns() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;

    let (status, body) = t
        .post_event(&acct.key, &seed_event("evt-1", "sms.sent"))
        .await;
    assert_eq!(status, 202, "{body}");
    let notification_id = body["notifications"][0]
        .as_str()
        .expect("one notification")
        .to_owned();
    let got = sink.wait_for(1).await;
    let ipn = &got[0];
    assert_eq!(ipn.path, "/ipn");
    assert_eq!(
        ipn.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    // Exactly Genio's fields, in Genio's order, with the emoji intact.
    assert_eq!(ipn.body, seed_form("SENT"));
    let decoded: Vec<(String, String)> = form_pairs(&ipn.body);
    let names: Vec<&str> = decoded.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "status",
            "status_code",
            "id_smsout",
            "request_code",
            "pin",
            "custom",
            "ipn_type",
            "to",
            "from",
            "msg"
        ]
    );
    assert_eq!(decoded[9].1, "Your SMS message🧘");

    // Standard Webhooks headers, signed with the account's secret.
    assert_eq!(ipn.headers["webhook-id"], notification_id);
    let (_, secret) = t.get(&acct.key, "/v1/settings/secret").await;
    let secret = secret["secret"].as_str().expect("secret");
    let timestamp: i64 = ipn.headers["webhook-timestamp"].parse().expect("timestamp");
    let expected =
        signing::sign(secret, &notification_id, timestamp, ipn.body.as_bytes()).expect("sign");
    assert_eq!(ipn.headers["webhook-signature"], expected);

    t.notification_when(&acct.key, &notification_id, |n| n["status"] == "delivered")
        .await;
    let (status, body) = t
        .post_event(&acct.key, &seed_event("evt-2", "sms.delivered"))
        .await;
    assert_eq!(status, 202, "{body}");
    let got = sink.wait_for(2).await;
    assert_eq!(got[1].body, seed_form("DELIVERY"));
    let second = body["notifications"][0].as_str().expect("id").to_owned();
    t.notification_when(&acct.key, &second, |n| n["status"] == "delivered")
        .await;

    // The history in Genio's log format, newest first, with the endpoint's status.
    let response = t
        .http
        .get(t.url("/v1/notifications"))
        .header("Authorization", format!("Api-Key {}", acct.key))
        .header("Accept", "text/plain")
        .send()
        .await
        .expect("history");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, ipn_type) in lines.iter().zip(["DELIVERY", "SENT"]) {
        let prefix = format!("{ipn_type} smsout_api 200 {} ", seed_form(ipn_type));
        let time = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line:?} should start with {prefix:?}"));
        assert!(
            chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").is_ok(),
            "{time}"
        );
    }
    let (_, same) = t.get(&acct.key, "/v1/notifications?format=text").await;
    assert_eq!(same.as_str(), Some(text.as_str()));

    // The JSON history shows each attempt.
    let (_, list) = t.get(&acct.key, "/v1/notifications").await;
    assert_eq!(list["items"][0]["id"], second);
    assert_eq!(list["items"][1]["attempts"][0]["status_code"], 200);
    assert_eq!(list["next_cursor"], serde_json::Value::Null);
}

fn form_pairs(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).expect("a form body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_posted_as_a_genio_form_is_the_same_event() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    let form = format!("id=evt-form&{}", seed_form("DELIVERY"));
    let (status, body) = t
        .post_raw(
            Some(&acct.key),
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(sink.wait_for(1).await[0].body, seed_form("DELIVERY"));
    // The JSON twin of that form is a repeat, not a conflict.
    let (status, again) = t
        .post_event(&acct.key, &seed_event("evt-form", "sms.delivered"))
        .await;
    assert_eq!((status, &again), (200, &body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggles_and_the_inc_switch_silence_what_they_should() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;

    let (status, s) = t
        .patch_settings(&acct.key, json!({"sms_out_api_delivery": false}))
        .await;
    assert_eq!(
        (status, &s["sms_out_api_delivery"], &s["sms_out_api_sent"]),
        (200, &json!(false), &json!(true))
    );
    let (status, body) = t
        .post_event(&acct.key, &seed_event("d-off", "sms.delivered"))
        .await;
    assert_eq!(
        (status, &body["notifications"]),
        (202, &json!([])),
        "{body}"
    );

    t.patch_settings(
        &acct.key,
        json!({"sms_out_api_delivery": true, "inc_enabled": false}),
    )
    .await;
    for (id, kind) in [("inc-off-1", "sms.sent"), ("inc-off-2", "sms.delivered")] {
        let (status, body) = t.post_event(&acct.key, &seed_event(id, kind)).await;
        assert_eq!(
            (status, &body["notifications"]),
            (202, &json!([])),
            "{body}"
        );
    }
    // Nothing was queued, and the history is empty.
    assert_eq!(t.queue_depth("INC_DELIVERY_QUEUE_URL").await, 0);
    let (_, history) = t.get(&acct.key, "/v1/notifications").await;
    assert_eq!(history["items"], json!([]));

    // Once back on, a marker event arrives — and it is the only thing that did.
    t.patch_settings(&acct.key, json!({"inc_enabled": true}))
        .await;
    let (_, marker) = t
        .post_event(&acct.key, &seed_event("marker", "sms.sent"))
        .await;
    let got = sink.wait_for(1).await;
    let id = marker["notifications"][0].as_str().expect("id");
    t.notification_when(&acct.key, id, |n| n["status"] == "delivered")
        .await;
    assert_eq!(sink.received().len(), 1, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_twice_sends_one_webhook() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;

    let event = seed_event("evt-dup", "sms.sent");
    let (first_status, first) = t.post_event(&acct.key, &event).await;
    let (second_status, second) = t.post_event(&acct.key, &event).await;
    assert_eq!((first_status, second_status), (202, 200));
    assert_eq!(first, second);

    let mut changed = event.clone();
    changed["data"]["msg"] = json!("another text");
    let (status, body) = t.post_event(&acct.key, &changed).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("event_id_conflict")),
        "{body}"
    );

    // Another account may use the same event id: ids are per account.
    let other_sink = Sink::start().await;
    let other = t.account(Some(&other_sink.url())).await;
    assert_eq!(t.post_event(&other.key, &event).await.0, 202);
    other_sink.wait_for(1).await;

    let (_, marker) = t
        .post_event(&acct.key, &seed_event("marker", "sms.sent"))
        .await;
    let marker_id = marker["notifications"][0].as_str().expect("id");
    t.notification_when(&acct.key, marker_id, |n| n["status"] == "delivered")
        .await;
    let first_id = first["notifications"][0].as_str().expect("id");
    t.notification_when(&acct.key, first_id, |n| n["status"] == "delivered")
        .await;
    let ids: Vec<String> = sink
        .received()
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&first_id.to_owned()) && ids.contains(&marker_id.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_on_redelivery_until_it_succeeds() {
    let t = TestStack::start().await;
    let sink = Sink::answering(&[500]).await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-retry", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id");
    let n = t
        .notification_when(&acct.key, id, |n| n["status"] == "delivered")
        .await;
    let codes: Vec<&serde_json::Value> = n["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(200)]);
    assert_eq!(n["attempts"][0]["error"], "endpoint answered HTTP 500");
    let got = sink.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_keeps_failing_ends_in_the_dlq_and_the_log_says_failed() {
    // Three attempts, with a maxReceiveCount that leaves no room to spare.
    let t = TestStack::with_parameters(&[("RetrySchedule", "0,0"), ("MaxReceiveCount", "3")]).await;
    let sink = Sink::answering(&[500; 10]).await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-doomed", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id").to_owned();
    let n = t
        .notification_when(&acct.key, &id, |n| n["status"] == "failed")
        .await;
    assert_eq!(n["attempts"].as_array().map(Vec::len), Some(3), "{n}");
    assert!(
        n["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("gave up after 3 attempts")),
        "{n}"
    );
    assert_eq!(sink.received().len(), 3);

    // The message waits in the dead-letter queue, with the reason.
    let (message, reason) = t.dead_letter().await;
    assert!(message.body().is_some_and(|b| b.contains(&id)));
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("gave up")),
        "{reason:?}"
    );
    // The poller deletes the handled message just after the handler returns.
    inc_tests::eventually(
        "the delivery queue to empty",
        std::time::Duration::from_secs(30),
        || async { (t.queue_depth("INC_DELIVERY_QUEUE_URL").await == 0).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    // The schedule says retry at once; the endpoint asks for 2 seconds.
    let t = TestStack::start().await;
    let sink = Sink::answering_with(&[(429, Some(2))]).await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-later", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id");
    let n = t
        .notification_when(&acct.key, id, |n| n["status"] == "delivered")
        .await;
    let attempts = n["attempts"].as_array().expect("attempts");
    assert_eq!(
        (
            &attempts[0]["status_code"],
            &attempts[0]["retry_after_secs"]
        ),
        (&json!(429), &json!(2))
    );
    let at = |a: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(a["at"].as_str().expect("at")).expect("time")
    };
    let waited = at(&attempts[1]) - at(&attempts[0]);
    assert!(
        waited >= chrono::Duration::seconds(2),
        "retried after {waited}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_stops_at_once() {
    let t = TestStack::start().await;
    let sink = Sink::answering(&[410]).await;
    let acct = t.account(Some(&sink.url())).await;
    let (_, body) = t
        .post_event(&acct.key, &seed_event("evt-gone", "sms.sent"))
        .await;
    let id = body["notifications"][0].as_str().expect("id");
    let n = t
        .notification_when(&acct.key, id, |n| n["status"] == "failed")
        .await;
    assert_eq!(n["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_sends_the_event_as_json() {
    let t = TestStack::start().await;
    let sink = Sink::start().await;
    let acct = t.account(Some(&sink.url())).await;
    t.patch_settings(&acct.key, json!({"webhook_format": "json"}))
        .await;
    t.post_event(&acct.key, &seed_event("evt-json", "sms.sent"))
        .await;
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("JSON");
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!("evt-json"), &json!("sms.sent"))
    );
    assert_eq!(body["data"]["msg"], "Your SMS message🧘");
    assert!(body["created_at"].is_string());
}
