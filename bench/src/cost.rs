//! The paper estimates (issues 3 and 30): what 1,000 events/s cost on AWS,
//! a 1,000,000-member campaign, a price alert to 100,000 sockets — from this
//! run's figures (CPU per event and per webhook, AWS calls of each) and
//! the stated assumptions and published on-demand prices (us-east-1,
//! arm64, as of 2026). A note in docs/benchmarks.md, not a measurement.

/// A fan-out page's time on AWS, as the campaign estimate put it in this
/// run: the feed's estimate builds on it.
static CAMPAIGN_PAGE_S: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

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
// The key with its account (a warm instance), the claim, the queue, the
// completion: the endpoints are read only after one of them changed
// (the stub's count of a warm ingest: Query 0.00 per event).
const INGEST_SEQUENTIAL_CALLS: f64 = 4.0;
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
    let _ = CAMPAIGN_PAGE_S.set(page_s);
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

/// Issue 30's paper estimate for the feed: a trading app's price alert to
/// 100,000 connected users, from this run's CPU per in-app item and AWS
/// calls per item, the template's limits and AWS's published ones.
pub fn feed_estimate(cpu_per_item_s: f64, calls_per_item: f64) -> String {
    const USERS: f64 = 100_000.0;
    const PAGE: f64 = 98.0;
    const SQS_START: f64 = 5.0; // concurrent batches an SQS event source starts with
    const SQS_RAMP_PER_S: f64 = 300.0 / 60.0; // and adds, up to 1,250
    const POST_S: f64 = 0.010; // one @connections post
    const NEW_CONNECTIONS_PER_S: f64 = 500.0; // API Gateway WebSocket, per account and region
    const WEBSOCKET_MESSAGE: f64 = 1.00e-6;
    const WRU_PER_ITEM: f64 = 20.0; // see the note
    // A page's time on AWS as the campaign row estimated it in this run, or
    // (that row not run) about what it estimates.
    let (page_s, page_source) = match CAMPAIGN_PAGE_S.get() {
        Some(s) => (*s, "the campaign row's estimate"),
        None => (0.085, "assumed; run the campaign row for this run's"),
    };
    // A batch of ten items, handled side by side: the item's calls in a
    // row, its post, and the batch's CPU.
    let batch_s = calls_per_item * AWS_ROUND_TRIP_S + POST_S + 10.0 * cpu_per_item_s;
    let items_per_s_per_instance = 10.0 / batch_s;
    let pages = (USERS / PAGE).ceil();
    let fan_out = |concurrency: f64| pages * page_s / concurrency;
    // Deliver's concurrency grows from SQS_START by SQS_RAMP_PER_S: items
    // done by t are r·(S·t + R·t²/2); solved for USERS.
    let r = items_per_s_per_instance;
    let drain_s = (-SQS_START + (SQS_START.powi(2) + 2.0 * SQS_RAMP_PER_S * USERS / r).sqrt())
        / SQS_RAMP_PER_S;
    let at_5 = fan_out(5.0).max(drain_s);
    let at_16 = fan_out(16.0).max(drain_s);
    let posts_per_s = USERS / at_16;
    let lambda = (USERS / 10.0) * (LAMBDA_REQUEST + batch_s * MEMORY_GB * LAMBDA_GB_SECOND_ARM)
        + pages * (LAMBDA_REQUEST + page_s * MEMORY_GB * LAMBDA_GB_SECOND_ARM);
    let per_million = 1e6 / USERS;
    let lambda = lambda * per_million;
    let sqs = (1e6 / 10.0 * 3.0 + pages * per_million * 3.0) * SQS_REQUEST;
    let dynamodb = 1e6 * (WRU_PER_ITEM * DYNAMODB_WRU + 3.0 * DYNAMODB_RRU);
    let websocket = 1e6 * WEBSOCKET_MESSAGE;
    let total = lambda + sqs + dynamodb + websocket;
    format!(
        "A price alert to 100,000 connected users, on paper (`bench/src/cost.rs`; a campaign on \
         channel in_app to a 100,000-member list, each member one socket): the fan-out is \
         {pages:.0} pages at {:.0} ms each ({page_source}), {:.1} s at CampaignMaxConcurrency 5 and {:.1} s at 16. \
         Deliver handles a batch of ten items side by side in {:.0} ms ({calls_per_item:.1} AWS \
         calls in a row per item at {:.0} ms, the @connections post assumed {:.0} ms, this run's \
         {:.2} ms of CPU per item), so one instance stores and posts {r:.0} items/s; Lambda's SQS \
         event source starts with 5 concurrent batches and adds 300 a minute (up to 1,250), which \
         drains 100,000 items in {drain_s:.1} s. End to end: about {at_5:.0} s at the template's \
         CampaignMaxConcurrency 5 (the fan-out binds), {at_16:.0} s at 16 (the SQS ramp binds). \
         Where it saturates next: the @connections posts run at {posts_per_s:.0}/s, near API \
         Gateway's account throttle (10,000 requests/s, assumed shared with the @connections \
         API, adjustable); an account's notifications share one partition key, so past about \
         1,000 writes/s they rely on DynamoDB splitting it by notification id; and 100,000 apps \
         reconnecting at once (a market's open, a deploy) take at least {:.0} s at API Gateway's \
         500 new WebSocket connections/s — the feed holds every item, so a late socket misses \
         nothing. Cost per million in-app items, INC's side: Lambda ${lambda:.2}, SQS \
         ${sqs:.2}, DynamoDB ${dynamodb:.2} (about {WRU_PER_ITEM} write units per item: the \
         campaign's claim and deliver's lease and end as for an SMS, plus the feed item and its \
         unread counter in one transaction), API Gateway WebSocket messages ${websocket:.2}; \
         ${total:.2} in all.",
        page_s * 1000.0,
        fan_out(5.0),
        fan_out(16.0),
        batch_s * 1000.0,
        AWS_ROUND_TRIP_S * 1000.0,
        POST_S * 1000.0,
        cpu_per_item_s * 1000.0,
        USERS / NEW_CONNECTIONS_PER_S,
    )
}
