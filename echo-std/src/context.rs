//! The scheduler the calling thread belongs to: set on worker threads and
//! inside `block_on`, so that `echo_std::spawn` and `task::current` work
//! without a handle.

use crate::platform::StdPlatform;
use echo_sched_core::{JoinHandle, Priority, TaskInfo};
use std::cell::RefCell;
use std::future::Future;

type Core = echo_sched_core::Scheduler<StdPlatform>;

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

/// A [`TaskBuilder`](crate::TaskBuilder) that submits to the current
/// scheduler (the one running the calling task, or the enclosing
/// `block_on`'s).
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
/// let name = scheduler.block_on(async {
///     let child = echo_std::task::builder()
///         .name("child")
///         .priority(Priority::High)
///         .submit(async { echo_std::task::current().unwrap().name().map(str::to_owned) });
///     child.await.unwrap()
/// });
/// assert_eq!(name.as_deref(), Some("child"));
/// ```
pub fn builder() -> crate::TaskBuilder<'static> {
    crate::TaskBuilder::new(None)
}

/// Submits `future` at `priority` to the scheduler of the calling task (or
/// of the enclosing [`Scheduler::block_on`](crate::Scheduler::block_on)).
///
/// After that scheduler has shut down, or when there is no memory for the
/// task (the operating system refused the slab a chunk), the future is
/// dropped and the handle resolves to a cancelled `JoinError`; nothing else
/// cancels it.
///
/// Under a bound on live tasks
/// ([`max_tasks`](crate::SchedulerBuilder::max_tasks)), a spawn from a task
/// is always admitted, and a spawn from elsewhere (inside `block_on`, or on
/// a blocking-pool thread) waits for room by blocking the thread, as
/// [`Scheduler::submit`](crate::Scheduler::submit) does. So a `block_on`
/// future that spawns in a loop is held to the bound; one that the spawned
/// tasks themselves wait on should use
/// [`try_submit`](crate::Scheduler::try_submit) or
/// [`submit_async`](crate::Scheduler::submit_async) instead.
///
/// # Panics
///
/// If the calling thread is not an Echo worker and not inside `block_on`.
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
/// let sum = scheduler.block_on(async {
///     let a = echo_std::spawn(async { 1 }, Priority::Normal);
///     let b = echo_std::spawn(async { 2 }, Priority::High);
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F, priority: Priority) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let origin = crate::console::Origin::here();
    with_current(|core| match core {
        Some(core) => crate::scheduler::submit_with(
            core,
            future,
            echo_sched_core::TaskOptions::new(priority),
            origin,
        ),
        None => panic!(
            "echo_std::spawn called outside an Echo scheduler: call it from a task, \
             or inside Scheduler::block_on, or use Scheduler::submit"
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
