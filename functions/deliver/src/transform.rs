//! An endpoint's jq transformation (contract section 15), run before the
//! attempt: the webhook's JSON in, the body to send out. A program that
//! fails for this event fails the notification for good, naming the jq
//! error, and leaves the endpoint's health alone (the endpoint did
//! nothing wrong); an instance that cannot run programs just now retries.

use inc_shared::domain::destinations::{Destination, transformation};
use inc_shared::domain::{
    Attempt, AttemptOutcome, Endpoint, Notification, Payload, WebhookPayload,
};
use inc_shared::jq::{Output, RunError};
use inc_shared::store::Account;
use inc_shared::webhook::failed_before_sending;

use crate::Deliver;

/// The attempt, its outcome, and — when the transformation failed — why
/// the notification fails for good.
pub(crate) struct Shaped {
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
    pub failed: Option<String>,
}

impl Deliver {
    /// One attempt, its webhook reshaped first when its endpoint says so.
    pub(crate) async fn attempt_shaped(
        &self,
        account: &Account,
        endpoint: Option<&Endpoint>,
        n: &Notification,
        number: u32,
    ) -> Shaped {
        let program = match (endpoint, &n.payload) {
            (Some(e), Payload::Webhook(payload)) if !n.is_alert() => {
                e.transformation.as_deref().map(|code| (e, code, payload))
            }
            _ => None,
        };
        let Some((e, code, payload)) = program else {
            let (attempt, outcome) = self.attempt(account, endpoint, n, number, None).await;
            return Shaped {
                attempt,
                outcome,
                failed: None,
            };
        };
        let fail = |error: String, outcome: AttemptOutcome, failed: Option<String>| Shaped {
            attempt: failed_before_sending(number, &e.url, error),
            outcome,
            failed,
        };
        match self.transform(code, &payload.body).await {
            Ok(output) => {
                if matches!(e.destination, Destination::Eventbridge { .. })
                    && matches!(output, Output::Text(_))
                {
                    let reason = transformation::failure(
                        "an eventbridge endpoint needs an object (the event's detail), not a string",
                    );
                    return fail(reason.clone(), AttemptOutcome::Stop, Some(reason));
                }
                let shaped = WebhookPayload {
                    content_type: match output {
                        Output::Json(_) => "application/json".into(),
                        Output::Text(_) => "text/plain; charset=utf-8".into(),
                    },
                    body: output.body().to_owned(),
                    ipn_type: payload.ipn_type.clone(),
                    source: payload.source.clone(),
                };
                let (attempt, outcome) = self
                    .attempt(account, endpoint, n, number, Some(&shaped))
                    .await;
                Shaped {
                    attempt,
                    outcome,
                    failed: None,
                }
            }
            Err(RunError::Program(error)) => {
                tracing::info!(notification_id = %n.notification_id, endpoint_id = %e.endpoint_id,
                    error = %error, "transformation failed");
                let reason = transformation::failure(&error);
                fail(reason.clone(), AttemptOutcome::Stop, Some(reason))
            }
            Err(RunError::Unavailable(error)) => fail(error, AttemptOutcome::Retry, None),
        }
    }

    /// Compiles (once per program per instance) and runs it off the async
    /// threads.
    async fn transform(&self, code: &str, body: &str) -> Result<Output, RunError> {
        let program = self
            .programs
            .get(code)
            .map_err(|e| RunError::Program(format!("it no longer compiles: {e}")))?;
        let body = body.to_owned();
        tokio::task::spawn_blocking(move || program.run(&body))
            .await
            .unwrap_or_else(|e| Err(RunError::Unavailable(format!("the run was lost: {e}"))))
    }
}
