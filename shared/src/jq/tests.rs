use super::*;

fn run(code: &str, input: &str) -> Result<Output, RunError> {
    Program::compile(code).expect("compiles").run(input)
}

const EVENT: &str = r#"{"id":"evt_1","type":"order.completed","created_at":"2026-12-05T10:00:00.000Z","data":{"order_no":"A-17","amount":12.5,"items":[{"sku":"x","qty":2},{"sku":"y","qty":1}]}}"#;

#[test]
fn a_reshaping_program_gives_its_object() {
    let out = run(
        r#"{order: .data.order_no, kind: .type, total: .data.amount, skus: [.data.items[].sku]}"#,
        EVENT,
    )
    .expect("runs");
    assert_eq!(
        out.to_value(),
        serde_json::json!({"order": "A-17", "kind": "order.completed", "total": 12.5, "skus": ["x", "y"]})
    );
    assert!(matches!(out, Output::Json(_)));
}

#[test]
fn a_string_is_sent_as_is() {
    let out = run(r#""order \(.data.order_no) is \(.type)""#, EVENT).expect("runs");
    assert_eq!(out, Output::Text("order A-17 is order.completed".into()));
}

#[test]
fn compile_errors_say_where() {
    let e = Program::compile("{a: .b").expect_err("unclosed");
    assert!(e.contains("expected"), "{e}");
    let e = Program::compile(".a | nosuchfilter(1)").expect_err("unknown");
    assert!(e.contains("nosuchfilter") && e.contains("line 1"), "{e}");
    let e = Program::compile("$ENV.AWS_SECRET_ACCESS_KEY").expect_err("no $ENV");
    assert!(e.contains("ENV"), "{e}");
    for refused in ["env", "debug", "input", "halt", "now", "stderr"] {
        assert!(Program::compile(refused).is_err(), "{refused} compiled");
    }
    assert!(Program::compile(r#"import "x" as x; ."#).is_err());
}

#[test]
fn no_output_two_outputs_and_other_kinds_fail() {
    let e = |code: &str| match run(code, EVENT) {
        Err(RunError::Program(m)) => m,
        other => panic!("{code}: {other:?}"),
    };
    assert!(e("empty").contains("no output"));
    assert!(e(".data.items[]").contains("more than one output"));
    assert!(e(".data.amount").contains("not a number"));
    assert!(e("[.id]").contains("not an array"));
    let m = e(r#"error("no such order")"#);
    assert!(
        m.starts_with("jq error:") && m.contains("no such order"),
        "{m}"
    );
    let m = e(".data.order_no + 1");
    assert!(m.starts_with("jq error:"), "{m}");
}

fn stopped(code: &str) -> String {
    match run(code, EVENT) {
        Err(RunError::Program(m)) => m,
        other => panic!("{code}: {other:?}"),
    }
}

#[test]
fn runaway_programs_are_stopped_by_their_limits() {
    for code in [
        "def f: f; f",
        "repeat(.) | empty",
        "last(range(1e18))",
        "[limit(1e12; repeat(1))] | {n: length}",
        "reduce range(1e12) as $i (0; . + 1) | {n: .}",
        "until(false; .)",
        "(range(1e15) | empty), {}",
    ] {
        let m = stopped(code);
        assert!(m.contains("stopped"), "{code}: {m}");
    }
}

#[test]
fn deep_recursion_stops_before_the_stack_overflows() {
    let m = stopped("def f: [f]; f");
    assert!(m.contains("stopped"), "{m}");
    let m = stopped("def f(x): 1 + f(x + 1); {a: f(0)}");
    assert!(m.contains("stopped"), "{m}");
}

#[test]
fn output_past_its_size_fails() {
    let small = Limits {
        output: 1024,
        ..Limits::default()
    };
    let p = Program::compile_with(r#"{s: ("x" * 5000)}"#, small).expect("compiles");
    match p.run(EVENT) {
        Err(RunError::Program(m)) => assert!(m.contains("longer than"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_program_is_reused_across_runs_and_threads() {
    let p = Program::compile("{id}").expect("compiles");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || p.run(EVENT))
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().expect("joins").expect("runs").to_value(),
            serde_json::json!({"id": "evt_1"})
        );
    }
}
