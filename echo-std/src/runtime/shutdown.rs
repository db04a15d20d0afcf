//! Shutting a scheduler down: the core first (it refuses submissions and
//! cancels what is left), then the worker threads are joined, then the
//! services (the blocking pool, then the tokio runtime).
//!
//! Invariants:
//! - No thread joins itself: shutdown may run on a worker or a pool thread
//!   (a task calling `shutdown`, or dropping the last `Arc<Scheduler>`),
//!   and that thread exits on its own once it returns to its loop.
//! - With a deadline (`shutdown_timeout`), a thread still busy at the
//!   deadline plus `SHUTDOWN_GRACE` is detached, never waited for.

use crate::host::backoff;
use crate::host::threads::{self, Join};
use crate::runtime::Scheduler;
use std::time::{Duration, Instant};

/// How long `shutdown_timeout` waits past its deadline for threads that
/// are exiting.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

/// Stops the core, then joins the workers and the services' threads as
/// `join` says (never the caller's own thread).
pub(super) fn stop(scheduler: &Scheduler, join: Join) {
    scheduler.core.shutdown();
    #[cfg(all(feature = "tokio", target_os = "linux"))]
    if let Some(watch) = scheduler.core.platform().high_watch() {
        watch.stop();
    }
    let workers = std::mem::take(&mut *scheduler.lock_threads());
    for t in workers {
        threads::join(t, join);
    }
    // After the workers: the blocking pool (queued closures dropped,
    // running ones finished), then the tokio runtime.
    scheduler.services.shutdown(join);
}

/// Waits until every task has finished, the scheduler has shut down, or
/// `timeout` has passed, then stops it, giving exiting threads
/// `SHUTDOWN_GRACE` past the deadline. Returns true if every task finished
/// in time.
pub(super) fn drain_then_stop(scheduler: &Scheduler, timeout: Duration) -> bool {
    // `None`: no representable deadline, so no deadline.
    let deadline = Instant::now().checked_add(timeout);
    let core = &scheduler.core;
    let drained = backoff::wait_until(deadline, || {
        if core.live_tasks() == 0 {
            Some(true)
        } else if core.is_shutdown() {
            Some(false)
        } else {
            None
        }
    })
    .unwrap_or(false);
    // Threads that are only exiting (idle workers, idle pool threads)
    // get a short grace period past the deadline, so that shutdown is
    // complete when this returns unless something is really stuck.
    let join = deadline.map_or(Join::Wait, |d| {
        Join::Until(d.max(Instant::now()) + SHUTDOWN_GRACE)
    });
    stop(scheduler, join);
    drained
}
