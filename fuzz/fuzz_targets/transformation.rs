//! The jq runner (contract section 15) takes any program a merchant saves
//! and any event: it compiles or refuses it, and a run gives an output, a
//! jq error or a stop at its limits — never a panic, never a hang past
//! them. The bytes are the program, then a NUL, then the input.
#![no_main]

use std::time::{Duration, Instant};

use inc_shared::jq::{Limits, Program, RunError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (code, input) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{\"id\":\"evt_1\",\"type\":\"a.b\",\"data\":{\"n\":[1,2,3]}}"[..]),
    };
    let (Ok(code), Ok(input)) = (std::str::from_utf8(code), std::str::from_utf8(input)) else {
        return;
    };
    if code.len() > 16 * 1024 {
        return;
    }
    let limits = Limits {
        steps: 20_000,
        time: Duration::from_millis(200),
        ..Limits::default()
    };
    let Ok(program) = Program::compile_with(code, limits) else {
        return;
    };
    let started = Instant::now();
    match program.run(input) {
        Ok(out) => assert!(out.body().len() <= limits.output),
        Err(RunError::Program(m)) | Err(RunError::Unavailable(m)) => assert!(!m.is_empty()),
    }
    // The runner gives up waiting at 4 × its time limit plus a second.
    assert!(
        started.elapsed() < limits.time * 4 + Duration::from_secs(3),
        "{code:?} ran {:?}",
        started.elapsed()
    );
});
