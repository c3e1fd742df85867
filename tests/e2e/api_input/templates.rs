//! Message templates (contract section 9) through the API: saved per
//! channel, name and language, previewed with strict variables, refused
//! with the field at fault and nothing changed, replaced whole under
//! concurrent writes.

use inc_tests::{TestStack, json};
use reqwest::Method;
use serde_json::Value;

const PATH: &str = "/v1/templates/sms/service_reminder";

fn reminder() -> Value {
    json!({"languages": {
        "en": {"body": "Hi {{ name }}, your car is due for its service on {{ date }}."},
        "it": {"body": "Ciao {{ name }}, la tua auto è attesa per il tagliando il {{ date }}."}}})
}

async fn put(t: &TestStack, key: &str, path: &str, body: Value) -> (u16, Value) {
    t.call(Method::PUT, path, key, Some(body)).await
}

async fn preview(t: &TestStack, key: &str, body: Value) -> (u16, Value) {
    t.send_json(&format!("{PATH}/preview"), key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_saved_previewed_refused_and_deleted() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;

    let (status, saved) = put(&t, key, PATH, reminder()).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        (&saved["channel"], &saved["name"]),
        (&json!("sms"), &json!("service_reminder"))
    );
    assert_eq!(saved["languages"], reminder()["languages"]);
    let (_, got) = t.get(key, PATH).await;
    assert_eq!(got, saved);
    let (_, listed) = t.get(key, "/v1/templates").await;
    assert_eq!(listed["items"], json!([saved]));
    let (_, emails) = t.get(key, "/v1/templates?channel=email").await;
    assert_eq!(emails["items"], json!([]));

    // Preview: the language asked for, English when it is missing.
    let data = json!({"name": "Marco", "date": "3 dicembre"});
    let (status, it) = preview(&t, key, json!({"language": "it", "data": data})).await;
    assert_eq!(
        (status, &it),
        (
            200,
            &json!({"language": "it", "body": "Ciao Marco, la tua auto è attesa per il tagliando il 3 dicembre."})
        )
    );
    let (_, ar) = preview(&t, key, json!({"language": "ar", "data": data})).await;
    assert_eq!(ar["language"], "en", "{ar}");
    // A variable the data lacks is a clear error, not blank text.
    let (status, missing) = preview(
        &t,
        key,
        json!({"language": "it", "data": {"name": "Marco"}}),
    )
    .await;
    assert_eq!(
        (status, missing["error"]["field"].as_str()),
        (422, Some("data.date")),
        "{missing}"
    );
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("uses it")),
        "{missing}"
    );

    // Bad input names its field and changes nothing.
    for (path, body, status, field) in [
        (
            PATH,
            json!({"languages": {"en": {"body": "Hi {{ name"}}}),
            422,
            "languages.en",
        ),
        (
            PATH,
            json!({"languages": {"en": {"text": "Hi"}}}),
            400,
            "languages.en.text",
        ),
        (
            PATH,
            json!({"languages": {"english": {"body": "Hi"}}}),
            400,
            "languages.english",
        ),
        (PATH, json!({"languages": {}}), 400, "languages"),
        (
            "/v1/templates/email/receipt",
            json!({"languages": {"en": {"body": "Hi"}}}),
            400,
            "languages.en.subject",
        ),
        (
            "/v1/templates/whatsapp/receipt",
            json!({"languages": {"en": {"body": "Hi"}}}),
            400,
            "languages.en.body",
        ),
        ("/v1/templates/sms/Not%20A%20Name", reminder(), 400, "name"),
        ("/v1/templates/fax/receipt", reminder(), 400, "channel"),
    ] {
        let (got, answer) = put(&t, key, path, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["field"].as_str()),
            (status, Some(field)),
            "{path} {body}: {answer}"
        );
    }
    let (_, still) = t.get(key, PATH).await;
    assert_eq!(still, saved);
    let (_, listed) = t.get(key, "/v1/templates").await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Replaced whole: the first creation time stays.
    let (_, replaced) = put(
        &t,
        key,
        PATH,
        json!({"languages": {"en": {"body": "Service on {{ date }}"}}}),
    )
    .await;
    assert_eq!(replaced["created_at"], saved["created_at"]);
    assert_eq!(
        replaced["languages"],
        json!({"en": {"body": "Service on {{ date }}"}})
    );

    // Another account sees none of it.
    let other = t.account(None).await;
    let (status, _) = t.get(&other.key, PATH).await;
    assert_eq!(status, 404);

    // Deleted: 204, then 404 for it and its preview.
    let (status, _) = t.call(Method::DELETE, PATH, key, None).await;
    assert_eq!(status, 204);
    let (status, _) = t.call(Method::DELETE, PATH, key, None).await;
    assert_eq!(status, 404);
    let (status, _) = preview(&t, key, json!({"data": data})).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_one_template_leave_one_of_them_whole() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let bodies: Vec<Value> = (0..6)
        .map(|i| json!({"languages": {"en": {"body": format!("version {i}")}, "it": {"body": format!("versione {i}")}}}))
        .collect();
    let writes = bodies.iter().map(|b| put(&t, &acct.key, PATH, b.clone()));
    let answers = futures::future::join_all(writes).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let (_, stored) = t.get(&acct.key, PATH).await;
    let i = bodies
        .iter()
        .position(|b| b["languages"] == stored["languages"])
        .unwrap_or_else(|| panic!("a mix of writes: {stored}"));
    assert_eq!(stored["languages"]["it"]["body"], format!("versione {i}"));
    let (_, listed) = t.get(&acct.key, "/v1/templates").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}
