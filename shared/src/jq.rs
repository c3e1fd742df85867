//! jq transformations, run by `jaq` in-process and bounded.
//!
//! A merchant's program is compiled once ([`Program::compile`]: a syntax
//! error or an unknown filter is the `422`) and run on each webhook's JSON
//! ([`Program::run`]) on a thread of its own, held to [`Limits`]:
//!
//! - **steps and time**: jaq hands its context on at every call, binding,
//!   pipe and fold step; ours counts each hand-over and checks the clock, so
//!   `def f: f; f`, `repeat(.)` or `last(range(1e18))` stop at the budget;
//! - **depth**: the same check measures the thread's stack, so unbounded
//!   recursion stops long before it could overflow;
//! - **memory**: the process allocator (`inc-meter`) refuses the thread any
//!   byte past its budget *before* allocating — a string repeated a billion
//!   times, or a shared value serialised exponentially, stops there;
//! - **output**: the body written stops at its size.
//!
//! Runs go to a few worker threads kept warm between runs (a thread per run
//! would cost more than a typical program).
//!
//! Only pure filters are offered: not `env` or `$ENV` (INC's environment
//! holds its credentials), not `debug`, `stderr`, `input(s)`, `halt` or
//! module imports.
//!
//! A step or depth stop unwinds the thread (a private panic payload, caught
//! here and kept out of the logs); a memory stop parks it, since nothing
//! may unwind out of an allocator: the run times out and says why. A
//! process keeps at most [`MAX_PARKED`] such threads; past that it refuses
//! to run programs (a retryable error) rather than hold more memory.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jaq_core::data::{DataT, HasLut};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::Val;

mod budget;
mod errors;
mod workers;

use budget::Stop;

#[global_allocator]
static ALLOCATOR: inc_meter::Metered = inc_meter::Metered;

// A step, time or depth stop unwinds the run's thread: a build that aborts
// on panic would end the whole process instead.
#[cfg(panic = "abort")]
compile_error!("the jq runner stops runaway programs by unwinding: keep panic = \"unwind\"");

/// How far one run may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Context hand-overs (calls, bindings, pipe and fold steps).
    pub steps: u64,
    pub time: Duration,
    /// Bytes the run may hold at once (its input, values and output).
    pub memory: usize,
    /// Stack bytes the run may use.
    pub depth: usize,
    /// Longest body it may produce.
    pub output: usize,
}

impl Default for Limits {
    /// Generous for reshaping one webhook (a typical program takes well
    /// under a thousand steps and a millisecond), tight for a runaway.
    fn default() -> Limits {
        Limits {
            steps: 200_000,
            time: Duration::from_millis(500),
            memory: 16 << 20,
            depth: 8 << 20,
            output: 256 << 10,
        }
    }
}

/// Threads a process may keep parked on their memory budget.
pub const MAX_PARKED: usize = 4;
/// Compiled programs by their text, for a process that runs the same few
/// many times (deliver compiles each endpoint's program once per instance).
#[derive(Debug, Default)]
pub struct Cache {
    programs: std::sync::Mutex<std::collections::HashMap<String, Program>>,
}

/// Most programs a cache keeps; past it, it starts afresh.
const CACHED: usize = 256;

impl Cache {
    /// The program compiled from `code`, compiled now if it is new here.
    pub fn get(&self, code: &str) -> Result<Program, String> {
        if let Some(p) = self.lock().get(code) {
            return Ok(p.clone());
        }
        let program = Program::compile(code)?;
        let mut programs = self.lock();
        if programs.len() >= CACHED {
            programs.clear();
        }
        programs.insert(code.to_owned(), program.clone());
        Ok(program)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Program>> {
        self.programs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Threads this process has parked on their memory budget.
pub fn parked() -> usize {
    inc_meter::stopped()
}

/// What a run produced: the body to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An object: its JSON.
    Json(String),
    /// A string: sent as is.
    Text(String),
}

impl Output {
    pub fn body(&self) -> &str {
        match self {
            Output::Json(s) | Output::Text(s) => s,
        }
    }

    /// The JSON value the test route shows.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Output::Json(s) => serde_json::from_str(s).unwrap_or(serde_json::Value::Null),
            Output::Text(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// Why a run gave no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The program's own failure (a jq error, no output, two outputs, a
    /// limit): the same every time, so the notification fails for good.
    #[error("{0}")]
    Program(String),
    /// This process cannot run programs now (too many runaway threads
    /// parked, or no thread to be had): another attempt may.
    #[error("{0}")]
    Unavailable(String),
}

/// A compiled program, shareable between threads.
#[derive(Clone)]
pub struct Program {
    filter: Arc<jaq_core::Filter<Metered>>,
    limits: Limits,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("limits", &self.limits)
            .finish()
    }
}

/// The value type and the per-run data jaq runs with: the data is cloned
/// at every context hand-over, which is where the budget is checked.
struct Metered;

impl DataT for Metered {
    type V<'a> = Val;
    type Data<'a> = Budgeted<'a>;
}

struct Budgeted<'a> {
    lut: &'a jaq_core::Lut<Metered>,
}

impl Clone for Budgeted<'_> {
    fn clone(&self) -> Self {
        budget::step();
        Budgeted { lut: self.lut }
    }
}

impl<'a> HasLut<'a, Metered> for Budgeted<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Metered> {
        self.lut
    }
}

/// Native filters a program may not call: they read INC's environment or
/// clock, write to its logs, or end the process.
const REFUSED_NATIVE: &[&str] = &[
    "env",
    "now",
    "localtime",
    "strflocaltime",
    "halt",
    "stderr_empty",
    "debug_empty",
    "input",
    "inputs",
];
/// The standard definitions built on them, refused with them.
const REFUSED_DEFS: &[&str] = &["stderr", "debug", "halt", "halt_error"];

impl Program {
    /// Compiles `code` with the default limits; the error says where and
    /// what, as jq would.
    pub fn compile(code: &str) -> Result<Program, String> {
        Program::compile_with(code, Limits::default())
    }

    /// Compiles a program an endpoint is saved with: one that does not
    /// compile is the `422` naming `transformation`.
    pub fn compile_for_save(code: &str) -> crate::Result<Program> {
        Program::compile(code)
            .map_err(|e| crate::domain::destinations::transformation::not_compiling(&e))
    }

    pub fn compile_with(code: &str, limits: Limits) -> Result<Program, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|d| !REFUSED_DEFS.contains(&d.name));
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| !REFUSED_NATIVE.contains(name));
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| errors::load_errors(code, errors))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let mut out = Vec::new();
                for (_, errs) in errors {
                    for (name, undefined) in errs {
                        out.push(format!(
                            "{} `{name}` is not defined{}",
                            errors::undefined_kind(&undefined),
                            errors::at(code, name)
                        ));
                    }
                }
                out.join("; ")
            })?;
        Ok(Program {
            filter: Arc::new(filter),
            limits,
        })
    }

    /// Runs the program on `input` (a JSON document): its single output,
    /// an object or a string, bounded by the program's limits.
    pub fn run(&self, input: &str) -> Result<Output, RunError> {
        if parked() >= MAX_PARKED {
            return Err(RunError::Unavailable(
                "this instance has stopped too many runaway transformations; retrying elsewhere"
                    .into(),
            ));
        }
        budget::quiet_stops();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let program = self.clone();
        let input = input.to_owned();
        let state = inc_meter::RunState::default();
        let thread_state = state.clone();
        workers::run(Box::new(move || {
            inc_meter::enter(program.limits.memory, &thread_state);
            let result = catch_unwind(AssertUnwindSafe(|| program.execute(&input)));
            drop(input);
            let result = match result {
                Ok(r) => r,
                Err(payload) => Err(match payload.downcast_ref::<Stop>() {
                    Some(stop) => stopped(*stop, &program.limits),
                    None => "the transformation failed inside jq".into(),
                }),
            };
            inc_meter::leave();
            let _ = tx.send(result);
        }))
        .map_err(|e| RunError::Unavailable(format!("no thread for the transformation: {e}")))?;
        // The run checks its own clock; the wait allows for a busy machine,
        // and ends as soon as the meter has parked the thread.
        let deadline = Instant::now() + self.limits.time * 4 + Duration::from_secs(1);
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(result) => return result.map_err(RunError::Program),
                Err(_) if state.hit() == inc_meter::Hit::Memory => {
                    return Err(RunError::Program(stopped(Stop::Memory, &self.limits)));
                }
                Err(_) if Instant::now() > deadline => {
                    return Err(RunError::Program(stopped(Stop::Time, &self.limits)));
                }
                Err(_) => {}
            }
        }
    }

    /// On the run thread: parse, run, shape.
    fn execute(&self, input: &str) -> Result<Output, String> {
        let value = jaq_json::read::parse_single(input.as_bytes())
            .map_err(|e| format!("the input is not JSON: {e}"))?;
        budget::start(self.limits.steps, self.limits.time, self.limits.depth);
        let ctx = Ctx::<Metered>::new(
            Budgeted {
                lut: &self.filter.lut,
            },
            Vars::new([]),
        );
        let mut outputs = self.filter.id.run((ctx, value));
        let first = match outputs.next() {
            None => return Err("the transformation produced no output".into()),
            Some(r) => r.map_err(exception)?,
        };
        if let Some(second) = outputs.next() {
            second.map_err(exception)?;
            return Err("the transformation produced more than one output".into());
        }
        drop(outputs);
        let limit = self.limits.output;
        match first {
            Val::TStr(bytes) | Val::BStr(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if text.len() > limit {
                    return Err(too_long(limit));
                }
                Ok(Output::Text(text))
            }
            Val::Obj(_) => {
                let mut out = Bounded {
                    text: String::new(),
                    limit,
                };
                write!(out, "{first}").map_err(|_| too_long(limit))?;
                Ok(Output::Json(out.text))
            }
            other => Err(format!(
                "the transformation's output must be an object or a string, not {}",
                kind(&other)
            )),
        }
    }
}

fn too_long(limit: usize) -> String {
    format!(
        "the transformation's output is longer than {} KiB",
        limit >> 10
    )
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
        Val::TStr(_) | Val::BStr(_) => "a string",
    }
}

/// A jq error as the notification's `last_error` shows it.
fn exception(e: jaq_core::Exn<'_, Val>) -> String {
    match e.get_err() {
        Ok(err) => {
            let text = err.to_string();
            format!("jq error: {}", text.chars().take(400).collect::<String>())
        }
        Err(_) => "jq error: break outside its label".into(),
    }
}

/// A `fmt::Write` that refuses past its limit.
struct Bounded {
    text: String,
    limit: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// What a stop says, with the limit it hit.
fn stopped(stop: Stop, limits: &Limits) -> String {
    match stop {
        Stop::Steps => format!(
            "the transformation was stopped after {} steps (its limit)",
            limits.steps
        ),
        Stop::Time => format!(
            "the transformation was stopped after {} ms (its time limit)",
            limits.time.as_millis()
        ),
        Stop::Depth => "the transformation was stopped: it recursed too deeply".into(),
        Stop::Memory => format!(
            "the transformation was stopped at {} MiB (its memory limit)",
            limits.memory >> 20
        ),
    }
}

#[cfg(test)]
mod tests;
