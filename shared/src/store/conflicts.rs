//! A transaction that met another: DynamoDB cancels a transaction when
//! another one holds one of its items at the same moment
//! (`TransactionConflict`), which is worth trying again, unlike a condition
//! that did not hold. Every transaction that writes a shared item (an
//! account's endpoint count, a campaign run's counters, a feed's unread
//! count) runs through [`Store::transact_retrying`], so the bound and the
//! pause live here once.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{Store, db_err, first_item_refused};
use crate::error::{Error, Result};

/// How often a transaction is tried when others keep holding its items.
const TRIES: u32 = 8;

type TransactError = SdkError<TransactWriteItemsError, HttpResponse>;

/// Which of a transaction's conditions answer "refused" when they fail.
#[derive(Clone, Copy)]
pub(in crate::store) enum Refusal {
    /// The first item's (the write the others only count): a failure of
    /// another item's condition is an error.
    FirstItem,
    /// Any item's.
    AnyItem,
}

impl Refusal {
    fn refused(self, e: &TransactError) -> bool {
        match self {
            Refusal::FirstItem => first_item_refused(e),
            Refusal::AnyItem => reasons(e).any(|code| code == "ConditionalCheckFailed"),
        }
    }
}

impl Store {
    /// Runs a transaction of `items`: true when it applied, false when a
    /// condition `refusal` names did not hold. A conflict with another
    /// transaction is tried again after a pause that grows and is jittered
    /// (so that two writers that met do not meet again), at most [`TRIES`]
    /// times; past that, a dependency error (503) saying `what` met too
    /// many concurrent writes.
    pub(in crate::store) async fn transact_retrying(
        &self,
        items: Vec<TransactWriteItem>,
        refusal: Refusal,
        what: &str,
    ) -> Result<bool> {
        for attempt in 0..TRIES {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) if conflicted(&e) => {
                    if attempt + 1 < TRIES {
                        tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(
                            5..=25 * (u64::from(attempt) + 1),
                        )))
                        .await;
                    }
                }
                Err(e) if refusal.refused(&e) => return Ok(false),
                Err(e) => return Err(db_err(e)),
            }
        }
        Err(Error::Dependency(format!(
            "{what} met too many concurrent writes; retry shortly"
        )))
    }
}

/// The codes a cancelled transaction gave for its items (none if it failed
/// otherwise).
fn reasons(e: &TransactError) -> impl Iterator<Item = &str> {
    let reasons = match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
            cancel.cancellation_reasons()
        }
        _ => &[],
    };
    reasons.iter().filter_map(|r| r.code())
}

/// Whether the transaction was cancelled only because another one held one
/// of its items: a conflict and no condition that failed.
fn conflicted(e: &TransactError) -> bool {
    let mut conflict = false;
    for code in reasons(e) {
        match code {
            "ConditionalCheckFailed" => return false,
            "TransactionConflict" => conflict = true,
            _ => {}
        }
    }
    conflict
}

#[cfg(test)]
mod tests {
    //! Against a DynamoDB on loopback that answers each transaction from a
    //! script (moto does not emulate conflicts): what the store makes of
    //! each answer, and how many times it asked.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_dynamodb::types::Put;
    use axum::http::StatusCode;

    use super::*;
    use crate::config::Tables;

    /// Each call's cancellation reasons (empty: the transaction applies);
    /// past the script, the last answer again.
    async fn dynamodb(script: Vec<Vec<&'static str>>) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let answer = move || {
            let call = counted.fetch_add(1, Ordering::SeqCst);
            let codes = &script[call.min(script.len() - 1)];
            if codes.is_empty() {
                return (StatusCode::OK, "{}".to_owned());
            }
            let reasons: Vec<_> = codes
                .iter()
                .map(|code| serde_json::json!({"Code": code}))
                .collect();
            let body = serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": format!("Transaction cancelled [{}]", codes.join(", ")),
                "CancellationReasons": reasons,
            });
            (StatusCode::BAD_REQUEST, body.to_string())
        };
        let app =
            axum::Router::new().route("/", axum::routing::post(move || async move { answer() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, calls)
    }

    fn store(url: &str) -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url)
            .http_client(crate::tls::sdk_http_client().unwrap())
            .build();
        let tables = Tables::from_lookup(&|_| Some("t".to_owned())).unwrap();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), tables)
    }

    fn items() -> Vec<TransactWriteItem> {
        let put = |id: &str| {
            let put = Put::builder()
                .table_name("t")
                .item("id", super::super::s(id))
                .build()
                .unwrap();
            TransactWriteItem::builder().put(put).build()
        };
        vec![put("counted"), put("count")]
    }

    async fn run(script: Vec<Vec<&'static str>>, refusal: Refusal) -> (Result<bool>, usize) {
        let (url, calls) = dynamodb(script).await;
        let result = store(&url)
            .transact_retrying(items(), refusal, "the test's count")
            .await;
        (result, calls.load(Ordering::SeqCst))
    }

    const CONFLICT: &str = "TransactionConflict";
    const FAILED: &str = "ConditionalCheckFailed";

    #[tokio::test]
    async fn a_conflict_is_tried_again_until_the_transaction_applies() {
        let script = vec![vec!["None", CONFLICT], vec![CONFLICT, "None"], vec![]];
        let (result, calls) = run(script, Refusal::FirstItem).await;
        assert!(result.unwrap());
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn conflicts_that_go_on_end_as_a_dependency_error_after_a_bounded_number_of_tries() {
        let (result, calls) = run(vec![vec![CONFLICT, "None"]], Refusal::FirstItem).await;
        assert_eq!(calls, TRIES as usize);
        match result {
            Err(Error::Dependency(message)) => {
                assert!(message.starts_with("the test's count met"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_condition_that_failed_is_a_refusal_at_once_where_the_caller_says_so() {
        let first = vec![vec![FAILED, "None"]];
        let (result, calls) = run(first.clone(), Refusal::FirstItem).await;
        assert!(!result.unwrap());
        assert_eq!(calls, 1);
        let (result, _) = run(first, Refusal::AnyItem).await;
        assert!(!result.unwrap());

        // Another item's condition: a refusal only where any item's is one.
        let second = vec![vec!["None", FAILED]];
        let (result, calls) = run(second.clone(), Refusal::AnyItem).await;
        assert!(!result.unwrap());
        assert_eq!(calls, 1);
        let (result, calls) = run(second, Refusal::FirstItem).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);

        // A conflict beside a failed condition is not worth another try.
        let (result, calls) = run(vec![vec![CONFLICT, FAILED]], Refusal::AnyItem).await;
        assert!(!result.unwrap());
        assert_eq!(calls, 1);
    }
}
