//! The scheduler the calling thread belongs to: set on worker threads,
//! blocking-pool threads and inside `block_on`, so that `echo_std::spawn`,
//! `task::current` and `Handle::current` work without a handle; and the
//! submission path that every spawn function shares (`spawn.rs`).
//!
//! Invariant: entering saves the thread's previous scheduler and the
//! guard restores it, so contexts nest (a `block_on` on a pool thread).

mod handle;
mod spawn;

pub use handle::{Handle, TryCurrentError};
pub use spawn::spawn;
pub(crate) use spawn::{submit_batch_unwrapped, submit_with};

use crate::host::Core;
use echo_sched_core::{TaskId, TaskInfo};
use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<Core>> = const { RefCell::new(None) };
}

/// Makes `core` the calling thread's scheduler until the guard drops.
pub(crate) fn enter(core: Core) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(core)));
    EnterGuard { prev }
}

/// Restores the previous scheduler when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Core>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The thread may be exiting; then there is nothing to restore.
        let _ = CURRENT.try_with(|c| c.replace(prev));
    }
}

fn with_current<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_ref()))
}

/// Runs `f` with the current scheduler's core.
///
/// # Panics
///
/// If the calling thread has no current scheduler.
#[track_caller]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> R {
    with_current(|core| match core {
        Some(core) => f(core),
        None => panic!(
            "echo: no current scheduler: call this from a task, or inside \
             Scheduler::block_on, or use a Scheduler's own methods"
        ),
    })
}

/// Whether the calling thread has a current scheduler.
pub(crate) fn has_current() -> bool {
    with_current(|core| core.is_some())
}

/// The running task's identity: id, name, priority and age.
///
/// Returns `None` outside a task (for example in `block_on`'s own future,
/// which is not a task).
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
/// let handle = scheduler.submit(async {
///     let me = echo_std::task::current().unwrap();
///     (me.priority(), me.id())
/// }, Priority::Low);
/// let id = handle.id();
/// assert_eq!(scheduler.block_on(handle).unwrap(), (Priority::Low, id));
/// ```
pub fn current() -> Option<TaskInfo> {
    with_current(|core| core.and_then(|c| c.current_task()))
}

/// The running task's id, `TaskId::NONE` outside a task: the hook that
/// tokio-console's spans (module `console`) call to learn a task's id.
#[cfg_attr(not(feature = "console"), allow(dead_code))]
pub(crate) fn current_id() -> TaskId {
    current().map_or(TaskId::NONE, |info| info.id())
}

/// Whether the calling thread can use [`spawn`](crate::spawn): it is a
/// worker, a blocking-pool thread, or inside [`Scheduler::block_on`](crate::Scheduler::block_on).
///
/// ```
/// use echo_std::Scheduler;
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// assert!(!echo_std::in_scheduler_context());
/// assert!(scheduler.block_on(async { echo_std::in_scheduler_context() }));
/// # Ok::<(), echo_std::BuildError>(())
/// ```
pub fn in_scheduler_context() -> bool {
    has_current()
}
