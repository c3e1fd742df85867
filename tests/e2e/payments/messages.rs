//! Direct messages (contract section 9) end to end: sent now or at
//! `send_at` by SMS (a loopback gateway), email (SES on moto) and WhatsApp
//! (a loopback Cloud API), from templates or literal text, idempotent by
//! id, cancellable while scheduled — and a ledger for schedules: scheduled
//! = sent + canceled + still scheduled, none twice, none early, none more
//! than 60 s late, with a second sweeper racing the stack's own.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use inc_tests::{PATIENCE, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

use super::shop;

fn at(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("a time: {value}"))
}

async fn message(t: &TestStack, key: &str, id: &str) -> Value {
    let (status, body) = t.get(key, &format!("/v1/messages/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn message_when(t: &TestStack, key: &str, id: &str, status: &str) -> Value {
    eventually(&format!("message {id} {status}"), PATIENCE, || async {
        let m = message(t, key, id).await;
        (m["status"] == status).then_some(m)
    })
    .await
}

/// The SMS gateway's requests, by the notification id in `custom`.
fn sms_by_notification(received: &[inc_tests::Received]) -> BTreeMap<String, Vec<String>> {
    let mut by = BTreeMap::<String, Vec<String>>::new();
    for r in received {
        let fields: BTreeMap<String, String> = serde_urlencoded::from_str(&r.body).expect("form");
        by.entry(fields["custom"].clone())
            .or_default()
            .push(fields["msg"].clone());
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_goes_now_on_each_channel_once_whatever_the_retries() {
    let t = TestStack::start().await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/templates/sms/service_reminder",
            key,
            Some(json!({"languages": {
                "en": {"body": "Hi {{ name }}, your {{ car }} is due on {{ date }}."},
                "it": {"body": "Ciao {{ name }}, la tua {{ car }} è attesa il {{ date }}."}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/templates/whatsapp/service_reminder",
            key,
            Some(
                json!({"languages": {"it": {"template": "promemoria_tagliando",
                "parameters": ["{{ name }}", "{{ date }}"]}, "en": {"template": "service_reminder",
                "parameters": ["{{ name }}", "{{ date }}"]}}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Bad input: a 400 naming the field, nothing stored.
    let sms = json!({"id": "m-1", "channel": "sms", "to": "+393331234567",
        "template": "service_reminder", "language": "it", "reference": "1001",
        "data": {"name": "Marco", "car": "Fiat Panda", "date": "3 dicembre"}});
    let with = |k: &str, v: Value| {
        let mut b = sms.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("to", json!("3331234567")), "to"),
        (with("channel", json!("pigeon")), "channel"),
        (with("text", json!("hello")), "text"),
        (with("send_at", json!("next week")), "send_at"),
        (
            with(
                "send_at",
                json!((Utc::now() + Duration::days(367)).to_rfc3339()),
            ),
            "send_at",
        ),
        (with("id", json!("")), "id"),
        (with("cc", json!("x")), "cc"),
        (
            json!({"id": "m-wa", "channel": "whatsapp", "to": "+393331234567", "text": "hi"}),
            "template",
        ),
        (
            json!({"id": "m-em", "channel": "email", "to": "not-an-address", "text": "hi", "subject": "s"}),
            "to",
        ),
    ] {
        let (status, answer) = t.send_json("/v1/messages", key, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = t
        .send_json("/v1/messages", key, with("template", json!("no_such")))
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (422, Some("template")),
        "{answer}"
    );
    let (status, _) = t.get(key, "/v1/messages/m-1").await;
    assert_eq!(status, 404, "nothing was stored");

    // Now: 202 queued, the Italian text reaches the gateway once.
    let (status, first) = t.send_json("/v1/messages", key, sms.clone()).await;
    assert_eq!(
        (status, &first["status"]),
        (202, &json!("queued")),
        "{first}"
    );
    let nid = first["notification_id"].as_str().expect("id").to_owned();
    let sent = message_when(&t, key, "m-1", "delivered").await;
    assert_eq!(sent["reference"], "1001");
    // The same id again: the same answer, 200, nothing sent again; another
    // body under it: 409.
    let (status, again) = t.send_json("/v1/messages", key, sms.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    let (status, answer) = t
        .send_json("/v1/messages", key, with("reference", json!("1002")))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("message_id_conflict"))
    );
    let by = sms_by_notification(&s.sms.received());
    assert_eq!(
        by.get(&nid).map(Vec::as_slice),
        Some(&["Ciao Marco, la tua Fiat Panda è attesa il 3 dicembre.".to_owned()][..]),
        "{by:?}"
    );
    // In the history, found by its reference as an order number is.
    let (_, history) = t.get(key, "/v1/notifications?order_no=1001").await;
    assert_eq!(history["items"][0]["id"], nid.as_str(), "{history}");
    assert_eq!(history["items"][0]["event_type"], "message");

    // The order's timeline: no payment, the message and its attempt.
    let (status, order) = t.get(key, "/v1/transactions?order_no=1001").await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["transaction"], Value::Null);
    let kinds: Vec<&str> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["notification", "attempt"], "{order}");
    // A payment's timeline shows the messages that name its order too.
    let (status, _) = t
        .post_event(key, &super::payment("pay-9", "s_9", "created", json!({})))
        .await;
    assert_eq!(status, 202);
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "m-9", "channel": "sms", "to": "+393331234567",
                   "text": "Your order ships tomorrow.", "reference": "order-s_9"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (_, order) = t.get(key, "/v1/transactions/s_9").await;
    assert_eq!(order["transaction"]["order_no"], "order-s_9");
    assert!(
        order["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == body["notification_id"]),
        "{order}"
    );

    // Email from literal text, through SES.
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "m-2", "channel": "email", "to": "Marco@Example.com",
                   "subject": "Your service", "text": "See you on Thursday."}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    message_when(&t, key, "m-2", "delivered").await;
    let emails = t.sent_emails().await;
    assert!(
        emails
            .iter()
            .any(|e| e.to_string().contains("See you on Thursday.")),
        "{emails:?}"
    );

    // WhatsApp from its template, in Italian.
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "m-3", "channel": "whatsapp", "to": "+393331234567",
                   "template": "service_reminder", "language": "it",
                   "data": {"name": "Marco", "date": "3 dicembre"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    message_when(&t, key, "m-3", "delivered").await;
    let wa: Value = serde_json::from_str(&s.whatsapp.received()[0].body).expect("JSON");
    assert_eq!(wa["template"]["name"], "promemoria_tagliando", "{wa}");
    assert_eq!(wa["template"]["language"]["code"], "it", "{wa}");
    assert!(wa.to_string().contains("Marco"), "{wa}");

    // A template the data does not fill: accepted, and failed when it comes
    // due, naming the variable — never sent blank.
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            with("id", json!("m-4")).tap(|b| b["data"] = json!({"name": "Marco"})),
        )
        .await;
    assert_eq!((status, &body["status"]), (202, &json!("queued")), "{body}");
    let failed = message_when(&t, key, "m-4", "failed").await;
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("data.car")),
        "{failed}"
    );

    // An opted-out recipient: accepted, then failed `suppressed` at send.
    let (status, _) = t
        .send_json(
            "/v1/suppressions",
            key,
            json!({"channel": "sms", "to": "+393339999999"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "m-5", "channel": "sms", "to": "+393339999999", "text": "Offer!"}),
        )
        .await;
    assert_eq!((status, &body["status"]), (202, &json!("queued")), "{body}");
    assert_eq!(
        message_when(&t, key, "m-5", "failed").await["last_error"],
        "suppressed"
    );

    // A message sent is not canceled.
    let (status, body) = t.call(Method::DELETE, "/v1/messages/m-1", key, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("message_not_scheduled")),
        "{body}"
    );
    let (status, _) = t.call(Method::DELETE, "/v1/messages/nope", key, None).await;
    assert_eq!(status, 404);
    let mut reached: Vec<String> = sms_by_notification(&s.sms.received()).into_keys().collect();
    reached.sort();
    let mut expected = vec![nid, body_id(&t, key, "m-9").await];
    expected.sort();
    assert_eq!(reached, expected, "only m-1 and m-9 reached the gateway");
}

async fn body_id(t: &TestStack, key: &str, id: &str) -> String {
    message_when(t, key, id, "delivered").await["notification_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Value)) -> Value {
        f(&mut self);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_messages_go_once_on_time_or_not_at_all_if_canceled() {
    // A two-second lead and a sweeper every second: messages due in more
    // than two seconds wait for the sweeper to release them, the others
    // are released by their own request.
    let t = TestStack::with_schedules_every(
        &[("RetrySchedule", "0,0"), ("ScheduleLeadSeconds", "2")],
        StdDuration::from_secs(1),
    )
    .await;
    let s = shop(&t, &[]).await;
    let key = &s.acct.key;

    // A second sweeper racing the stack's own, as two runners would.
    let racer = t.sweeper();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = racer.sweep(Utc::now()).await;
                tokio::time::sleep(StdDuration::from_millis(300)).await;
            }
        })
    };

    let start = Utc::now();
    let mut send_at = BTreeMap::new();
    let mut notification = BTreeMap::new();
    for i in 0..16 {
        let id = format!("sched-{i}");
        // 1 to 8.5 s ahead, spread over the lead's edge.
        let when = start + Duration::milliseconds(1_000 + 500 * i);
        let (status, body) = t
            .send_json(
                "/v1/messages",
                key,
                json!({"id": id, "channel": "sms", "to": "+393331234567",
                       "text": format!("Reminder {i}"), "send_at": when.to_rfc3339(),
                       "reference": "campaign-7"}),
            )
            .await;
        assert_eq!(
            (status, &body["status"]),
            (202, &json!("scheduled")),
            "{body}"
        );
        send_at.insert(id.clone(), when);
        notification.insert(id, body["notification_id"].as_str().unwrap().to_owned());
    }
    // One far ahead stays scheduled, shown so in the history.
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "sched-later", "channel": "sms", "to": "+393331234567",
                   "text": "Next year", "send_at": (start + Duration::days(300)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let later_id = body["notification_id"].as_str().unwrap().to_owned();
    let (_, history) = t.get(key, "/v1/notifications?status=scheduled").await;
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == later_id.as_str()),
        "{history}"
    );

    // Cancel the last four before they are due: canceled, twice the same.
    let mut canceled = Vec::new();
    for i in 12..16 {
        let id = format!("sched-{i}");
        let (status, body) = t
            .call(Method::DELETE, &format!("/v1/messages/{id}"), key, None)
            .await;
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("canceled")),
            "{body}"
        );
        let (status, _) = t
            .call(Method::DELETE, &format!("/v1/messages/{id}"), key, None)
            .await;
        assert_eq!(status, 200, "canceling twice is the same");
        canceled.push(id);
    }
    // A canceled message is never sent, not even by a resend.
    let (status, body) = t
        .send_json(
            &format!("/v1/notifications/{}/resend", notification["sched-12"]),
            key,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("message_canceled")),
        "{body}"
    );

    // The twelve others are sent.
    for i in 0..12 {
        message_when(&t, key, &format!("sched-{i}"), "delivered").await;
    }
    // Leave time for a canceled or duplicate send to show: a few sweeps
    // past the last send_at.
    let settle = start + Duration::milliseconds(1_000 + 500 * 15) + Duration::seconds(3);
    eventually("every release window closed", PATIENCE * 2, || async {
        (Utc::now() > settle).then_some(())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racing.await.expect("racer");

    // The ledger.
    let by = sms_by_notification(&s.sms.received());
    let mut sent = 0;
    for (id, nid) in &notification {
        let m = message(&t, key, id).await;
        let sends = by.get(nid).map_or(0, Vec::len);
        if canceled.contains(id) {
            assert_eq!((sends, &m["status"]), (0, &json!("canceled")), "{id}");
            continue;
        }
        assert_eq!(sends, 1, "{id} sent exactly once");
        sent += 1;
        let n = t.get(key, &format!("/v1/notifications/{nid}")).await.1;
        let attempted = at(&n["attempts"][0]["at"]);
        let lateness = attempted - send_at[id];
        assert!(
            lateness >= Duration::zero(),
            "{id} went {}ms early",
            -lateness.num_milliseconds()
        );
        assert!(
            lateness <= Duration::seconds(60),
            "{id} was {lateness} late"
        );
    }
    let still = message(&t, key, "sched-later").await;
    assert_eq!(still["status"], "scheduled");
    let still_scheduled = 1;
    println!(
        "schedule ledger: scheduled={} sent={sent} canceled={} still_scheduled={still_scheduled}",
        notification.len() + 1,
        canceled.len()
    );
    assert_eq!(
        notification.len() + 1,
        sent + canceled.len() + still_scheduled
    );
    assert!(!by.contains_key(&later_id));
    let ledger = t
        .ledger(
            &s.acct.id,
            &notification
                .values()
                .cloned()
                .chain([later_id])
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(
        (ledger.delivered, ledger.canceled, ledger.scheduled),
        (12, 4, 1),
        "{ledger}"
    );
    ledger.assert_balanced();
}
