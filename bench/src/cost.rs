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
const INGEST_SEQUENTIAL_CALLS: f64 = 5.0; // key with account (a warm instance), endpoints ∥ schema, claim, queue, complete
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

/// Issue «3»'s paper estimate: a 1,000,000-member SMS campaign on AWS, from
/// this run's CPU per member and AWS calls per page of the fan-out, the
/// template's limits and AWS's published ones.
pub fn campaign_estimate(
    cpu_per_member_s: f64,
    calls_per_page: &std::collections::BTreeMap<String, usize>,
    pages_measured: usize,
) -> String {
    const MEMBERS: f64 = 1_000_000.0;
    const PAGE: f64 = 98.0;
    const CHAINS: f64 = 16.0; // a list's shards
    const CONCURRENCY: f64 = 5.0; // CampaignMaxConcurrency, the template's default
    const SQS_HOP_S: f64 = 0.020; // a page's message from send to the next invocation
    const GATEWAY_RATE: f64 = 100.0; // messages/s an SMS gateway account typically takes
    const WRU_PER_MEMBER: f64 = 18.0; // see below
    let per_page = |n: usize| n as f64 / pages_measured.max(1) as f64;
    // A page's members are queued in batches of ten sent side by side: one
    // round trip for all of them, and one for the next page.
    let batches = per_page(
        calls_per_page
            .get("AmazonSQS.SendMessageBatch")
            .copied()
            .unwrap_or(0),
    );
    let calls = per_page(calls_per_page.values().sum::<usize>()) - (batches - 2.0).max(0.0);
    let page_s = calls * AWS_ROUND_TRIP_S + PAGE * cpu_per_member_s + SQS_HOP_S;
    let pages = (MEMBERS / PAGE).ceil();
    let parallel = CHAINS.min(CONCURRENCY);
    let fan_out_s = pages * page_s / parallel;
    let fan_out_16_s = pages * page_s / CHAINS;
    let send_s = MEMBERS / GATEWAY_RATE;
    // Lambda: one fan-out invocation per page, one deliver per batch of 10
    // (its provider requests concurrent; a 100 ms gateway).
    let fan_out_gbs = pages * page_s * MEMORY_GB;
    let deliver_gbs =
        (MEMBERS / 10.0) * (DELIVER_SEQUENTIAL_CALLS * AWS_ROUND_TRIP_S + 0.1) * MEMORY_GB;
    let lambda = (pages + MEMBERS / 10.0) * LAMBDA_REQUEST
        + (fan_out_gbs + deliver_gbs) * LAMBDA_GB_SECOND_ARM;
    // SQS: a send per 10 messages and per page, Lambda's receive and delete.
    let sqs = (MEMBERS / 10.0 * 3.0 + pages * 3.0) * SQS_REQUEST;
    let dynamodb = MEMBERS * WRU_PER_MEMBER * DYNAMODB_WRU + MEMBERS * 3.0 * DYNAMODB_RRU;
    let total = lambda + sqs + dynamodb;
    format!(
        "A 1,000,000-member SMS campaign on AWS, on paper (`bench/src/cost.rs`; us-east-1, arm64, \
         on-demand): the fan-out is {pages:.0} pages of 98; each page is {calls:.1} AWS round trips in a \
         row (counted here on the stub; its SQS batches go side by side) at {:.0} ms, {:.1} ms of this run's CPU for its 98 members \
         and {:.0} ms for its message to reach the next invocation, {:.0} ms in all. Sixteen chains \
         (the list's shards) go side by side, but the template runs at most CampaignMaxConcurrency \
         = 5 campaigns functions at once: {:.0} s ({:.1} min) from the start to every member \
         queued; {:.0} s with CampaignMaxConcurrency 16. Lambda's scaling (1,000 environments per \
         10 s per function) never binds at 16. The send is bound by the gateway, not by INC: at \
         100 messages/s (a typical SMS account) the million go in {:.1} h, the campaign's rate \
         keeping the queue about a page per shard ahead. The first AWS limit on the way up is \
         DynamoDB's per-key write rate (1,000 write units/s per partition key): every campaign \
         message writes the notifications table under its account and its history indexes \
         under keys such as account#queued and account#campaign, so beyond about 1,000 \
         messages/s an account's writes lean on adaptive capacity splitting those keys by \
         notification id (a run's ids are random after their common time, which lets it); \
         the counters, 16 keys per run, take 16,000 writes/s. Cost per million messages, \
         INC's side only: Lambda ${lambda:.2}, SQS ${sqs:.2}, DynamoDB ${dynamodb:.2} (about \
         {WRU_PER_MEMBER} write units per member: the claim's transactional put and its index \
         entries, deliver's lease and its counted end — a transaction of two items — and their \
         index updates; three read units), ${total:.2} in all. The gateway's own price per SMS \
         is far above it.",
        calls * AWS_ROUND_TRIP_S * 1000.0,
        PAGE * cpu_per_member_s * 1000.0,
        SQS_HOP_S * 1000.0,
        page_s * 1000.0,
        fan_out_s,
        fan_out_s / 60.0,
        fan_out_16_s,
        send_s / 3600.0,
    )
}
