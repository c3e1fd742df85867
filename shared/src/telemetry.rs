//! Logging set-up shared by every binary: JSON lines when Lambda asks for
//! them (`AWS_LAMBDA_LOG_FORMAT=JSON`), readable lines otherwise; `RUST_LOG`
//! picks the level (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests, the local stack) keeps the first subscriber.
    let _ = if json {
        // Each line carries the fields of the span it is in (account,
        // event, notification), flattened beside the message.
        builder
            .json()
            .without_time()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// For tests: readable lines, captured by the test harness like `println!`.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
