//! The threads programs run on: one per run at a time, kept for the next
//! run when it ends normally; one the meter parked, or still busy past its
//! run's deadline, is simply never given another.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

pub type Job = Box<dyn FnOnce() + Send>;

/// Idle workers, each waiting on its own channel.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());
/// The run thread's stack: the depth limit plus room for native code and
/// the unwinding that follows a stop.
const STACK: usize = 32 << 20;
/// Most idle workers kept: past it, a worker ends with its run.
const MAX_IDLE: usize = 4;

fn idle() -> std::sync::MutexGuard<'static, Vec<Sender<Job>>> {
    IDLE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `job` on an idle worker, or a new one.
pub fn run(job: Job) -> std::io::Result<()> {
    let waiting = idle().pop();
    let job = match waiting {
        Some(worker) => match worker.send(job) {
            Ok(()) => return Ok(()),
            Err(lost) => lost.0,
        },
        None => job,
    };
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("inc-jq".into())
        .stack_size(STACK)
        .spawn(move || {
            let mut job = job;
            loop {
                job();
                {
                    let mut idle = idle();
                    if idle.len() >= MAX_IDLE {
                        return;
                    }
                    idle.push(tx.clone());
                }
                match rx.recv() {
                    Ok(next) => job = next,
                    Err(_) => return,
                }
            }
        })
        .map(|_| ())
}
