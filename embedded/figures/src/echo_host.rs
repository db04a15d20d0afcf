//! The `Platform` of the Echo firmwares: one worker on the one core.
//!
//! - `park` sleeps in WFI until an interrupt (race-free: masked check,
//!   then WFI); `unpark` leaves a token, which is all an interrupt handler
//!   on the same core needs to do, since the core is awake to run it.
//! - `now_nanos` reads the board clock.
//! - `current_worker` answers `None` inside interrupt handlers, so a wake
//!   from a handler takes Echo's path for wakes from outside the pool.
//! - `catch_unwind` is `Ok(f())`: the firmware aborts on panic.

use crate::board;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use echo_sched_core::{PanicPayload, Platform};

/// The host: a wake-up token and the current worker.
pub struct BenchHost {
    token: AtomicBool,
    worker: AtomicUsize,
}

const NO_WORKER: usize = usize::MAX;

impl BenchHost {
    /// A host with no worker running yet.
    pub const fn new() -> Self {
        BenchHost {
            token: AtomicBool::new(false),
            worker: AtomicUsize::new(NO_WORKER),
        }
    }
}

impl Default for BenchHost {
    fn default() -> Self {
        BenchHost::new()
    }
}

// SAFETY: there is one core and one thread of execution besides interrupt
// handlers. `worker` is that thread's value, and `current_worker` answers
// `None` inside handlers, which never run as a worker.
unsafe impl Platform for BenchHost {
    fn park(&self, _worker: usize) {
        board::wait_for_token(&self.token);
    }

    fn unpark(&self, _worker: usize) {
        self.token.store(true, Ordering::SeqCst);
    }

    fn now_nanos(&self) -> u64 {
        board::now_nanos()
    }

    fn random_seed(&self) -> u64 {
        0x9e37_79b9_7f4a_7c15
    }

    fn current_worker(&self) -> Option<usize> {
        if board::in_interrupt() {
            return None;
        }
        match self.worker.load(Ordering::Relaxed) {
            NO_WORKER => None,
            w => Some(w),
        }
    }

    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker
            .store(worker.unwrap_or(NO_WORKER), Ordering::Relaxed);
    }

    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}
