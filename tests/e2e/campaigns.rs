//! Campaigns and surveys (contract section 13) end to end on the local
//! stack: a list with opted-out, preference-off and address-less members
//! reached once each and counted exactly, the events and the history,
//! replies, pause, resume and cancel, recurrence, the pace, and the faults
//! (`campaigns/faults.rs`) under which each member still gets one message.

use std::collections::BTreeMap;

use inc_tests::{Account, PATIENCE, Sink, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;

#[path = "campaigns/control.rs"]
mod control;
#[path = "campaigns/faults.rs"]
mod faults;

/// A phone number of member `i`.
fn phone(i: usize) -> String {
    format!("+3933310{i:05}")
}

/// Puts `rows` (members with their `id`) in `list`, in batches.
async fn fill(t: &TestStack, key: &str, list: &str, rows: Vec<Value>) {
    let (status, body) = t
        .call(
            Method::PUT,
            &format!("/v1/lists/{list}"),
            key,
            Some(json!({"name": list})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for chunk in rows.chunks(1000) {
        let (status, body) = t
            .send_json(
                &format!("/v1/lists/{list}/members"),
                key,
                json!({"recipients": chunk}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// `n` members with a phone and a name.
fn members(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": format!("{prefix}{i:05}"), "phone": phone(i), "language": "en",
                        "data": {"name": format!("Member {i}")}})
        })
        .collect()
}

/// An account whose SMS gateway is `gateway`, with the SMS template
/// `survey` ("Hi {{ recipient.data.name }}, {{ question }}").
async fn survey_account(t: &TestStack, gateway: &Sink) -> Account {
    let acct = t.account_with_sms(gateway).await;
    let (status, body) = t
        .call(
            Method::PUT,
            "/v1/templates/sms/survey",
            &acct.key,
            Some(json!({"languages": {"en": {"body": "Hi {{ recipient.data.name }}, {{ question }}"}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    acct
}

/// The campaign once `ready` says it is.
async fn campaign_when(
    t: &TestStack,
    key: &str,
    id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    eventually(&format!("campaign {id}"), PATIENCE * 2, || async {
        let (status, body) = t.get(key, &format!("/v1/campaigns/{id}")).await;
        (status == 200 && ready(&body)).then_some(body)
    })
    .await
}

/// The gateway's requests per notification id (`custom`) and per number.
fn sends(gateway: &Sink) -> (BTreeMap<String, usize>, BTreeMap<String, String>) {
    let mut by_id = BTreeMap::new();
    let mut text_to = BTreeMap::new();
    for r in gateway.received() {
        let fields: BTreeMap<String, String> = serde_urlencoded::from_str(&r.body).expect("form");
        *by_id.entry(fields["custom"].clone()).or_default() += 1;
        text_to.insert(fields["to"].clone(), fields["msg"].clone());
    }
    (by_id, text_to)
}

/// Every notification of a campaign, through the history's index.
async fn history(t: &TestStack, key: &str, campaign: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = format!("/v1/notifications?campaign_id={campaign}&limit=100");
    loop {
        let (status, page) = t.get(key, &path).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => {
                path = format!("/v1/notifications?campaign_id={campaign}&limit=100&cursor={c}")
            }
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_reaches_each_member_once_counts_exactly_and_takes_replies() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    let key = &acct.key;
    let events = Sink::start().await;
    let (status, body) = t
        .send_json(
            "/v1/endpoints",
            key,
            json!({"url": events.url(), "filter_types": ["campaign.*", "message.replied"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Ten members who get it; one opted out, one who switched marketing SMS
    // off, one with no phone.
    let mut rows = members("m", 10);
    rows.push(json!({"id": "opted", "phone": phone(90), "data": {"name": "Opted"}}));
    rows.push(json!({"id": "pref", "phone": phone(91), "data": {"name": "Pref"}}));
    rows.push(json!({"id": "nophone", "email": "np@example.com", "data": {"name": "No phone"}}));
    fill(&t, key, "panel", rows).await;
    let (status, _) = t
        .send_json(
            "/v1/suppressions",
            key,
            json!({"channel": "sms", "to": phone(90)}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/recipients/pref/preferences",
            key,
            Some(json!({"categories": {"marketing": {"sms": false}}})),
        )
        .await;
    assert_eq!(status, 200);

    let body = json!({"id": "survey-1", "name": "Service survey", "list": "panel", "channel": "sms",
                      "template": "survey", "data": {"question": "how did we do, 1 to 5?"}});
    let (status, answer) = t.send_json("/v1/campaigns", key, body.clone()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer, json!({"id": "survey-1", "status": "sending"}));
    // The same id and body again: the campaign as it is, nothing new.
    let (status, again) = t.send_json("/v1/campaigns", key, body).await;
    assert_eq!(status, 200, "{again}");

    let done = campaign_when(&t, key, "survey-1", |c| c["status"] == "sent").await;
    assert_eq!(
        done["counts"],
        json!({"members": 13, "queued": 0, "sent": 10, "delivered": 0, "failed": 0,
               "suppressed": 2, "skipped": 1, "replied": 0, "canceled": 0}),
        "{done}"
    );
    assert!(done["finished_at"].is_string(), "{done}");
    let (by_id, text_to) = sends(&gateway);
    assert_eq!(by_id.len(), 10, "ten messages");
    assert!(by_id.values().all(|n| *n == 1), "each once: {by_id:?}");
    assert_eq!(text_to[&phone(3)], "Hi Member 3, how did we do, 1 to 5?");
    assert!(!text_to.contains_key(&phone(90)) && !text_to.contains_key(&phone(91)));

    // Each member once in the history, the ones not sent saying why.
    let listed = history(&t, key, "survey-1").await;
    assert_eq!(listed.len(), 13);
    let why: BTreeMap<String, Value> = listed
        .iter()
        .map(|n| {
            (
                n["recipient_id"].as_str().unwrap_or_default().to_owned(),
                n["last_error"].clone(),
            )
        })
        .collect();
    assert_eq!(why["opted"], "suppressed");
    assert_eq!(why["pref"], "preference");
    assert_eq!(why["nophone"], "no_address");
    assert_eq!(why["m00004"], Value::Null);

    // campaign.started, then campaign.finished with the counts.
    let received = events.wait_for(2).await;
    let types: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).expect("JSON")["type"].clone())
        .collect();
    assert_eq!(
        types,
        [json!("campaign.started"), json!("campaign.finished")]
    );
    let finished: Value = serde_json::from_str(&received[1].body).expect("JSON");
    assert_eq!(finished["data"]["counts"]["sent"], 10, "{finished}");

    // A member answers the survey by SMS: a reply linked to the campaign,
    // counted, listed, and sent to the endpoint. STOP is an opt-out instead.
    let (_, settings) = t.get(key, "/v1/settings").await;
    let url = settings["receipt_urls"]["sms"]
        .as_str()
        .expect("receipt URL")
        .to_owned();
    let mo = |from: &str, msg: &str| {
        t.http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "ipn_type=MO&from={}&msg={msg}",
                from.replace('+', "%2B")
            ))
            .send()
    };
    for _ in 0..2 {
        // The provider repeats its report: one reply.
        assert_eq!(mo(&phone(4), "5").await.expect("posted").status(), 200);
    }
    // Delivery reports of three messages, one of them twice at once:
    // `delivered` counts three.
    let sent_to: Vec<String> = listed
        .iter()
        .filter(|n| n["status"] == "delivered")
        .take(3)
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    let delivery = |id: String| {
        t.http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "ipn_type=DELIVERY&status=RESULT_OK&status_code=-1&custom={id}"
            ))
            .send()
    };
    let posts = sent_to
        .iter()
        .cloned()
        .chain(std::iter::once(sent_to[0].clone()))
        .map(delivery);
    for answer in futures::future::join_all(posts).await {
        assert_eq!(answer.expect("posted").status(), 200);
    }
    campaign_when(&t, key, "survey-1", |c| c["counts"]["delivered"] == 3).await;
    assert_eq!(mo(&phone(5), "STOP").await.expect("posted").status(), 200);
    let replied = campaign_when(&t, key, "survey-1", |c| c["counts"]["replied"] == 1).await;
    assert_eq!(replied["status"], "sent");
    let (status, replies) = t.get(key, "/v1/campaigns/survey-1/replies").await;
    assert_eq!(status, 200, "{replies}");
    let items = replies["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{replies}");
    assert_eq!(items[0]["text"], "5");
    assert_eq!(items[0]["recipient_id"], "m00004");
    assert_eq!(items[0]["from"], phone(4));
    let reply_event = events.wait_for(3).await;
    let reply: Value = serde_json::from_str(&reply_event[2].body).expect("JSON");
    assert_eq!(reply["type"], "message.replied");
    assert_eq!(reply["data"]["campaign_id"], "survey-1");
    assert_eq!(reply["data"]["text"], "5");
    let (_, opted) = t.get(key, "/v1/suppressions?channel=sms").await;
    assert!(
        opted.to_string().contains(&phone(5)),
        "STOP opted out: {opted}"
    );

    // The run, with its own counts; another account sees none of it.
    let (_, runs) = t.get(key, "/v1/campaigns/survey-1/runs").await;
    assert_eq!(runs["items"][0]["counts"]["sent"], 10, "{runs}");
    let other = t.account(None).await;
    assert_eq!(t.get(&other.key, "/v1/campaigns/survey-1").await.0, 404);
    assert_eq!(
        t.send_json("/v1/campaigns/survey-1/cancel", &other.key, json!({}))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_a_campaign_and_watches_it_to_its_end() {
    use inc_cli::campaigns::{Create, counts_line, create, watch};
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = survey_account(&t, &gateway).await;
    fill(&t, &acct.key, "cli", members("k", 12)).await;
    let target = inc_cli::api::Target {
        api_url: t.url(""),
        api_key: acct.key.clone(),
    };
    let answer = create(
        &target,
        &Create {
            id: "from-cli".into(),
            name: "From the CLI".into(),
            list: "cli".into(),
            channel: "sms".into(),
            template: "survey".into(),
            data: Some(r#"{"question": "1 to 5?"}"#.into()),
            category: None,
            rate: Some(50),
            send_at: None,
        },
    )
    .await
    .expect("created");
    assert_eq!(answer["status"], "sending");
    let done = watch(&target, "from-cli").await.expect("watched");
    assert_eq!(done["counts"]["sent"], 12, "{done}");
    assert!(
        counts_line(&done).contains("sent 12"),
        "{}",
        counts_line(&done)
    );
    // A bad one is the API's refusal, said plainly.
    let refused = create(
        &target,
        &Create {
            id: "bad".into(),
            name: "Bad".into(),
            list: "nobody".into(),
            channel: "sms".into(),
            template: "survey".into(),
            data: None,
            category: None,
            rate: None,
            send_at: None,
        },
    )
    .await
    .expect_err("refused");
    assert!(refused.to_string().contains("422"), "{refused}");
}
