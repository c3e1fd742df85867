//! Cold starts: each function's init and first invocation against a
//! hello-world Lambda's, run by the Runtime API of `runtime_api.rs`, and
//! init taken apart step by step (`init_phases.rs`), for all eight functions.

use std::collections::BTreeMap;

use inc_tests::TestStack;

use crate::runtime_api;
use crate::{
    FUNCTIONS, RUNS, Row, WARM_INVOCATIONS, function_env, median, ms, release_binary, sample,
};

pub const WHY_INIT: &str = "Init is exec → the first `next`. Four changes brought it near \
hello-world's: the binaries are linked at a fixed address (`functions/link.rs`), so a start no \
longer rewrites 66,000–104,000 absolute addresses, copying 1–2 MB of tables page by page; SDK \
clients no longer each build and drop a TLS connector (`shared/src/tls.rs`, 0.4 ms a client, \
3 ms of `deliver`'s eight), and the roots' PEM is written at build time; the clients only some \
deliveries need (SES, SNS, EventBridge, `@connections`) are built at their first use; and a \
function that also runs campaigns shares its DynamoDB and SQS clients with them. The note \
\"Init taken apart\" times what is left of `main`, about 1 ms; the rest is the process, a \
19–34 MB binary mapped and tokio started, against hello-world's 2.4 MB. On Lambda the \
sandbox's own start (published at about 13 ms for hello-world) dwarfs the difference.";

/// Starts of each binary; the figures are their medians.
pub const ROUNDS: usize = 15;

/// One function's starts.
#[derive(Default)]
struct Starts {
    inits: Vec<std::time::Duration>,
    firsts: Vec<std::time::Duration>,
    warms: Vec<std::time::Duration>,
    rss: u64,
    errors: Vec<String>,
}

pub async fn cold_starts(
    rows: &mut Vec<Row>,
    memory: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let t = TestStack::provision_only().await;
    let acct = t.account(None).await;
    let env = function_env(&t);

    // Rounds: hello-world, then each function, started one after the other,
    // so that a busy moment of the machine falls on all of them alike.
    let mut hello_init = Vec::new();
    let mut runs: BTreeMap<&str, Starts> = BTreeMap::new();
    let mut counter = 0;
    for _ in 0..ROUNDS {
        let events = (0..2).map(|_| b"{}".to_vec()).collect();
        hello_init.push(
            runtime_api::run(&release_binary("hello"), &env, events)
                .await?
                .init,
        );
        for (name, file) in FUNCTIONS {
            let events = (0..=WARM_INVOCATIONS)
                .map(|_| {
                    counter += 1;
                    sample(file, &acct.key, counter)
                })
                .collect();
            let run = runtime_api::run(&release_binary(name), &env, events).await?;
            let starts = runs.entry(name).or_default();
            starts.inits.push(run.init);
            starts.firsts.push(run.first);
            starts.warms.push(median(run.warm));
            starts.rss = starts.rss.max(run.peak_rss);
            starts.errors.extend(run.errors);
        }
    }
    let hello = median(hello_init);
    rows.push(Row {
        what: "init: hello-world Rust Lambda (the baseline)".into(),
        measured: format!("{:.1} ms", ms(hello)),
        limit: "—".into(),
        ratio: None,
        goal: None,
        why: None,
    });

    for (name, _) in FUNCTIONS {
        let starts = runs.remove(name).unwrap_or_default();
        if let Some(e) = starts.errors.first() {
            println!(
                "{name}: {} invocation(s) answered an error, e.g. {e}",
                starts.errors.len()
            );
        }
        let (init, first, warm) = (
            median(starts.inits),
            median(starts.firsts),
            median(starts.warms),
        );
        rows.push(Row {
            what: format!("init: `{name}` vs hello-world"),
            measured: format!("{:.1} ms", ms(init)),
            limit: format!("{:.1} ms", ms(hello)),
            ratio: Some(ms(init) / ms(hello)),
            goal: Some(2.0),
            why: Some(WHY_INIT),
        });
        rows.push(Row {
            what: format!("first invocation of `{name}` vs a warm one"),
            measured: format!("{:.1} ms", ms(first)),
            limit: format!("{:.1} ms", ms(warm)),
            ratio: Some(ms(first) / ms(warm).max(0.001)),
            goal: Some(2.0),
            why: None,
        });
        let mb = starts.rss as f64 / 1_048_576.0;
        memory.push(Row {
            what: format!(
                "peak RSS of `{name}` over {} invocations",
                WARM_INVOCATIONS + 1
            ),
            measured: format!("{mb:.1} MB"),
            limit: "32 MB".into(),
            ratio: Some(mb / 32.0),
            goal: Some(1.0),
            why: None,
        });
    }
    notes.push(phases(&env)?);
    Ok(())
}

/// The medians of `RUNS` runs of `init-phases`, as a note.
fn phases(env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut runs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for _ in 0..RUNS {
        let out = std::process::Command::new(release_binary("init-phases"))
            .env_clear()
            .envs(env)
            .output()
            .map_err(|e| format!("init-phases: {e}"))?;
        let line = String::from_utf8_lossy(&out.stdout);
        let phases: Vec<(String, u64)> =
            serde_json::from_str(line.trim()).map_err(|e| format!("init-phases: {e}: {line}"))?;
        for (name, micros) in phases {
            if !order.contains(&name) {
                order.push(name.clone());
            }
            runs.entry(name).or_default().push(micros);
        }
    }
    let parts: Vec<String> = order
        .iter()
        .map(|name| {
            let mut v = runs.remove(name).unwrap_or_default();
            v.sort_unstable();
            format!(
                "{name} {:.2} ms",
                v.get(v.len() / 2).copied().unwrap_or(0) as f64 / 1000.0
            )
        })
        .collect();
    Ok(format!(
        "Init taken apart (`bench/src/init_phases.rs`, median of {RUNS} processes, the steps \
         of every function's `main` before its first `next`): {}. The rest of a function's \
         init is the process itself: loading its binary and starting tokio, as hello-world does.",
        parts.join("; ")
    ))
}
