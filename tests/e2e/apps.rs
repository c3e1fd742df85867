//! Apps (contract section 14) end to end on the local stack: devices,
//! mobile push through FCM and APNs servers on loopback that check what
//! the real ones check (the RS256 assertion and its access token, HTTP/2,
//! the ES256 provider token), gone devices removed by themselves, the
//! in-app feed read by recipient token, and its items and reads arriving
//! live over the WebSocket API.

use inc_tests::push::{FakePush, push_settings};
use inc_tests::{PATIENCE, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

#[path = "apps/devices.rs"]
mod devices;
#[path = "apps/feed.rs"]
mod feed;

const FCM_TOKEN: &str = "fcm-ada-phone-000000000001";
const FCM_TOKEN_2: &str = "fcm-ada-tablet-00000000002";

fn apns_token(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

/// An account whose push goes to `fcm` and `apns`, with the recipient
/// `ada`.
async fn push_account(t: &TestStack, fcm: &FakePush, apns: &FakePush) -> String {
    let acct = t.account(None).await;
    let key = acct.key;
    let (status, settings) = t.patch_settings(&key, push_settings(fcm, apns)).await;
    assert_eq!(status, 200, "{settings}");
    let text = settings.to_string();
    assert!(
        !text.contains("BEGIN PRIVATE KEY"),
        "keys come back masked: {text}"
    );
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/recipients/ada",
            &key,
            Some(json!({"language": "en"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    key
}

async fn add_device(t: &TestStack, key: &str, platform: &str, token: &str) {
    let (status, body) = t
        .send_json(
            "/v1/recipients/ada/devices",
            key,
            json!({"platform": platform, "token": token, "app": "shop"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn push(t: &TestStack, key: &str, id: &str) -> (u16, Value) {
    t.send_json(
        "/v1/messages",
        key,
        json!({"id": id, "channel": "push", "to_recipient": "ada", "title": "Order A-17",
               "text": "Your order is on its way", "data": {"order": "A-17", "step": 2}}),
    )
    .await
}

fn notification_ids(answer: &Value) -> Vec<String> {
    answer["notification_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| {
            vec![
                answer["notification_id"]
                    .as_str()
                    .expect("an id")
                    .to_owned(),
            ]
        })
}

async fn settled(t: &TestStack, key: &str, ids: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            t.notification_when(key, id, |n| {
                ["delivered", "failed"].contains(&n["status"].as_str().unwrap_or_default())
            })
            .await,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reaches_every_device_by_fcm_and_apns_and_gone_devices_leave() {
    let t =
        TestStack::with_parameters(&[("RetrySchedule", "1,1,1"), ("RetryFloorSeconds", "1")]).await;
    let (fcm, apns) = (FakePush::fcm().await, FakePush::apns().await);
    let key = &push_account(&t, &fcm, &apns).await;

    // A key that is not one is refused when saved, naming the field.
    let mut bad = push_settings(&fcm, &apns);
    bad["channels"]["push"]["apns"]["private_key"] =
        json!("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----");
    let (status, body) = t.patch_settings(key, bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"], "channels.push.apns.private_key",
        "{body}"
    );

    // Devices: strict input, masked answers, only the account's recipients.
    for (device, field) in [
        (json!({"platform": "gcm", "token": "x"}), "platform"),
        (json!({"platform": "apns", "token": "not-hex"}), "token"),
        (json!({"platform": "fcm"}), "token"),
    ] {
        let (status, body) = t
            .send_json("/v1/recipients/ada/devices", key, device.clone())
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{device}: {body}"
        );
    }
    let (status, _) = t
        .send_json(
            "/v1/recipients/nobody/devices",
            key,
            json!({"platform": "fcm", "token": FCM_TOKEN}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = push(&t, key, "no-devices").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("recipient_without_devices")),
        "{body}"
    );

    add_device(&t, key, "fcm", FCM_TOKEN).await;
    add_device(&t, key, "apns", &apns_token(1)).await;
    let (status, devices) = t.get(key, "/v1/recipients/ada/devices").await;
    assert_eq!(status, 200);
    assert_eq!(
        devices["items"].as_array().map(Vec::len),
        Some(2),
        "{devices}"
    );
    assert!(
        !devices.to_string().contains(FCM_TOKEN),
        "tokens are masked: {devices}"
    );

    // One message, one notification per device, each through its provider.
    let (status, answer) = push(&t, key, "shipped-1").await;
    assert_eq!(status, 202, "{answer}");
    let ids = notification_ids(&answer);
    assert_eq!(ids.len(), 2, "{answer}");
    for n in settled(&t, key, &ids).await {
        assert_eq!(n["status"], "delivered", "{n}");
        assert_eq!(n["channel"], "push");
        assert!(
            !n.to_string().contains(FCM_TOKEN),
            "the device is masked: {n}"
        );
    }
    let sent = fcm.pushed();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].device, FCM_TOKEN);
    assert_eq!(
        sent[0].body["message"]["notification"]["title"],
        "Order A-17"
    );
    assert_eq!(
        sent[0].body["message"]["data"],
        json!({"order": "A-17", "step": "2"})
    );
    let sent = apns.pushed();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].device, apns_token(1));
    assert_eq!(
        sent[0].body["aps"]["alert"]["body"],
        "Your order is on its way"
    );
    assert_eq!(sent[0].headers["apns-push-type"], "alert");

    // Credentials are reused: a second message signs nothing new.
    let (_, answer) = push(&t, key, "shipped-2").await;
    settled(&t, key, &notification_ids(&answer)).await;
    assert_eq!((fcm.exchanges(), apns.provider_tokens()), (1, 1));

    // A token revoked early: its 401 is retried with a new one. A token is
    // renewed five minutes before it expires: this one lives 301 s, so the
    // sends a second later exchange again.
    fcm.token_lifetime(301);
    fcm.revoke_tokens();
    let (_, answer) = push(&t, key, "shipped-revoked").await;
    for n in settled(&t, key, &notification_ids(&answer)).await {
        assert_eq!(n["status"], "delivered", "{n}");
    }
    assert_eq!(fcm.exchanges(), 2);
    let sends = std::sync::atomic::AtomicUsize::new(0);
    eventually(
        "an access token renewed before it expires",
        PATIENCE,
        || async {
            let n = sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (_, answer) = push(&t, key, &format!("shipped-renewal-{n}")).await;
            settled(&t, key, &notification_ids(&answer)).await;
            (fcm.exchanges() == 3).then_some(())
        },
    )
    .await;

    // A 5xx is retried like any message; another 4xx fails that device
    // alone and keeps it.
    fcm.answer_next(&[503]);
    apns.answer_next(&[400]);
    let (_, answer) = push(&t, key, "shipped-3").await;
    let by_channel: Vec<(String, u64)> = settled(&t, key, &notification_ids(&answer))
        .await
        .iter()
        .map(|n| {
            let platform = n["request"]["to"].as_str().unwrap_or_default()[..3].to_owned();
            let attempts = n["attempts"].as_array().map_or(0, |a| a.len() as u64);
            (
                format!("{platform}:{}", n["status"].as_str().unwrap_or_default()),
                attempts,
            )
        })
        .collect();
    assert!(
        by_channel.contains(&("fcm:delivered".into(), 2)),
        "{by_channel:?}"
    );
    assert!(
        by_channel.contains(&("apn:failed".into(), 1)),
        "{by_channel:?}"
    );
    assert_eq!(
        t.get(key, "/v1/recipients/ada/devices").await.1["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // A push campaign reaches each member at its newest device (ada's
    // iPhone, added last).
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/templates/push/sale",
            key,
            Some(json!({"languages": {"en": {"title": "Sale", "body": "Hi {{ recipient.id }}, {{ offer }}",
                                              "data": {"offer": "{{ offer }}"}}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/lists/app-users",
            key,
            Some(json!({"name": "App users"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .send_json(
            "/v1/lists/app-users/members",
            key,
            json!({"recipients": [{"id": "ada"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = apns.pushed().len();
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            key,
            json!({"id": "sale-1", "name": "Sale", "list": "app-users", "channel": "push",
                   "template": "sale", "data": {"offer": "20% off"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = eventually("the push campaign sent", PATIENCE, || async {
        let (_, c) = t.get(key, "/v1/campaigns/sale-1").await;
        (c["status"] == "sent").then_some(c)
    })
    .await;
    assert_eq!(
        (
            done["counts"]["members"].as_u64(),
            done["counts"]["sent"].as_u64()
        ),
        (Some(1), Some(1)),
        "{done}"
    );
    let sent = apns.pushed();
    assert_eq!(sent.len(), before + 1);
    let last = &sent[before];
    assert_eq!(last.device, apns_token(1));
    assert_eq!(last.body["aps"]["alert"]["body"], "Hi ada, 20% off");
    assert_eq!(last.body["offer"], "20% off");

    // Devices the providers say are gone are removed by themselves.
    add_device(&t, key, "fcm", FCM_TOKEN_2).await;
    fcm.forget_device(FCM_TOKEN);
    apns.forget_device(&apns_token(1));
    let (_, answer) = push(&t, key, "shipped-4").await;
    let statuses: Vec<String> = settled(&t, key, &notification_ids(&answer))
        .await
        .iter()
        .map(|n| n["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "failed").count(),
        2,
        "{statuses:?}"
    );
    let (_, devices) = t.get(key, "/v1/recipients/ada/devices").await;
    assert_eq!(
        devices["items"].as_array().map(Vec::len),
        Some(1),
        "only the tablet is left: {devices}"
    );

    // Removing the last one by hand: 204, then 404.
    let path = format!("/v1/recipients/ada/devices/{FCM_TOKEN_2}");
    assert_eq!(t.call(Method::DELETE, &path, key, None).await.0, 204);
    assert_eq!(t.call(Method::DELETE, &path, key, None).await.0, 404);
    eventually("no devices", PATIENCE, || async {
        (push(&t, key, "shipped-5").await.0 == 422).then_some(())
    })
    .await;
}
