//! Issue 3's paper estimate: what 1,000 events/s cost on AWS, from this
//! run's figures (CPU per event and per webhook, AWS calls of each) and
//! the stated assumptions and published on-demand prices (us-east-1,
//! arm64, as of 2026). A note in docs/benchmarks.md, not a measurement.

/// Published prices, USD.
const LAMBDA_REQUEST: f64 = 0.20e-6;
const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const HTTP_API_REQUEST: f64 = 1.00e-6;
const SQS_REQUEST: f64 = 0.40e-6;
const DYNAMODB_WRU: f64 = 0.625e-6;
const DYNAMODB_RRU: f64 = 0.125e-6;

/// Assumptions.
const MEMORY_GB: f64 = 0.25; // template.yaml: MemorySize 256
const AWS_ROUND_TRIP_S: f64 = 0.005; // one DynamoDB or SQS call in-region
const INGEST_SEQUENTIAL_CALLS: f64 = 6.0; // key, account, endpoints ∥ schema, claim, queue, complete
const ENDPOINT_S: f64 = 0.100; // a merchant's endpoint answering
const DELIVER_SEQUENTIAL_CALLS: f64 = 3.0; // batch read, then lease and attempt around the POST
const WRU_PER_EVENT: f64 = 9.0; // see the note
const RRU_PER_EVENT: f64 = 2.6;

pub fn estimate(ingest_cpu_s: f64, deliver_cpu_s: f64, sqs_per_event: f64) -> String {
    let per_month = 1_000.0 * 86_400.0 * 30.0;
    let ingest_gbs = (INGEST_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ingest_cpu_s) * MEMORY_GB;
    // One deliver invocation per batch of 10, its webhooks concurrent.
    let deliver_gbs =
        (DELIVER_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ENDPOINT_S + 10.0 * deliver_cpu_s)
            * MEMORY_GB
            / 10.0;
    let lambda = 1.1 * LAMBDA_REQUEST + (ingest_gbs + deliver_gbs) * LAMBDA_GB_SECOND_ARM;
    let api = HTTP_API_REQUEST;
    let sqs = sqs_per_event * SQS_REQUEST;
    let dynamodb = WRU_PER_EVENT * DYNAMODB_WRU + RRU_PER_EVENT * DYNAMODB_RRU;
    let total = lambda + api + sqs + dynamodb;
    let million = |x: f64| x * 1e6;
    let share = |x: f64| 100.0 * x / total;
    format!(
        "What 1,000 events/s cost on AWS, on paper (each event one webhook; on-demand prices, \
         us-east-1, arm64; `bench/src/cost.rs`): per million events, Lambda ${:.2} \
         (1.1 M invocations: ingest one per event, deliver one per batch of 10; billed time \
         assumed {:.0} ms per ingest — {INGEST_SEQUENTIAL_CALLS} AWS calls in a row at \
         {:.0} ms plus this run's CPU — and {:.0} ms per deliver batch with a 100 ms endpoint, \
         at 256 MB), API Gateway ${:.2}, SQS ${:.2} ({sqs_per_event:.1} requests per event: \
         the SendMessageBatch measured here, Lambda's receive and delete in batches of 10), \
         DynamoDB ${:.2} (assumed {WRU_PER_EVENT} write units per event — the claim \
         transaction's two items at two units each, marking the event completed, the lease \
         and the attempt with their index updates — and {RRU_PER_EVENT} read units); \
         ${:.2} in all ({:.0} % DynamoDB, {:.0} % API Gateway, {:.0} % Lambda). At 1,000 \
         events/s that is {:.1} billion events and about ${:.0} a month. The CPU figures of \
         this run put the work itself at {:.1} ingest cores and {:.2} deliver cores for that \
         rate: INC's code does not bound 1,000 events/s; Lambda's concurrency (about {:.0} \
         ingest and {:.0} deliver instances busy at once) and DynamoDB's write cost do. \
         Provisioned DynamoDB capacity, or one endpoint's events batched by the integrator, \
         is where the bill goes down.",
        million(lambda),
        1000.0 * (INGEST_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ingest_cpu_s),
        1000.0 * AWS_ROUND_TRIP_S,
        1000.0 * (DELIVER_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ENDPOINT_S + 10.0 * deliver_cpu_s),
        million(api),
        million(sqs),
        million(dynamodb),
        million(total),
        share(dynamodb),
        share(api),
        share(lambda),
        per_month / 1e9,
        total * per_month,
        1_000.0 * ingest_cpu_s,
        1_000.0 * deliver_cpu_s,
        1_000.0 * (INGEST_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ingest_cpu_s),
        100.0 * (DELIVER_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + ENDPOINT_S + 10.0 * deliver_cpu_s),
    )
}
