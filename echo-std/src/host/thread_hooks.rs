//! The callbacks a worker thread runs when it starts and when it stops
//! (`SchedulerBuilder::on_thread_start` / `on_thread_stop`).
//!
//! A hook runs on the worker thread itself, inside the scheduler's context
//! (so `Handle::current` works in it), before the worker polls any task
//! and after it has polled its last. A panicking hook must not take the
//! worker down (the pool would lose a thread and shutdown a participant),
//! so the panic is caught; the panic hook has already reported it.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// A shareable `Fn()` that a worker thread calls.
#[derive(Clone)]
pub(crate) struct ThreadHook(Arc<dyn Fn() + Send + Sync + 'static>);

impl ThreadHook {
    pub(crate) fn new(f: impl Fn() + Send + Sync + 'static) -> ThreadHook {
        ThreadHook(Arc::new(f))
    }

    /// Calls the hook, containing a panic.
    pub(crate) fn call(&self) {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| (self.0)()));
    }
}

impl fmt::Debug for ThreadHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadHook(..)")
    }
}
