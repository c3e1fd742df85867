//! The control panel in a real browser: Debian's chromium, driven by
//! Playwright (`tests/browser/panel.mjs`), against the page the local stack
//! serves. The script works the page as a merchant would; this side checks
//! what reached the endpoint and what was stored. `make test` installs
//! chromium and Playwright (`scripts/install-tools.sh browser`).

use std::process::Command;

use inc_tests::{Sink, TestStack, workspace_root};

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

    let script = root.join("tests/browser/panel.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "Playwright is missing: run `scripts/install-tools.sh browser`"
    );
    let base = t.url("");
    let sink_url = sink.url();
    let key = acct.key.clone();
    let shot = screenshot.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("INC_URL", base.trim_end_matches('/'))
            .env("INC_API_KEY", key)
            .env("INC_SINK_URL", sink_url)
            .env("INC_SCREENSHOT", shot)
            .output()
    })
    .await
    .expect("join")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary");

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

    let png = std::fs::read(&screenshot).expect("a screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    println!("screenshot: {}", screenshot.display());
}
