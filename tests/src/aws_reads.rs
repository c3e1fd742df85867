//! What the local AWS endpoint holds, read as a test checks it: the email
//! SES accepted, and the delivery queue's messages as Lambda is handed them.

use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::Value;

use inc_cli::local::stack::lambda_record;

use crate::TestStack;

impl TestStack {
    /// Every email the local AWS endpoint's SES accepted, oldest first.
    ///
    /// moto's dump of its state walks every backend while other requests
    /// (the stack's workers) change them, and answers a 500 when one changed
    /// under it (seen in CI under load): such an answer is asked again.
    pub async fn sent_emails(&self) -> Vec<Value> {
        let url = format!("{}/moto-api/data.json", self.aws_endpoint());
        let mut last = String::new();
        for _ in 0..20 {
            let response = self.http.get(&url).send().await.expect("moto");
            let status = response.status();
            let body = response.text().await.expect("moto's answer");
            match serde_json::from_str::<Value>(&body) {
                Ok(data) if status.is_success() => {
                    return data["ses"]["Message"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                }
                _ => last = format!("{status}: {}", body.chars().take(300).collect::<String>()),
            }
        }
        panic!("moto's state could not be read: {last}");
    }

    /// Takes `n` messages off the delivery queue, as SQS hands them to Lambda.
    pub async fn receive_records(&self, n: usize) -> SqsEvent {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut event = SqsEvent::default();
        while event.records.len() < n {
            let out = sqs
                .receive_message()
                .queue_url(self.env("INC_DELIVERY_QUEUE_URL"))
                .max_number_of_messages(
                    10.min(i32::try_from(n - event.records.len()).unwrap_or(10)),
                )
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            event.records.extend(
                out.messages
                    .unwrap_or_default()
                    .into_iter()
                    .map(lambda_record),
            );
        }
        event
    }
}
