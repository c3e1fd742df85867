//! How a delivery attempt's answer is classified, for every channel: done,
//! never going to succeed, or worth another try. What then becomes of the
//! notification is `decision`; when the next try comes, `retry`.

/// What an attempt's answer means for the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx: done.
    Delivered,
    /// It will never succeed (a webhook's 410, a provider's 4xx): stop.
    Stop,
    /// Anything else — 3xx (redirects are not followed), 5xx, timeout,
    /// connection failure: try again later.
    Retry,
}

impl AttemptOutcome {
    /// Nothing to send to yet — no endpoint, or no provider for the
    /// channel: the merchant may still configure one, so the schedule goes
    /// on (and gives up at its end like any failure).
    pub const NOT_CONFIGURED: AttemptOutcome = AttemptOutcome::Retry;

    /// A webhook: only 2xx succeeds and only 410 stops; the merchant's
    /// endpoint may be misconfigured for a while, so a 4xx is retried.
    pub fn of(status_code: Option<u16>) -> AttemptOutcome {
        match status_code {
            Some(200..=299) => AttemptOutcome::Delivered,
            Some(410) => AttemptOutcome::Stop,
            _ => AttemptOutcome::Retry,
        }
    }

    /// A provider (SMS gateway, WhatsApp, SES): a 4xx other than 408 and
    /// 429 means the request itself is wrong and will never succeed —
    /// unless the provider said it is throttling (SES's `TooManyRequests`
    /// and `LimitExceeded` are 4xx), which only asks for patience.
    pub fn of_provider(status_code: Option<u16>, throttled: bool) -> AttemptOutcome {
        match status_code {
            Some(200..=299) => AttemptOutcome::Delivered,
            Some(408 | 429) => AttemptOutcome::Retry,
            Some(400..=499) if !throttled => AttemptOutcome::Stop,
            _ => AttemptOutcome::Retry,
        }
    }
}
