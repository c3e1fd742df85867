//! A recipient's limit of devices under concurrency: adds that race never
//! pass it, a token added twice at once counts once, a removal frees its
//! place exactly once, and devices stored before the count was kept are
//! counted by the first add.

use aws_sdk_dynamodb::types::AttributeValue;
use inc_tests::{TestStack, json};
use reqwest::Method;

use inc_shared::domain::apps::devices::MAX_DEVICES;

fn token(n: usize) -> String {
    format!("fcm-limit-000000000000-{n:04}")
}

async fn recipient(t: &TestStack, key: &str, id: &str) {
    let path = format!("/v1/recipients/{id}");
    let (status, body) = t
        .call(Method::PUT, &path, key, Some(json!({"language": "en"})))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Adds every token at once; answers how many got 201 and how many 422.
async fn add_all(t: &TestStack, key: &str, id: &str, tokens: &[String]) -> (usize, usize) {
    let path = format!("/v1/recipients/{id}/devices");
    let adds = tokens
        .iter()
        .map(|token| t.send_json(&path, key, json!({"platform": "fcm", "token": token})));
    let answers = futures::future::join_all(adds).await;
    for (status, body) in &answers {
        assert!(*status == 201 || *status == 422, "{status} {body}");
        if *status == 422 {
            assert_eq!(body["error"]["code"], "too_many_devices", "{body}");
        }
    }
    let added = answers.iter().filter(|(s, _)| *s == 201).count();
    (added, answers.len() - added)
}

async fn listed(t: &TestStack, key: &str, id: &str) -> usize {
    let (status, body) = t.get(key, &format!("/v1/recipients/{id}/devices")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_never_pass_the_limit_of_devices() {
    let t = TestStack::start().await;
    let key = t.account(None).await.key;
    recipient(&t, &key, "many").await;

    // Six more than the limit at once, and one token twice among them.
    let mut tokens: Vec<String> = (0..MAX_DEVICES + 6).map(token).collect();
    tokens.push(token(0));
    let (added, refused) = add_all(&t, &key, "many", &tokens).await;
    let stored = listed(&t, &key, "many").await;
    assert_eq!(stored, MAX_DEVICES);
    // The twice-sent token is one device: whatever it got, the rest add up.
    assert!((MAX_DEVICES..=MAX_DEVICES + 1).contains(&added), "{added}");
    assert_eq!(added + refused, tokens.len());

    // One removal sent three times at once frees one place: one 204.
    let stored_tokens: Vec<String> = (0..MAX_DEVICES + 6).map(token).collect();
    let mut gone = None;
    for candidate in &stored_tokens {
        let path = format!("/v1/recipients/many/devices/{candidate}");
        let deletes = (0..3).map(|_| t.call(Method::DELETE, &path, &key, None));
        let answers = futures::future::join_all(deletes).await;
        let removed = answers.iter().filter(|(s, _)| *s == 204).count();
        if removed > 0 {
            assert_eq!(removed, 1, "{answers:?}");
            assert!(answers.iter().all(|(s, _)| *s == 204 || *s == 404));
            gone = Some(candidate.clone());
            break;
        }
    }
    assert!(gone.is_some(), "one of the tokens was stored");
    assert_eq!(listed(&t, &key, "many").await, MAX_DEVICES - 1);

    // Exactly that one place: three new tokens at once, one gets it.
    let fresh: Vec<String> = (100..103).map(token).collect();
    assert_eq!(add_all(&t, &key, "many", &fresh).await, (1, 2));
    assert_eq!(listed(&t, &key, "many").await, MAX_DEVICES);
    // Renewing a device that is there still works at the limit.
    let (_, now) = t.get(&key, "/v1/recipients/many/devices").await;
    let there = fresh
        .iter()
        .find(|f| now.to_string().contains(&f[f.len() - 4..]))
        .expect("the one added");
    assert_eq!(
        add_all(&t, &key, "many", std::slice::from_ref(there)).await,
        (1, 0)
    );
    assert_eq!(listed(&t, &key, "many").await, MAX_DEVICES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_stored_before_the_count_are_counted_by_the_first_add() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    recipient(&t, &acct.key, "older").await;
    // Rows as they were written before a count was kept.
    let db = aws_sdk_dynamodb::Client::new(&t.sdk);
    let table = t.env("INC_DEVICES_TABLE");
    for n in 0..MAX_DEVICES - 1 {
        db.put_item()
            .table_name(&table)
            .item(
                "device_key",
                AttributeValue::S(format!("{}#older", acct.id)),
            )
            .item("token", AttributeValue::S(token(n)))
            .item("account_id", AttributeValue::S(acct.id.clone()))
            .item("recipient_id", AttributeValue::S("older".into()))
            .item("platform", AttributeValue::S("fcm".into()))
            .item(
                "created_at",
                AttributeValue::S("2026-01-01T00:00:00Z".into()),
            )
            .send()
            .await
            .expect("an older device row");
    }
    assert_eq!(listed(&t, &acct.key, "older").await, MAX_DEVICES - 1);
    // One place left, and two tokens want it at once.
    let fresh: Vec<String> = (200..202).map(token).collect();
    assert_eq!(add_all(&t, &acct.key, "older", &fresh).await, (1, 1));
    assert_eq!(listed(&t, &acct.key, "older").await, MAX_DEVICES);
    // Removing an older one frees its place; the count follows.
    let path = format!("/v1/recipients/older/devices/{}", token(0));
    assert_eq!(t.call(Method::DELETE, &path, &acct.key, None).await.0, 204);
    let more: Vec<String> = (300..302).map(token).collect();
    assert_eq!(add_all(&t, &acct.key, "older", &more).await, (1, 1));
    assert_eq!(listed(&t, &acct.key, "older").await, MAX_DEVICES);
    // Erasing the recipient takes its devices and their count with it.
    let (status, _) = t
        .call(Method::DELETE, "/v1/recipients/older", &acct.key, None)
        .await;
    assert!(status == 204 || status == 200, "{status}");
    let rows = db
        .query()
        .table_name(&table)
        .key_condition_expression("device_key = :k")
        .expression_attribute_values(":k", AttributeValue::S(format!("{}#older", acct.id)))
        .send()
        .await
        .expect("query");
    assert_eq!(rows.count, 0, "{:?}", rows.items);
}
