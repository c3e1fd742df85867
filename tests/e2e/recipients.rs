//! Recipients, preferences and lists (contract section 12) end to end,
//! through the API on the local stack: strict input, another account's
//! items `404`, messages by `to_recipient` with the recipient's preferences
//! honoured at send, exact member counts under concurrent adds and
//! removes, and an erasure that leaves nothing behind in any table.

use std::collections::BTreeSet;

use inc_tests::{Sink, TestStack, json};
use reqwest::Method;
use serde_json::Value;

#[path = "recipients/faults.rs"]
mod faults;
#[path = "recipients/import.rs"]
mod import;

const PHONE: &str = "+96599990001";

async fn put(t: &TestStack, key: &str, path: &str, body: Value) -> (u16, Value) {
    t.call(Method::PUT, path, key, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_are_put_whole_read_listed_and_kept_to_their_account() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;

    // Bad input: a 400 naming the field, and nothing stored.
    for (body, field) in [
        (json!({"phone": "99990001"}), "phone"),
        (json!({"email": "nobody"}), "email"),
        (json!({"timezone": "Moon/Base"}), "timezone"),
        (json!({"data": "x"}), "data"),
        (json!({"nickname": "Ada"}), "nickname"),
    ] {
        let (status, answer) = put(&t, key, "/v1/recipients/ada", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, _) = put(&t, key, "/v1/recipients/a%20b", json!({})).await;
    assert_eq!(status, 400, "a bad id");
    assert_eq!(t.get(key, "/v1/recipients/ada").await.0, 404);

    let (status, ada) = put(
        &t,
        key,
        "/v1/recipients/ada",
        json!({"phone": PHONE, "email": "Ada@Example.com", "language": "ar",
               "timezone": "Asia/Kuwait", "data": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(status, 200, "{ada}");
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["data"], json!({"tier": "gold"}));
    assert_eq!(ada["preferences"], json!({"categories": {}}));
    let (status, read) = t.get(key, "/v1/recipients/ada").await;
    assert_eq!((status, &read), (200, &ada));

    // Replaced whole: what the body leaves out is gone, created_at stays.
    let (status, again) = put(&t, key, "/v1/recipients/ada", json!({"phone": PHONE})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["email"], Value::Null);
    assert_eq!(again["created_at"], ada["created_at"]);

    // Listed by id, in pages.
    for id in ["bob", "cy", "dee"] {
        assert_eq!(
            put(&t, key, &format!("/v1/recipients/{id}"), json!({}))
                .await
                .0,
            200
        );
    }
    let mut seen = Vec::new();
    let mut path = "/v1/recipients?limit=3".to_owned();
    loop {
        let (status, page) = t.get(key, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/recipients?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["ada", "bob", "cy", "dee"]);
    let (status, _) = t.get(key, "/v1/recipients?cursor=nonsense").await;
    assert_eq!(status, 400);

    // Another account sees none of it.
    let other = t.account(None).await;
    assert_eq!(t.get(&other.key, "/v1/recipients/ada").await.0, 404);
    let (status, _) = t
        .call(Method::DELETE, "/v1/recipients/ada", &other.key, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = put(
        &t,
        &other.key,
        "/v1/recipients/ada/preferences",
        json!({"categories": {}}),
    )
    .await;
    assert_eq!(status, 404);
    let (_, theirs) = t.get(&other.key, "/v1/recipients").await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(t.get(key, "/v1/recipients/ada").await.1["phone"], PHONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_recipient_uses_its_address_and_a_category_it_switched_off_is_refused() {
    let t = TestStack::start().await;
    let gateway = Sink::start().await;
    let acct = t.account_with_sms(&gateway).await;
    let key = &acct.key;
    assert_eq!(
        put(
            &t,
            key,
            "/v1/recipients/ada",
            json!({"phone": PHONE, "language": "en"})
        )
        .await
        .0,
        200
    );

    // Transactional cannot be switched off; a bad preference is named.
    let (status, body) = put(
        &t,
        key,
        "/v1/recipients/ada/preferences",
        json!({"categories": {"transactional": {"sms": false}}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("categories.transactional.sms")),
        "{body}"
    );
    let (status, body) = put(
        &t,
        key,
        "/v1/recipients/ada/preferences",
        json!({"categories": {"marketing": {"sms": "off"}}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("categories.marketing.sms")),
        "{body}"
    );
    let (status, body) = put(
        &t,
        key,
        "/v1/recipients/ada/preferences",
        json!({"categories": {"marketing": {"sms": false}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["preferences"]["categories"]["marketing"]["sms"], false);

    // A marketing SMS is refused at send; a transactional one goes, to the
    // recipient's phone.
    let message = |id: &str, category: Option<&str>| {
        let mut m = json!({"id": id, "channel": "sms", "to_recipient": "ada", "text": "Hello Ada"});
        if let Some(c) = category {
            m["category"] = json!(c);
        }
        m
    };
    let (status, promo) = t
        .send_json("/v1/messages", key, message("promo-1", Some("marketing")))
        .await;
    assert_eq!(status, 202, "{promo}");
    let (status, receipt) = t
        .send_json("/v1/messages", key, message("otp-1", None))
        .await;
    assert_eq!(status, 202, "{receipt}");
    let promo_id = promo["notification_id"].as_str().expect("id");
    let receipt_id = receipt["notification_id"].as_str().expect("id");
    let refused = t
        .notification_when(key, promo_id, |b| b["status"] == "failed")
        .await;
    assert_eq!(refused["last_error"], "preference", "{refused}");
    t.notification_when(key, receipt_id, |b| b["status"] == "delivered")
        .await;
    let sent = gateway.received();
    assert_eq!(sent.len(), 1, "only the transactional one: {sent:?}");
    // The recipient's messages, through its own index.
    let (status, mine) = t.get(key, "/v1/notifications?recipient_id=ada").await;
    assert_eq!(status, 200, "{mine}");
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, [receipt_id, promo_id], "newest first");
    assert_eq!(mine["items"][0]["recipient_id"], "ada");
    let (status, _) = t.get(key, "/v1/notifications?recipient_id=a%20b").await;
    assert_eq!(status, 400);
    assert!(sent[0].body.contains("%2B96599990001"), "{}", sent[0].body);

    // No such recipient, or none of its address on the channel: a 422
    // naming to_recipient, nothing accepted.
    for (body, code) in [
        (
            json!({"id": "m-2", "channel": "sms", "to_recipient": "nobody", "text": "x"}),
            "recipient_not_found",
        ),
        (
            json!({"id": "m-3", "channel": "email", "to_recipient": "ada", "text": "x", "subject": "s"}),
            "recipient_without_address",
        ),
    ] {
        let (status, answer) = t.send_json("/v1/messages", key, body.clone()).await;
        assert_eq!(
            (
                status,
                answer["error"]["code"].as_str(),
                answer["error"]["field"].as_str()
            ),
            (422, Some(code), Some("to_recipient")),
            "{body}: {answer}"
        );
    }
    let (status, answer) = t
        .send_json(
            "/v1/messages",
            key,
            json!({"id": "m-4", "channel": "sms", "to": PHONE, "to_recipient": "ada", "text": "x"}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("to_recipient"))
    );
    assert_eq!(t.get(key, "/v1/messages/m-2").await.0, 404);
}

/// The ids of every member of `list`, read page by page.
async fn member_ids(t: &TestStack, key: &str, list: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut path = format!("/v1/lists/{list}/members?limit=100");
    loop {
        let (status, page) = t.get(key, &path).await;
        assert_eq!(status, 200, "{page}");
        for r in page["items"].as_array().expect("items") {
            assert!(
                ids.insert(r["id"].as_str().expect("id").to_owned()),
                "listed twice: {r}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/lists/{list}/members?limit=100&cursor={c}"),
            None => return ids,
        }
    }
}

fn rows(ids: impl Iterator<Item = usize>) -> Value {
    let rows: Vec<Value> = ids
        .map(|i| json!({"id": format!("m{i:04}"), "phone": format!("+9659000{i:04}")}))
        .collect();
    json!({ "recipients": rows })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lists_member_count_stays_exact_under_concurrent_adds_and_removes() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let (status, list) = put(&t, key, "/v1/lists/vip", json!({"name": "VIP"})).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["member_count"], 0);
    let members = "/v1/lists/vip/members";

    // A bad row refuses the whole batch: nothing added, nothing upserted.
    let mut bad = rows(0..10);
    bad["recipients"][7]["email"] = json!("not-an-address");
    let (status, body) = t.send_json(members, key, bad).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("recipients[7].email")),
        "{body}"
    );
    assert_eq!(t.get(key, "/v1/recipients/m0000").await.0, 404);
    assert_eq!(t.get(key, "/v1/lists/vip").await.1["member_count"], 0);

    // A first batch, then the same batch again: added once.
    let (status, body) = t.send_json(members, key, rows(0..150)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"added": 150, "updated": 0, "member_count": 150})
    );
    let (status, body) = t.send_json(members, key, rows(100..200)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"added": 50, "updated": 50, "member_count": 200})
    );

    // At once: three overlapping batches and removals of members old and new.
    let adds = [rows(150..300), rows(250..400), rows(180..320)].map(|batch| {
        let t = &t;
        async move {
            let (status, body) = t.send_json(members, key, batch).await;
            assert_eq!(status, 200, "{body}");
        }
    });
    let removes = (0..60).map(|i| {
        let t = &t;
        async move {
            let id = format!("m{:04}", i * 5);
            let (status, _) = t
                .call(Method::DELETE, &format!("{members}/{id}"), key, None)
                .await;
            assert!(status == 204 || status == 404, "{id}: {status}");
        }
    });
    // Meanwhile, members that two of those batches upsert switch marketing
    // SMS off: a batch replaces the fields, never the preferences.
    let preferences = (180..200).map(|i| {
        let t = &t;
        async move {
            let (status, body) = put(
                t,
                key,
                &format!("/v1/recipients/m{i:04}/preferences"),
                json!({"categories": {"marketing": {"sms": false}}}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    futures::future::join3(
        futures::future::join_all(adds),
        futures::future::join_all(removes),
        futures::future::join_all(preferences),
    )
    .await;
    for i in 180..200 {
        let (_, r) = t.get(key, &format!("/v1/recipients/m{i:04}")).await;
        assert_eq!(
            r["preferences"]["categories"]["marketing"]["sms"], false,
            "m{i:04}'s preference survived the batches: {r}"
        );
        assert_eq!(r["phone"], format!("+9659000{i:04}"));
    }
    let listed = member_ids(&t, key, "vip").await;
    let (_, list) = t.get(key, "/v1/lists/vip").await;
    assert_eq!(
        list["member_count"],
        listed.len(),
        "the count is the members"
    );
    // Every id of 0..400 not removed is there; removed ones below 150
    // (added before the removals) are gone.
    for i in 0..400usize {
        let id = format!("m{i:04}");
        if i % 5 != 0 || i >= 300 {
            assert!(listed.contains(&id), "{id} missing");
        }
        if i % 5 == 0 && i < 150 {
            assert!(!listed.contains(&id), "{id} was removed");
        }
    }
    // Removing one that is not a member is a 404 that changes nothing.
    let (status, _) = t
        .call(Method::DELETE, &format!("{members}/m0000"), key, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        t.get(key, "/v1/lists/vip").await.1["member_count"],
        listed.len()
    );
    // The same members through GET /v1/recipients?list=.
    let (_, page) = t.get(key, "/v1/recipients?list=vip&limit=5").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5));
    // The list is listed with its count; another account's is 404.
    let (_, all) = t.get(key, "/v1/lists").await;
    assert_eq!(all["items"][0]["member_count"], listed.len());
    let other = t.account(None).await;
    assert_eq!(t.get(&other.key, "/v1/lists/vip").await.0, 404);
    assert_eq!(t.send_json(members, &other.key, rows(0..1)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_recipient_leaves_nothing_of_it_in_any_table() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let id = "erase-me@example";
    assert_eq!(
        put(
            &t,
            key,
            &format!("/v1/recipients/{id}"),
            json!({"email": "erase@example.com"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &t,
            key,
            &format!("/v1/recipients/{id}/preferences"),
            json!({"categories": {"marketing": {"email": false}}})
        )
        .await
        .0,
        200
    );
    for list in ["a", "b"] {
        assert_eq!(
            put(&t, key, &format!("/v1/lists/{list}"), json!({"name": list}))
                .await
                .0,
            200
        );
        let (status, body) = t
            .send_json(
                &format!("/v1/lists/{list}/members"),
                key,
                json!({"recipients": [{"id": id}, {"id": "stays"}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(items_naming(&t, id).await > 0, "stored before");

    let path = format!("/v1/recipients/{id}");
    let (status, _) = t.call(Method::DELETE, &path, key, None).await;
    assert_eq!(status, 204);
    assert_eq!(items_naming(&t, id).await, 0, "nothing of it left anywhere");
    assert_eq!(t.get(key, &path).await.0, 404);
    assert_eq!(t.call(Method::DELETE, &path, key, None).await.0, 404);
    for list in ["a", "b"] {
        let (_, l) = t.get(key, &format!("/v1/lists/{list}")).await;
        assert_eq!(l["member_count"], 1, "{l}");
        assert_eq!(
            member_ids(&t, key, list).await,
            BTreeSet::from(["stays".to_owned()])
        );
    }
}

/// How many items of the stack's tables name `needle`, scanning each.
async fn items_naming(t: &TestStack, needle: &str) -> usize {
    let client = aws_sdk_dynamodb::Client::new(&t.sdk);
    let mut found = 0;
    for table in t.stack.resources.tables.values() {
        let mut start = None;
        loop {
            let out = client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            found += out
                .items()
                .iter()
                .filter(|item| format!("{item:?}").contains(needle))
                .count();
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
    }
    found
}
