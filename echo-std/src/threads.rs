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

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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
                crate::platform::drop_payload(payload);
            }
            true
        }
        Join::Until(deadline) => {
            let mut nap = Duration::from_micros(50);
            while !handle.is_finished() {
                let now = Instant::now();
                if now >= deadline {
                    return false; // detached: it exits on its own
                }
                thread::sleep(nap.min(deadline - now));
                nap = (nap * 2).min(Duration::from_millis(2));
            }
            if let Err(payload) = handle.join() {
                crate::platform::drop_payload(payload);
            }
            true
        }
    }
}
