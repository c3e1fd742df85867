//! The control panel in a real browser: Debian's chromium, driven by
//! Playwright (`tests/browser/panel.mjs`), against the page the local stack
//! serves. The script works the page as a merchant would; this side checks
//! what reached the endpoint and what was stored. `make test` installs
//! chromium and Playwright (`scripts/install-tools.sh browser`).

use std::process::Command;

use inc_tests::{PATIENCE, Sink, TestStack, eventually, json, workspace_root};
use reqwest::Method;
use serde_json::Value;

/// Runs `tests/browser/{script}` with node, its environment `env`, and
/// answers the summary it prints.
async fn run_script(script: &str, env: &[(&str, String)]) -> Value {
    let root = workspace_root();
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "Playwright is missing: run `scripts/install-tools.sh browser`"
    );
    let mut command = Command::new("node");
    command.arg(root.join("tests/browser").join(script));
    for (k, v) in env {
        command.env(k, v);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("summary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_signs_in_changes_settings_sees_the_history_and_resends() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sink = Sink::start().await;
    let root = workspace_root();
    let artifacts = root.join("target/artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join("panel.png");
    let _ = std::fs::remove_file(&screenshot);

    // A paid order whose WhatsApp message the Cloud API refuses for good:
    // the SMS stands in for it, and the gateway's receipt says it arrived.
    let gateway = Sink::start().await;
    let cloud_api = Sink::answering(&[400]).await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"channels": {
                "sms": {"url": format!("http://{}/sms", gateway.addr), "api_key": "gateway-key-1234"},
                "whatsapp": {"base_url": format!("http://{}/v21.0", cloud_api.addr), "phone_number_id": "1234567890",
                             "access_token": "wa-token-5678", "templates": {"paid": "payment_paid"}, "fallback": "sms"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .post_event(
            &acct.key,
            &json!({"id": "panel-pay-1", "type": "payment.state_changed", "data": {
                "session_id": "s_panel", "order_no": "order-panel", "state": "paid", "amount": "5.000",
                "currency_code": "KWD", "customer_phone": "+96599999999", "customer_first_name": "Asha",
                "notifications": {"whatsapp": ["paid"]}}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (whatsapp_id, sms_id) = eventually("the fallback SMS delivered", PATIENCE, || async {
        let (_, list) = t
            .get(&acct.key, "/v1/notifications?session_id=s_panel")
            .await;
        let items = list["items"].as_array()?;
        let sms = items
            .iter()
            .find(|n| n["channel"] == "sms" && n["status"] == "delivered")?;
        Some((
            sms["fallback_of"].as_str()?.to_owned(),
            sms["id"].as_str()?.to_owned(),
        ))
    })
    .await;
    let (_, settings) = t.get(&acct.key, "/v1/settings").await;
    let receipt = t
        .http
        .post(
            settings["receipt_urls"]["sms"]
                .as_str()
                .expect("receipt URL"),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "ipn_type=DELIVERY&status=RESULT_OK&status_code=-1&custom={sms_id}"
        ))
        .send()
        .await
        .expect("receipt posted");
    assert_eq!(receipt.status().as_u16(), 200);

    let summary = run_script(
        "panel.mjs",
        &[
            ("INC_URL", t.url("").trim_end_matches('/').to_owned()),
            ("INC_API_KEY", acct.key.clone()),
            ("INC_SINK_URL", sink.url()),
            ("INC_SCREENSHOT", screenshot.display().to_string()),
            ("INC_FALLBACK_SMS", sms_id.clone()),
            ("INC_FALLBACK_OF", whatsapp_id.clone()),
        ],
    )
    .await;

    // The settings the page saved are the account's.
    let (_, settings) = t.get(&acct.key, "/v1/settings").await;
    assert_eq!(settings["endpoint_url"], sink.url().as_str());
    assert_eq!(settings["webhook_format"], "json");

    // The endpoint the page added, with the types and secret it set; the
    // one it deleted is gone.
    let endpoint_id = summary["endpoint_id"].as_str().expect("endpoint id");
    let (_, endpoint) = t
        .get(&acct.key, &format!("/v1/endpoints/{endpoint_id}"))
        .await;
    assert_eq!(
        endpoint["filter_types"],
        serde_json::json!(["order.*", "stock.low"])
    );
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint["description"], "Order management");
    let (_, secret) = t
        .get(&acct.key, &format!("/v1/endpoints/{endpoint_id}/secret"))
        .await;
    assert_eq!(secret["secret"], summary["endpoint_secret"]);
    let (_, list) = t.get(&acct.key, "/v1/endpoints").await;
    assert_eq!(list["items"].as_array().expect("items").len(), 2, "{list}");
    assert_eq!(summary["endpoints"], 2);

    // The template it saved, in Italian.
    let (status, template) = t.get(&acct.key, "/v1/templates/sms/service_reminder").await;
    assert_eq!(status, 200, "{template}");
    assert_eq!(
        template["languages"]["it"]["body"],
        "Ciao {{ name }}, la tua auto è attesa il {{ date }}."
    );
    assert_eq!(summary["template_preview"], "ok");

    // The opt-outs it left: the email it added, the SMS it removed.
    let (_, opt_outs) = t.get(&acct.key, "/v1/suppressions").await;
    let listed: Vec<(&str, &str)> = opt_outs["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| Some((s["channel"].as_str()?, s["to"].as_str()?)))
        .collect();
    assert_eq!(listed, [("email", "gone@example.com")], "{opt_outs}");
    assert_eq!(summary["opt_outs"], 1);

    // The scheduled message it canceled, and the one it left.
    let (_, canceled) = t.get(&acct.key, "/v1/messages/panel-later-1").await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    let (_, left) = t.get(&acct.key, "/v1/messages/panel-later-2").await;
    assert_eq!(left["status"], "scheduled", "{left}");
    assert_eq!(summary["scheduled"], 1);

    // The endpoint got the webhook twice, signed JSON, one webhook-id.
    let received = sink.wait_for(2).await;
    assert_eq!(received.len(), 2);
    let id = summary["notification_id"].as_str().expect("id");
    for r in &received {
        assert_eq!(r.headers.get("webhook-id").map(String::as_str), Some(id));
        assert!(r.headers["content-type"].starts_with("application/json"));
    }
    assert_eq!(summary["attempts"], 2);

    assert_eq!(summary["fallback"], whatsapp_id.as_str());
    // The page's recover sent the refused WhatsApp message again; the Cloud
    // API took it this time.
    eventually(
        "the recovered WhatsApp message delivered",
        PATIENCE,
        || async {
            let (_, n) = t
                .get(&acct.key, &format!("/v1/notifications/{whatsapp_id}"))
                .await;
            (n["status"] == "delivered").then_some(())
        },
    )
    .await;
    assert_eq!(cloud_api.received().len(), 2);

    let png = std::fs::read(&screenshot).expect("a screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    println!("screenshot: {}", screenshot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_finds_a_recipient_and_uploads_a_csv_file_into_a_list() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let key = &acct.key;
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/recipients/ada",
            key,
            Some(json!({"phone": "+96599990001", "timezone": "Asia/Kuwait"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/recipients/ada/preferences",
            key,
            Some(json!({"categories": {"marketing": {"sms": false}}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "promo", "channel": "sms", "to_recipient": "ada", "text": "Sale!", "category": "marketing"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["notification_id"].as_str().expect("id").to_owned();
    t.notification_when(key, &id, |n| n["status"] == "failed")
        .await;
    // A device and an in-app item (contract 14), which the view shows.
    let (status, body) = t
        .send_json(
            "/v1/recipients/ada/devices",
            key,
            json!({"platform": "fcm", "token": "fcm-ada-phone-000000000001", "app": "shop"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "ready", "channel": "in_app", "to_recipient": "ada", "title": "Order A-17",
                   "text": "Your order is ready"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["notification_id"].as_str().expect("id").to_owned();
    t.notification_when(key, &id, |n| n["status"] == "delivered")
        .await;

    let summary = run_script(
        "recipients.mjs",
        &[
            ("INC_URL", t.url("").trim_end_matches('/').to_owned()),
            ("INC_API_KEY", acct.key.clone()),
        ],
    )
    .await;
    assert_eq!(
        summary["recipient_messages"], 2,
        "the refused SMS and the in-app item"
    );

    // What the page uploaded is the list's, each row as the file said.
    let (_, list) = t.get(key, "/v1/lists/spring").await;
    assert_eq!(
        (&list["name"], &list["member_count"]),
        (&json!("Spring offers"), &json!(3))
    );
    let (_, p3) = t.get(key, "/v1/recipients/p3").await;
    assert_eq!(p3["email"], "p3@example.com");
    assert_eq!(p3["data"], json!({"tier": "silver, new"}));
    assert_eq!(
        t.get(key, "/v1/recipients/p2").await.0,
        404,
        "the refused row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_watches_a_campaign_go_reads_its_replies_and_cancels_another() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let key = &acct.key;
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/templates/sms/survey",
            key,
            Some(json!({"languages": {"en": {"body": "How did we do, {{ recipient.id }}?"}}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/lists/panel",
            key,
            Some(json!({"name": "Panel"})),
        )
        .await;
    assert_eq!(status, 200);
    let rows: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("p{i:02}"), "phone": format!("+3933320{i:05}")}))
        .collect();
    let (status, body) = t
        .send_json("/v1/lists/panel/members", key, json!({"recipients": rows}))
        .await;
    assert_eq!(status, 200, "{body}");
    let campaign = |id: &str, rate: u32| {
        json!({"id": id, "name": if id == "survey" { "Survey" } else { "Slow" }, "list": "panel",
               "channel": "sms", "template": "survey", "rate": rate})
    };
    // The survey goes at 5 a second: six seconds to watch.
    let (status, body) = t
        .send_json("/v1/campaigns", key, campaign("survey", 5))
        .await;
    assert_eq!(status, 202, "{body}");
    // A member answers as soon as its message is out.
    let (_, settings) = t.get(key, "/v1/settings").await;
    let url = settings["receipt_urls"]["sms"]
        .as_str()
        .expect("receipt URL")
        .to_owned();
    eventually("a first survey message", PATIENCE, || async {
        let (_, c) = t.get(key, "/v1/campaigns/survey").await;
        (c["counts"]["sent"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    let first = gateway.received()[0].body.clone();
    let fields: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(&first).expect("form");
    let answer = t
        .http
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "ipn_type=MO&from={}&msg=5+stars",
            fields["to"].replace('+', "%2B")
        ))
        .send()
        .await
        .expect("reply posted");
    assert_eq!(answer.status().as_u16(), 200);
    // The slow one: one a second, so the page finds it still sending.
    let (status, _) = t.send_json("/v1/campaigns", key, campaign("slow", 1)).await;
    assert_eq!(status, 202);

    let shot = workspace_root().join("target/artifacts/campaigns.png");
    std::fs::create_dir_all(shot.parent().expect("folder")).expect("artifacts");
    let summary = run_script(
        "campaigns.mjs",
        &[
            ("INC_URL", t.url("").trim_end_matches('/').to_owned()),
            ("INC_API_KEY", acct.key.clone()),
            ("INC_SCREENSHOT", shot.display().to_string()),
        ],
    )
    .await;
    assert!(summary["samples"].as_i64() >= Some(2), "{summary}");
    // What the page did is the campaigns' state.
    let (_, slow) = t.get(key, "/v1/campaigns/slow").await;
    assert_eq!(slow["status"], "canceled", "{slow}");
    let (_, survey) = t.get(key, "/v1/campaigns/survey").await;
    assert_eq!(survey["counts"]["sent"], 30);
    assert_eq!(survey["counts"]["replied"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_opens_the_feed_demo_with_a_token_and_sees_items_arrive_live() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let (status, _) = t
        .call(Method::PUT, "/v1/recipients/ada", key, Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "welcome", "channel": "in_app", "to_recipient": "ada", "title": "Hello",
                   "text": "Welcome aboard"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["notification_id"].as_str().expect("id").to_owned();
    t.notification_when(key, &id, |n| n["status"] == "delivered")
        .await;
    let (status, token) = t
        .send_json("/v1/recipients/ada/token", key, json!({}))
        .await;
    assert_eq!(status, 201, "{token}");

    let summary = run_script(
        "feed-demo.mjs",
        &[
            ("INC_URL", t.url("").trim_end_matches('/').to_owned()),
            ("INC_API_KEY", acct.key.clone()),
            (
                "INC_TOKEN",
                token["token"].as_str().expect("token").to_owned(),
            ),
        ],
    )
    .await;
    assert_eq!(summary, json!({"items": 2, "sockets": 1}));
    // What the page read is what the API holds.
    let (_, feed) = t.get(key, "/v1/recipients/ada/feed").await;
    assert_eq!(feed["unread_count"], 1, "{feed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_adds_a_queue_and_edits_its_transformation_against_a_sample_event() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue = sqs
        .create_queue()
        .queue_name("panel-orders")
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let summary = run_script(
        "transformation.mjs",
        &[
            ("INC_URL", t.url("").trim_end_matches('/').to_owned()),
            ("INC_API_KEY", acct.key.clone()),
            ("INC_QUEUE_URL", queue.clone()),
        ],
    )
    .await;
    let id = summary["endpoint"]
        .as_str()
        .expect("an endpoint")
        .to_owned();
    let (_, endpoint) = t.get(&acct.key, &format!("/v1/endpoints/{id}")).await;
    assert_eq!(endpoint["type"], "sqs");
    assert_eq!(
        endpoint["transformation"],
        r#"{order: .data.order_no, by: "panel"}"#
    );
    // What the page saved is what the queue receives.
    let (status, _) = t
        .post_event(
            &acct.key,
            &json!({"id": "panel-1", "type": "order.completed", "data": {"order_no": "A-9"}}),
        )
        .await;
    assert_eq!(status, 202);
    let body = eventually("the reshaped message", PATIENCE, || async {
        sqs.receive_message()
            .queue_url(&queue)
            .wait_time_seconds(1)
            .send()
            .await
            .ok()?
            .messages?
            .first()?
            .body
            .clone()
    })
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"order": "A-9", "by": "panel"})
    );
}
