//! A memory budget for one thread at a time, enforced by the process's
//! allocator *before* each allocation, so no single request — a string
//! repeated a billion times, an exponentially shared value serialised — can
//! take memory past it.
//!
//! A thread is metered between [`enter`] and [`leave`]; every other thread
//! (and every allocation outside that window) goes straight to the system
//! allocator with one thread-local read added. A metered thread whose next
//! allocation would pass its budget is **stopped where it stands**: it
//! parks, holding at most its budget, and the process counts it in
//! [`stopped`]. Nothing can unwind out of an allocator, so parking is the
//! only way to refuse memory without aborting the process; whoever waits on
//! the thread sees it time out and reads [`Hit::Memory`] in the run's state.
//!
//! Install it once in a binary (`inc-shared` does, for all of INC):
//! `#[global_allocator] static A: inc_meter::Metered = inc_meter::Metered;`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

/// The process's allocator: the system's, with the meter in front.
pub struct Metered;

thread_local! {
    /// Bytes this thread may hold while metered (0: not metered).
    static BUDGET: Cell<usize> = const { Cell::new(0) };
    /// Bytes it holds now, counted since [`enter`].
    static HELD: Cell<usize> = const { Cell::new(0) };
    /// Where to say that the budget was hit (the run's shared state).
    static STATE: Cell<*const AtomicU8> = const { Cell::new(std::ptr::null()) };
}

/// Threads parked on their budget in this process.
static STOPPED: AtomicUsize = AtomicUsize::new(0);

/// What a metered run ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Hit {
    Nothing = 0,
    Memory = 1,
}

/// A run's state, shared by the metered thread and whoever waits on it.
#[derive(Debug, Clone, Default)]
pub struct RunState(Arc<AtomicU8>);

impl RunState {
    pub fn hit(&self) -> Hit {
        match self.0.load(Ordering::Acquire) {
            1 => Hit::Memory,
            _ => Hit::Nothing,
        }
    }
}

/// Meters the calling thread from now on: it may hold `budget` more bytes.
pub fn enter(budget: usize, state: &RunState) {
    leave();
    // The thread holds one count of the state until [`leave`] (a parked
    // thread holds it for good), so the allocator may always write to it.
    STATE.with(|s| s.set(Arc::into_raw(Arc::clone(&state.0))));
    HELD.with(|h| h.set(0));
    BUDGET.with(|b| b.set(budget.max(1)));
}

/// Stops metering the calling thread.
pub fn leave() {
    BUDGET.with(|b| b.set(0));
    HELD.with(|h| h.set(0));
    let state = STATE.with(|s| s.replace(std::ptr::null()));
    if !state.is_null() {
        // SAFETY: the pointer came from `Arc::into_raw` in `enter` and is
        // given back exactly once, here.
        #[allow(unsafe_code)]
        drop(unsafe { Arc::from_raw(state) });
    }
}

/// Bytes the calling thread holds since [`enter`] (0 when not metered).
pub fn held() -> usize {
    HELD.with(Cell::get)
}

/// How many threads this process has parked on their budget.
pub fn stopped() -> usize {
    STOPPED.load(Ordering::Relaxed)
}

/// Whether the calling thread may take `size` more bytes; parks it for good
/// when it may not.
fn admit(size: usize) {
    let budget = BUDGET.with(Cell::get);
    if budget == 0 {
        return;
    }
    let held = HELD.with(Cell::get);
    let next = held.saturating_add(size);
    if next > budget {
        // Unmeter first, so nothing below counts or recurses.
        BUDGET.with(|b| b.set(0));
        let state = STATE.with(Cell::get);
        if !state.is_null() {
            // SAFETY: set by `enter` from a live `Arc` this thread holds a
            // count of until `leave`, which a parked thread never reaches.
            #[allow(unsafe_code)]
            unsafe { &*state }.store(Hit::Memory as u8, Ordering::Release);
        }
        STOPPED.fetch_add(1, Ordering::Relaxed);
        loop {
            std::thread::park_timeout(Duration::from_secs(3600));
        }
    }
    HELD.with(|h| h.set(next));
}

fn release(size: usize) {
    if BUDGET.with(Cell::get) != 0 {
        HELD.with(|h| h.set(h.get().saturating_sub(size)));
    }
}

// SAFETY (for the whole impl): every call delegates to `System` with the
// caller's own arguments, unchanged; the meter only counts sizes and may
// park the thread *before* delegating, never after.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        admit(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        admit(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        release(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            admit(new_size - layout.size());
        } else {
            release(layout.size() - new_size);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static A: Metered = Metered;

    #[test]
    fn a_thread_within_its_budget_runs_and_counts() {
        let state = RunState::default();
        let (with, without) = std::thread::spawn({
            let state = state.clone();
            move || {
                enter(1 << 20, &state);
                let v = vec![0u8; 1000];
                let with = held();
                drop(v);
                let without = held();
                leave();
                (with, without)
            }
        })
        .join()
        .expect("joins");
        assert!(with >= 1000, "{with}");
        assert!(without < with, "{without} < {with}");
        assert_eq!(state.hit(), Hit::Nothing);
    }

    #[test]
    fn one_request_past_the_budget_parks_the_thread_before_it_allocates() {
        let state = RunState::default();
        let before = stopped();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let state = state.clone();
            move || {
                enter(1 << 20, &state);
                // A terabyte: the system would refuse it and abort the
                // process; the meter parks the thread first.
                let huge: Vec<u8> = Vec::with_capacity(1 << 40);
                leave();
                let _ = tx.send(huge.capacity());
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while state.hit() != Hit::Memory {
            assert!(std::time::Instant::now() < deadline, "not stopped");
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err(), "the allocation went ahead");
        assert!(stopped() > before);
    }
}
