//! Memory bombs against the jq runner, in a process of their own: each
//! one the allocator stops parks its thread for good, and a process keeps
//! at most `MAX_PARKED` of them before it refuses to run programs.

use inc_shared::jq::{MAX_PARKED, Program, RunError};

const EVENT: &str = r#"{"id":"evt_1","type":"order.completed","data":{"n":1}}"#;

#[test]
fn memory_bombs_stop_at_the_budget_and_a_process_refuses_past_its_parked_threads() {
    let bombs = [
        r#"{s: ("x" * 1000000000000)}"#,
        r#"{s: ("x" * 100000000)}"#,
        r#"reduce range(40) as $i ("xx"; . + .) | {n: length}"#,
        r#"reduce range(40) as $i (.; [., .]) | {s: tojson}"#,
        "[range(1e10)] | {n: length}",
    ];
    let mut parked = 0;
    for code in bombs {
        let program = Program::compile(code).expect("compiles");
        match program.run(EVENT) {
            Err(RunError::Program(m)) if m.contains("memory limit") => parked += 1,
            Err(RunError::Program(m)) => assert!(m.contains("stopped"), "{code}: {m}"),
            Err(RunError::Unavailable(m)) => {
                assert!(parked >= MAX_PARKED, "{code}: refused early: {m}");
            }
            Ok(out) => panic!("{code}: ran to {out:?}"),
        }
    }
    assert!(parked >= 2, "the allocator stopped only {parked}");
    // Past the parked threads' limit a process refuses every program, even
    // a harmless one, with an error another instance may retry.
    while inc_meter_parked() < MAX_PARKED {
        let program = Program::compile(r#"{s: ("x" * 1000000000000)}"#).expect("compiles");
        match program.run(EVENT) {
            Err(RunError::Program(m)) => assert!(m.contains("memory limit"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    let harmless = Program::compile("{id}").expect("compiles");
    assert!(matches!(harmless.run(EVENT), Err(RunError::Unavailable(_))));
}

fn inc_meter_parked() -> usize {
    inc_shared::jq::parked()
}
