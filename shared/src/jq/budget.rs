//! A run's budget of steps, time and stack depth, checked at each step jaq
//! takes (every context hand-over); a spent one unwinds the run's thread
//! with a private [`Stop`] payload that the panic log never shows.

use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

/// Why a run was stopped (the private panic payload).
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    Steps,
    Time,
    Depth,
    Memory,
}

/// The run thread's budget.
#[derive(Clone, Copy)]
struct Budget {
    steps_left: u64,
    deadline: Instant,
    stack_base: usize,
    depth: usize,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

pub fn start(steps: u64, time: Duration, depth: usize) {
    let marker = 0u8;
    BUDGET.with(|b| {
        b.set(Some(Budget {
            steps_left: steps,
            deadline: Instant::now() + time,
            stack_base: std::ptr::addr_of!(marker) as usize,
            depth,
        }))
    });
}

/// One context hand-over: counts it, and every 256th checks the clock;
/// measures the stack each time.
pub fn step() {
    let Some(mut budget) = BUDGET.with(Cell::get) else {
        return;
    };
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    let stop = if budget.steps_left == 0 {
        Some(Stop::Steps)
    } else if budget.stack_base.abs_diff(here) > budget.depth {
        Some(Stop::Depth)
    } else if budget.steps_left % 256 == 0 && Instant::now() > budget.deadline {
        Some(Stop::Time)
    } else {
        None
    };
    if let Some(stop) = stop {
        // Once stopped, the unwinding's own clones must not stop again.
        BUDGET.with(|b| b.set(None));
        std::panic::panic_any(stop);
    }
    budget.steps_left -= 1;
    BUDGET.with(|b| b.set(Some(budget)));
}

/// Keeps the runs' stops out of the panic log; every other panic is
/// reported as before.
pub fn quiet_stops() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Stop>().is_none() {
                previous(info);
            }
        }));
    });
}
