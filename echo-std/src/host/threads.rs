//! Joining the threads a scheduler started (workers, blocking-pool
//! threads, the tokio driver thread in that mode) when it shuts down.
//!
//! Rules:
//! - A thread never joins itself: shutdown may run on any of them (a task
//!   calling `shutdown`, or dropping the last `Arc<Scheduler>`), and that
//!   thread exits on its own once it returns to its loop.
//! - With a deadline, a thread still running at the deadline is detached
//!   (its `JoinHandle` dropped), never waited for: `shutdown_timeout(d)`
//!   returns within `d` and a small slack even if a blocking closure runs
//!   for a minute.
//!
//! Also the one setting a scheduler's threads ask of the OS at start:
//! a tight timer slack (`tighten_timer_slack`).

use crate::host::backoff;
use crate::host::drop_payload;
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// How long shutdown waits for the threads it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// Wait until each has exited.
    Wait,
    /// Wait until each has exited or the deadline passes, then detach the
    /// rest.
    Until(Instant),
}

/// Joins `handle` as `join` says, unless it is the calling thread (then it
/// is detached). Returns whether the thread was joined.
pub(crate) fn join(handle: JoinHandle<()>, join: Join) -> bool {
    if handle.thread().id() == thread::current().id() {
        return false;
    }
    match join {
        // The threads contain the panics of the code they run (tasks,
        // closures); a join error would only drop a payload, which
        // `drop_payload` contains.
        Join::Wait => {
            if let Err(payload) = handle.join() {
                drop_payload(payload);
            }
            true
        }
        Join::Until(deadline) => {
            if backoff::wait_until(Some(deadline), || handle.is_finished().then_some(())).is_none()
            {
                return false; // detached: it exits on its own
            }
            if let Err(payload) = handle.join() {
                drop_payload(payload);
            }
            true
        }
    }
}

/// Asks Linux to end this thread's timed waits on time. By default the
/// kernel may delay them by up to 50 µs (the thread's "timer slack") to
/// batch wake-ups, which is half of the timers' precision budget; a worker
/// that sleeps until a timer's deadline asks for 1 ns instead. Elsewhere
/// it does nothing.
pub(crate) fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes
    // only the calling thread's timer slack; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}
