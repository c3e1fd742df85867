//! Email receipts when DynamoDB fails (contract section 10): SNS invokes
//! the receipts function asynchronously, so a failing table fails the
//! invocation and Lambda tries it again — the receipt lands once the table
//! is back; one that fails all three tries waits in the function's
//! dead-letter queue, and nothing half-done is left (no opt-out without its
//! receipt).

use inc_tests::{PATIENCE, TestStack, eventually, json, ses_event};

const UPDATE_ITEM: &str = "DynamoDB_20120810.UpdateItem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_table_refuses_is_tried_again_then_kept_in_the_dead_letter_queue() {
    let t = TestStack::behind_proxy(&[]).await;
    let proxy = t.proxy.as_ref().expect("proxy");
    let acct = t.account(None).await;
    let (status, body) = t
        .patch_settings(
            &acct.key,
            json!({"channels": {"email": {"from": "noreply@shop.example"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let key = &acct.key;
    let (nid, ses_id) = t
        .delivered_email(
            key,
            json!({"id": "f-1", "channel": "email", "to": "ada@example.com", "subject": "Hi", "text": "Hello."}),
        )
        .await;
    let receipt =
        || async { t.get(key, &format!("/v1/notifications/{nid}")).await.1["receipt"].clone() };

    // The table refuses the receipt's write: the function fails, and is
    // tried again once it takes writes.
    proxy.refuse(UPDATE_ITEM);
    proxy.take_calls();
    t.publish_email_event(&ses_event(
        "Delivery",
        &acct.id,
        &ses_id,
        "ada@example.com",
        json!({"timestamp": "2026-12-02T10:00:02.000Z", "smtpResponse": "250 Ok"}),
    ))
    .await;
    eventually("the receipt's write refused", PATIENCE, || async {
        (proxy.take_calls().get(UPDATE_ITEM).copied().unwrap_or(0) > 0).then_some(())
    })
    .await;
    assert!(receipt().await.is_null());
    proxy.restore();
    eventually("the receipt recorded on a later try", PATIENCE, || async {
        (receipt().await["status"] == "delivered").then_some(())
    })
    .await;

    // A complaint the table refuses every time: three tries, then the
    // dead-letter queue keeps it; no opt-out was listed without it.
    proxy.refuse(UPDATE_ITEM);
    t.publish_email_event(&ses_event(
        "Complaint",
        &acct.id,
        &ses_id,
        "ada@example.com",
        json!({"timestamp": "2026-12-02T11:00:00.000Z", "complaintFeedbackType": "abuse",
               "complainedRecipients": [{"emailAddress": "ada@example.com"}]}),
    ))
    .await;
    eventually(
        "the complaint in the dead-letter queue",
        PATIENCE,
        || async { (t.template_queue_depth("ReceiptsDeadLetterQueue").await == 1).then_some(()) },
    )
    .await;
    proxy.restore();
    assert_eq!(receipt().await["status"], "delivered");
    assert_eq!(t.get(key, "/v1/suppressions").await.1["items"], json!([]));

    // Once the table is well, `inc dlq redrive --queue receipts` replays
    // it: the complaint is recorded, the address opted out, the copy gone.
    use inc_cli::dlq::{Which, redrive_queue};
    let dry = redrive_queue(&t.sdk, &t.config(), Which::Receipts, 10, true)
        .await
        .expect("dry run");
    assert_eq!((dry.redriven.len(), dry.unreadable), (1, 0), "{dry:?}");
    assert_eq!(
        receipt().await["status"],
        "delivered",
        "a dry run changes nothing"
    );
    let report = redrive_queue(&t.sdk, &t.config(), Which::Receipts, 10, false)
        .await
        .expect("redrive");
    assert_eq!(report.redriven.len(), 1, "{report:?}");
    assert_eq!(receipt().await["status"], "complained");
    let (_, listed) = t.get(key, "/v1/suppressions").await;
    assert_eq!(listed["items"][0]["to"], "ada@example.com", "{listed}");
    assert_eq!(t.template_queue_depth("ReceiptsDeadLetterQueue").await, 0);
    // Replaying it again (a second operator, a retry) changes nothing more.
    let again = redrive_queue(&t.sdk, &t.config(), Which::Receipts, 10, false)
        .await
        .expect("nothing left");
    assert!(again.redriven.is_empty(), "{again:?}");
}
