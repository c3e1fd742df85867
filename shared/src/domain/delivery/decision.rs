//! What becomes of a notification after an attempt, for every channel, in
//! one place ([`decide`]): delivered, retried after a delay, or given up
//! with the reason its log and dead-letter copy carry. How the answer is
//! classified first is [`AttemptOutcome`].

use std::time::Duration;

use crate::domain::accounts::providers::Gateway;
use crate::domain::common::channel::Channel;
use crate::domain::delivery::notification::Attempt;
use crate::domain::delivery::outcome::AttemptOutcome;
use crate::domain::delivery::retry::RetrySchedule;

/// What becomes of a notification after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again after this long.
    RetryIn(Duration),
    /// Final `failed`, with this reason.
    GiveUp(String),
}

/// Decides the notification's fate after `attempt` on `channel`, the
/// `chain_attempt`-th of its current chain, with `jitter` ∈ [-1, 1] for the
/// retry schedule's spread.
pub fn decide(
    channel: Channel,
    outcome: AttemptOutcome,
    attempt: &Attempt,
    chain_attempt: u32,
    schedule: &RetrySchedule,
    jitter: f64,
) -> Decision {
    match outcome {
        AttemptOutcome::Delivered => Decision::Delivered,
        AttemptOutcome::Stop => Decision::GiveUp(match (channel, attempt.status_code) {
            (Channel::Webhook, _) => "the endpoint answered 410 Gone".to_owned(),
            (_, Some(code)) => {
                format!("the provider refused the message (HTTP {code}); it will not succeed as is")
            }
            (_, None) => format!(
                "the message was refused: {}",
                attempt.error.as_deref().unwrap_or("unknown error")
            ),
        }),
        AttemptOutcome::Retry => match schedule.delay(chain_attempt, outcome, attempt, jitter) {
            Some(delay) => Decision::RetryIn(delay),
            None => Decision::GiveUp(format!(
                "gave up after {chain_attempt} attempts; last: {}",
                attempt.error.as_deref().unwrap_or("failed")
            )),
        },
    }
}

/// Which SMS gateway an attempt uses (contract section 10): the fallback
/// after the primary failed twice in a row with a 5xx or no answer in time
/// (a timeout, or no connection at all), then the primary again if the
/// fallback failed too — so a gateway that is down is passed over, and one
/// that is back is used again. Without a fallback, always the primary.
pub fn sms_gateway(has_fallback: bool, attempts: &[Attempt]) -> Gateway {
    let server_failed =
        |a: &Attempt| a.timed_out || a.status_code.map_or(a.error.is_some(), |c| c >= 500);
    let on_primary = |a: &Attempt| a.provider.as_deref() != Some(Gateway::Fallback.as_str());
    match attempts {
        [.., before, last]
            if has_fallback
                && on_primary(last)
                && on_primary(before)
                && server_failed(before)
                && server_failed(last) =>
        {
            Gateway::Fallback
        }
        _ => Gateway::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_gateway_takes_over_after_two_server_failures_in_a_row() {
        let attempt = |code: Option<u16>, timed_out: bool, via: Gateway| Attempt {
            status_code: code,
            timed_out,
            error: code.is_none().then(|| "no answer".to_owned()),
            provider: Some(via.as_str().to_owned()),
            ..Attempt::begin(1, chrono::Utc::now(), "http://gw")
        };
        use Gateway::*;
        let p500 = attempt(Some(500), false, Primary);
        let p_timeout = attempt(None, true, Primary);
        let p429 = attempt(Some(429), false, Primary);
        let f500 = attempt(Some(503), false, Fallback);
        assert_eq!(sms_gateway(true, &[]), Primary);
        assert_eq!(sms_gateway(true, std::slice::from_ref(&p500)), Primary);
        assert_eq!(
            sms_gateway(true, &[p500.clone(), p_timeout.clone()]),
            Fallback
        );
        assert_eq!(sms_gateway(false, &[p500.clone(), p500.clone()]), Primary);
        // A 4xx that is retried (429) is not a gateway down.
        assert_eq!(sms_gateway(true, &[p429, p500.clone()]), Primary);
        // The fallback failed too: the primary again, then the fallback.
        let tried = [p500.clone(), p500.clone(), f500];
        assert_eq!(sms_gateway(true, &tried), Primary);
        let mut again = tried.to_vec();
        again.extend([p500.clone(), p500]);
        assert_eq!(sms_gateway(true, &again), Fallback);
    }

    #[test]
    fn outcomes_follow_the_status_code() {
        assert_eq!(AttemptOutcome::of(Some(200)), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::of(Some(204)), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::of(Some(410)), AttemptOutcome::Stop);
        for code in [Some(301), Some(302), Some(400), Some(429), Some(500), None] {
            assert_eq!(AttemptOutcome::of(code), AttemptOutcome::Retry, "{code:?}");
        }
        assert_eq!(
            AttemptOutcome::of_provider(Some(400), false),
            AttemptOutcome::Stop
        );
        assert_eq!(
            AttemptOutcome::of_provider(Some(401), false),
            AttemptOutcome::Stop
        );
        assert_eq!(
            AttemptOutcome::of_provider(Some(400), true),
            AttemptOutcome::Retry
        );
        for code in [Some(408), Some(429), Some(500), Some(503), Some(302), None] {
            assert_eq!(
                AttemptOutcome::of_provider(code, false),
                AttemptOutcome::Retry,
                "{code:?}"
            );
        }
    }

    #[test]
    fn every_channel_and_answer_in_one_table() {
        let schedule = RetrySchedule::parse("1,2")
            .unwrap()
            .with_floor(Duration::from_secs(30));
        let answered = |code: Option<u16>, error: Option<&str>| Attempt {
            status_code: code,
            error: error.map(str::to_owned),
            ..Attempt::begin(1, chrono::Utc::now(), "x")
        };
        let give_up = |s: &str| Decision::GiveUp(s.to_owned());
        let cases = [
            (
                Channel::Webhook,
                answered(Some(200), None),
                1,
                Decision::Delivered,
            ),
            (
                Channel::Webhook,
                answered(Some(410), None),
                1,
                give_up("the endpoint answered 410 Gone"),
            ),
            (
                Channel::Webhook,
                answered(Some(500), Some("HTTP 500")),
                1,
                Decision::RetryIn(Duration::from_secs(1)),
            ),
            (
                Channel::Webhook,
                answered(Some(500), Some("HTTP 500")),
                3,
                give_up("gave up after 3 attempts; last: HTTP 500"),
            ),
            (
                Channel::Webhook,
                answered(Some(429), None),
                1,
                Decision::RetryIn(Duration::from_secs(30)),
            ),
            (
                Channel::Sms,
                answered(Some(400), None),
                1,
                give_up("the provider refused the message (HTTP 400); it will not succeed as is"),
            ),
            (
                Channel::Sms,
                answered(Some(503), None),
                2,
                Decision::RetryIn(Duration::from_secs(2)),
            ),
            (
                Channel::Email,
                answered(None, Some("bad subject")),
                1,
                give_up("the message was refused: bad subject"),
            ),
            (
                Channel::Whatsapp,
                answered(None, Some("no WhatsApp provider is configured")),
                1,
                Decision::RetryIn(Duration::from_secs(1)),
            ),
        ];
        for (channel, attempt, n, expected) in cases {
            let outcome = match (channel, &attempt.error) {
                (Channel::Webhook, _) => AttemptOutcome::of(attempt.status_code),
                (Channel::Email, Some(e)) if e == "bad subject" => AttemptOutcome::Stop,
                _ => AttemptOutcome::of_provider(attempt.status_code, false),
            };
            assert_eq!(
                decide(channel, outcome, &attempt, n, &schedule, 0.0),
                expected,
                "{channel:?} {attempt:?} #{n}"
            );
        }
    }
}
