//! A single-threaded host for the core's own tests: no threads, a tick
//! clock, panics caught with std's `catch_unwind`, and a hook that runs
//! inside `unpark` (to put a test's step exactly where a submission wakes a
//! worker).

use crate::platform::{PanicPayload, Platform};
use alloc::boxed::Box;
use core::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub(crate) type Hook = Box<dyn FnOnce()>;

#[derive(Default)]
pub(crate) struct TestHost {
    worker: Cell<Option<usize>>,
    ticks: Cell<u64>,
    unparks: Cell<usize>,
    on_unpark: RefCell<Option<Hook>>,
}

// SAFETY: a test drives the scheduler from one thread only, so the cells
// are never shared between threads.
unsafe impl Send for TestHost {}
// SAFETY: as above.
unsafe impl Sync for TestHost {}

impl TestHost {
    /// Runs `hook` inside the next `unpark`.
    pub(crate) fn on_next_unpark(&self, hook: Hook) {
        *self.on_unpark.borrow_mut() = Some(hook);
    }

    /// Moves the clock forward by `nanos` (the timers' tests).
    #[cfg(feature = "timers")]
    pub(crate) fn advance(&self, nanos: u64) {
        self.ticks.set(self.ticks.get() + nanos);
    }

    /// `unpark` calls so far.
    pub(crate) fn unparks(&self) -> usize {
        self.unparks.get()
    }
}

// SAFETY: one thread (see above), so the cell is that thread's.
unsafe impl Platform for TestHost {
    fn park(&self, _worker: usize) {
        unreachable!("tests drive the scheduler with run_until_idle")
    }
    fn unpark(&self, _worker: usize) {
        self.unparks.set(self.unparks.get() + 1);
        let hook = self.on_unpark.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
    }
    fn now_nanos(&self) -> u64 {
        self.ticks.replace(self.ticks.get() + 1)
    }
    fn random_seed(&self) -> u64 {
        7
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.get()
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker.set(worker);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        catch_unwind(AssertUnwindSafe(f))
    }
}
