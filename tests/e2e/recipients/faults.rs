//! A member batch when DynamoDB fails in its middle: the request is a `503`,
//! the list's count is exactly the members that were written, and the same
//! batch sent again adds each missing member once — none twice, no count
//! twice.

use inc_tests::{TestStack, json};
use reqwest::Method;

use super::{member_ids, rows};

const DYNAMO_TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_batch_cut_midway_is_a_503_and_its_retry_adds_each_member_once() {
    let t = TestStack::behind_proxy(&[]).await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let proxy = t.proxy.as_ref().expect("proxy");
    let (status, _) = t
        .call(
            Method::PUT,
            "/v1/lists/cut",
            key,
            Some(json!({"name": "Cut"})),
        )
        .await;
    assert_eq!(status, 200);

    // 1,000 rows: ten transactions upsert the recipients, then the members
    // go in transactions of 99 with the count. Let the recipients and three
    // member transactions through, then refuse the rest.
    proxy.refuse_after(DYNAMO_TRANSACT, 13);
    let batch = rows(0..1000);
    let (status, body) = t
        .send_json("/v1/lists/cut/members", key, batch.clone())
        .await;
    assert_eq!(status, 503, "{body}");
    proxy.restore();
    let written = member_ids(&t, key, "cut").await;
    let (_, list) = t.get(key, "/v1/lists/cut").await;
    assert_eq!(
        list["member_count"],
        written.len(),
        "the count is the members written"
    );
    assert!(
        !written.is_empty() && written.len() < 1000,
        "the cut came midway: {} written",
        written.len()
    );

    // The same batch again: the rest are added, each once.
    let (status, body) = t.send_json("/v1/lists/cut/members", key, batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 1000 - written.len(), "{body}");
    assert_eq!(body["updated"], written.len(), "{body}");
    assert_eq!(body["member_count"], 1000, "{body}");
    let all = member_ids(&t, key, "cut").await;
    assert_eq!(all.len(), 1000);
    assert!(written.is_subset(&all));
    assert_eq!(t.get(key, "/v1/lists/cut").await.1["member_count"], 1000);
}
