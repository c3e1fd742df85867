//! Logging set-up shared by every binary: JSON lines when Lambda asks for
//! them (`AWS_LAMBDA_LOG_FORMAT=JSON`), readable lines otherwise; `RUST_LOG`
//! picks the level (default `info`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (tests, the local stack) keeps the first subscriber.
    if json {
        let _ = json_subscriber(filter, std::io::stdout).try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .compact()
            .try_init();
    }
}

/// Lambda's JSON lines (Lambda adds the time): the event's fields beside
/// the message, and under `span` the fields of the span it is in — the
/// account and event, or the account and notification, of the request.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
        .without_time()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .finish()
}

/// For tests: readable lines, captured by the test harness like `println!`.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
