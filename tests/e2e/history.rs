//! The notification history as merchants page through it, and recovering
//! every failed notification of a window.

use std::collections::BTreeSet;

use inc_shared::domain::{Notification, NotificationDraft, Payload};
use inc_tests::{Sink, TestStack, json};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_a_thousand_notifications_returns_each_exactly_once() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let store = t.store();
    let payload = Payload::Sms {
        to: "+15550000000".into(),
        text: "paged".into(),
    };
    let mut written = BTreeSet::new();
    for batch in 0..10 {
        let notifications: Vec<Notification> = (0..100)
            .map(|i| {
                Notification::create(
                    &acct.id,
                    &format!("evt-{batch}-{i}"),
                    "sms.sent",
                    NotificationDraft::new(payload.clone()),
                    None,
                    chrono::Utc::now(),
                )
            })
            .collect();
        written.extend(notifications.iter().map(|n| n.notification_id.clone()));
        store
            .put_notifications(&notifications)
            .await
            .expect("write");
    }
    assert_eq!(written.len(), 1000);

    let mut seen = Vec::new();
    let mut path = "/v1/notifications?limit=100".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = t.get(&acct.key, &path).await;
        assert_eq!(status, 200, "{body}");
        let page = body["items"].as_array().expect("page");
        assert!(page.len() <= 100);
        seen.extend(
            page.iter()
                .map(|n| n["id"].as_str().expect("id").to_owned()),
        );
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/notifications?limit=100&cursor={cursor}"),
            None => break,
        }
        assert!(pages <= 11, "too many pages");
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 1000, "no repeats");
    assert_eq!(unique, written, "no gaps");
    // Newest first.
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
}

/// Pages through `path` (which has its `limit`) and answers the ids, in
/// order, checking that every page but the last is full.
async fn page_all(t: &TestStack, key: &str, path: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = format!("{path}&limit={limit}");
    loop {
        let (status, body) = t.get(key, &next).await;
        assert_eq!(status, 200, "{next}: {body}");
        let page = body["items"].as_array().expect("page");
        seen.extend(
            page.iter()
                .map(|n| n["id"].as_str().expect("id").to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page.len(), limit, "{next}: a short page before the end");
                next = format!("{path}&limit={limit}&cursor={cursor}");
            }
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_pages_full_pages_in_time_order_from_its_index() {
    use inc_shared::domain::{Channel, Status};
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let store = t.store();
    // 480 notifications: four channels, four statuses, six payments, three
    // event types, two endpoints.
    let payloads = [
        Payload::Sms {
            to: "+15550000000".into(),
            text: "f".into(),
        },
        Payload::Email {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
        },
        Payload::Whatsapp {
            to: "+15550000000".into(),
            template: "t".into(),
            language: "en".into(),
            parameters: vec![],
        },
        Payload::Sms {
            to: "+15550000001".into(),
            text: "g".into(),
        },
    ];
    let statuses = [
        Status::Queued,
        Status::Failed,
        Status::Delivered,
        Status::Failed,
    ];
    let mut all: Vec<Notification> = Vec::new();
    for batch in 0..6 {
        let notifications: Vec<Notification> = (0..80)
            .map(|i| {
                // Every fifth a webhook to one of two endpoints; three types.
                let draft = match i % 5 {
                    4 => NotificationDraft::webhook(
                        inc_shared::domain::WebhookPayload {
                            content_type: "application/json".into(),
                            body: "{}".into(),
                            ipn_type: None,
                            source: None,
                        },
                        format!("ep_{}", i % 2),
                    ),
                    _ => NotificationDraft::new(payloads[i % 4].clone()),
                };
                let mut n = Notification::create(
                    &acct.id,
                    &format!("evt-{batch}-{i}"),
                    ["payment.paid", "order.completed", "iot.alert"][i % 3],
                    draft,
                    Some((format!("ses-{}", i % 6), Some(format!("ord-{}", i % 3)))),
                    chrono::Utc::now(),
                );
                n.status = statuses[(i / 4) % 4];
                n
            })
            .collect();
        store
            .put_notifications(&notifications)
            .await
            .expect("write");
        all.extend(notifications);
    }
    let expect = |keep: &dyn Fn(&Notification) -> bool| -> Vec<String> {
        let mut ids: Vec<String> = all
            .iter()
            .filter(|n| keep(n))
            .map(|n| n.notification_id.clone())
            .collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("status=failed", expect(&|n| n.status == Status::Failed)),
        ("channel=email", expect(&|n| n.channel == Channel::Email)),
        (
            "channel=sms&status=failed",
            expect(&|n| n.channel == Channel::Sms && n.status == Status::Failed),
        ),
        (
            "session_id=ses-2",
            expect(&|n| n.session_id.as_deref() == Some("ses-2")),
        ),
        (
            "order_no=ord-1",
            expect(&|n| n.order_no.as_deref() == Some("ord-1")),
        ),
        (
            "order_no=ord-0&channel=whatsapp",
            expect(&|n| n.order_no.as_deref() == Some("ord-0") && n.channel == Channel::Whatsapp),
        ),
        (
            "endpoint_id=ep_1",
            expect(&|n| n.endpoint_id.as_deref() == Some("ep_1")),
        ),
        (
            "endpoint_id=ep_0&event_type=payment.paid",
            expect(&|n| n.endpoint_id.as_deref() == Some("ep_0") && n.event_type == "payment.paid"),
        ),
        (
            "event_type=order.completed",
            expect(&|n| n.event_type == "order.completed"),
        ),
        (
            "event_type=iot.alert&status=failed",
            expect(&|n| n.event_type == "iot.alert" && n.status == Status::Failed),
        ),
        (
            "session_id=ses-4&status=delivered",
            expect(&|n| n.session_id.as_deref() == Some("ses-4") && n.status == Status::Delivered),
        ),
    ];
    for (filter, expected) in &cases {
        assert!(expected.len() > 7, "{filter}: the case needs several pages");
        let seen = page_all(&t, &acct.key, &format!("/v1/notifications?{filter}"), 7).await;
        assert_eq!(
            &seen, expected,
            "{filter}: each once, newest first, no other"
        );
    }

    // A status change moves a notification between status partitions.
    let moved = all
        .iter()
        .find(|n| n.status == Status::Failed)
        .expect("a failed one");
    store
        .requeue_notification(&acct.id, &moved.notification_id)
        .await
        .expect("update");
    let failed = page_all(&t, &acct.key, "/v1/notifications?status=failed", 100).await;
    assert!(!failed.contains(&moved.notification_id));
    assert_eq!(failed.len(), cases[0].1.len() - 1);
    let queued = page_all(&t, &acct.key, "/v1/notifications?status=queued", 100).await;
    assert!(queued.contains(&moved.notification_id));

    // Another account's filters see none of them.
    let other = t.account(None).await;
    assert!(
        page_all(&t, &other.key, "/v1/notifications?session_id=ses-2", 10)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_queues_again_every_failed_notification_of_the_window() {
    // Two attempts each; the endpoint fails the first four requests.
    let t = TestStack::with_parameters(&[("RetrySchedule", "0")]).await;
    let sink = Sink::answering(&[500, 500, 500, 500]).await;
    let acct = t.account(Some(&sink.url())).await;
    let since = chrono::Utc::now().to_rfc3339();
    let failed = t.post_events(&acct.key, "doomed", 2).await;
    for id in &failed {
        t.notification_when(&acct.key, id, |n| n["status"] == "failed")
            .await;
    }
    let fine = t.post_events(&acct.key, "fine", 1).await;
    t.notification_when(&acct.key, &fine[0], |n| n["status"] == "delivered")
        .await;

    // Bad requests change nothing.
    for (body, field) in [
        (json!({}), None),
        (json!({"since": "yesterday"}), Some("since")),
        (
            json!({"since": since, "until": "2000-01-01T00:00:00Z"}),
            Some("until"),
        ),
        (json!({"since": since, "channel": "fax"}), Some("channel")),
        (json!({"since": since, "status": "failed"}), None),
    ] {
        let (status, answer) = t
            .send_json("/v1/notifications/recover", &acct.key, body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    // Another channel has nothing to recover.
    let (status, answer) = t
        .send_json(
            "/v1/notifications/recover",
            &acct.key,
            json!({"since": since, "channel": "sms"}),
        )
        .await;
    assert_eq!((status, &answer["recovered"]), (202, &json!(0)), "{answer}");

    let (status, answer) = t
        .send_json(
            "/v1/notifications/recover",
            &acct.key,
            json!({"since": since}),
        )
        .await;
    assert_eq!((status, &answer["recovered"]), (202, &json!(2)), "{answer}");
    let ids: BTreeSet<&str> = answer["notification_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(ids, failed.iter().map(String::as_str).collect());
    for id in &failed {
        let n = t
            .notification_when(&acct.key, id, |n| n["status"] == "delivered")
            .await;
        // A new chain after the two failed attempts, the same webhook-id.
        assert_eq!(n["attempts"].as_array().map(Vec::len), Some(3), "{n}");
    }
    let (_, delivered) = t
        .get(&acct.key, &format!("/v1/notifications/{}", fine[0]))
        .await;
    assert_eq!(delivered["attempts"].as_array().map(Vec::len), Some(1));
}

/// A notification failed by another function (its endpoint disabled while
/// it waited for a retry) owes its dead-letter copy until a delivery
/// message comes by. Recovered first, its recovery's message sends that
/// copy and then delivers it — it is not left queued for the sweeper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_notification_still_owing_its_dead_letter_copy_is_delivered() {
    // One failed attempt, then a retry ten minutes away: only the
    // recovery's message can deliver it within the test.
    let t = TestStack::with_parameters(&[("RetrySchedule", "600")]).await;
    let sink = Sink::answering(&[503]).await;
    let acct = t.account(Some(&sink.url())).await;
    let since = chrono::Utc::now().to_rfc3339();
    let id = t.post_events(&acct.key, "owed", 1).await[0].clone();
    t.notification_when(&acct.key, &id, |n| n["status"] == "retrying")
        .await;
    let reason = "the endpoint was disabled: by the test";
    assert!(
        t.store()
            .fail_pending(&acct.id, &id, reason)
            .await
            .expect("fail")
    );
    let (status, answer) = t
        .send_json(
            "/v1/notifications/recover",
            &acct.key,
            json!({"since": since}),
        )
        .await;
    assert_eq!((status, &answer["recovered"]), (202, &json!(1)), "{answer}");
    let n = t
        .notification_when(&acct.key, &id, |n| n["status"] == "delivered")
        .await;
    assert_eq!(n["attempts"].as_array().map(Vec::len), Some(2), "{n}");
    assert_eq!(sink.received().len(), 2);
    let (copy, why) = t.dead_letter().await;
    assert!(copy.body().is_some_and(|b| b.contains(&id)), "{copy:?}");
    assert_eq!(why.as_deref(), Some(reason));
    let stored = t
        .store()
        .get_notification(&acct.id, &id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.dead_letter_pending, None, "the copy is owed no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_timeline_per_order_across_every_channel() {
    let t = TestStack::start().await;
    let endpoint = Sink::start().await;
    // The SMS gateway fails once: the SMS has two attempts.
    let gateway = Sink::answering(&[503]).await;
    let acct = t.account(Some(&endpoint.url())).await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"channels": {"sms": {"url": format!("http://{}/sms", gateway.addr), "api_key": "k-1234", "sender": "SHOP"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let payment = |id: &str, state: &str| {
        json!({"id": id, "type": "payment.state_changed",
            "data": {"session_id": "s_tl", "order_no": "o_tl", "state": state, "amount": "5.000",
                     "currency_code": "KWD", "customer_phone": "+96599999999", "language": "en",
                     "notifications": {"sms": ["paid"]}}})
    };
    let (_, created) = t.post_event(&acct.key, &payment("pay-1", "created")).await;
    let (_, paid) = t.post_event(&acct.key, &payment("pay-2", "paid")).await;
    let mut ids: Vec<String> = [created, paid]
        .iter()
        .flat_map(|b| b["notifications"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "two webhooks and one SMS");
    for id in &ids {
        t.notification_when(&acct.key, id, |n| n["status"] == "delivered")
            .await;
    }

    let (status, by_session) = t.get(&acct.key, "/v1/transactions/s_tl").await;
    assert_eq!(status, 200, "{by_session}");
    let (status, by_order) = t.get(&acct.key, "/v1/transactions?order_no=o_tl").await;
    assert_eq!((status, &by_order), (200, &by_session));
    assert_eq!(by_session["transaction"]["state"], "paid");
    assert!(
        by_session["transaction"].get("customer_phone").is_none(),
        "no contacts"
    );
    let timeline = by_session["timeline"].as_array().expect("timeline");
    let kinds: Vec<&str> = timeline.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "state_changed").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "notification").count(), 3);
    // Two webhook attempts and two SMS attempts (503, then 200).
    assert_eq!(
        kinds.iter().filter(|k| **k == "attempt").count(),
        4,
        "{by_session}"
    );
    assert_eq!(kinds.first(), Some(&"state_changed"));
    let times: Vec<&str> = timeline.iter().filter_map(|e| e["at"].as_str()).collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).expect("time"))
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "time order");
    let sms = timeline
        .iter()
        .filter(|e| e["kind"] == "attempt" && e["channel"] == "sms")
        .map(|e| e["status_code"].clone())
        .collect::<Vec<_>>();
    assert_eq!(sms, [json!(503), json!(200)]);
    let mut listed: Vec<String> = by_session["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect();
    listed.sort();
    assert_eq!(listed, ids);

    for (path, code) in [
        ("/v1/transactions/s_nope", 404),
        ("/v1/transactions?order_no=o_nope", 404),
        ("/v1/transactions", 400),
        ("/v1/transactions?order_no=o_tl&x=1", 400),
    ] {
        assert_eq!(t.get(&acct.key, path).await.0, code, "{path}");
    }
}
