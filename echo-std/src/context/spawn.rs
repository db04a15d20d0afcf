//! Submitting a task: `echo_std::spawn`, and the path that it,
//! `Handle::spawn`, `TaskBuilder::submit` and `Scheduler::submit` share.
//!
//! Invariant: a submission from outside the pool that meets the bound on
//! live tasks blocks the calling thread until there is room (only there:
//! inside the pool nothing is refused for room); a refused one (shut down,
//! no memory) gives a cancelled handle, never a panic.

#[cfg(feature = "console")]
use crate::console;
use crate::console::Origin;
use crate::context::with_current;
use crate::host::Core;
use crate::host::block_on;
use echo_sched_core::{JoinHandle, Priority, TaskOptions};
use std::future::Future;

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
    let origin = Origin::here();
    with_current(|core| match core {
        Some(core) => submit_with(core, future, TaskOptions::new(priority), origin),
        None => panic!(
            "echo_std::spawn called outside an Echo scheduler: call it from a task, \
             or inside Scheduler::block_on, or use Scheduler::submit"
        ),
    })
}

/// Submits on `core` like [`Scheduler::submit`](crate::Scheduler::submit): outside the pool and at
/// the bound, blocks the thread until there is room; refused after
/// shutdown.
pub(crate) fn submit_with<F>(
    core: &Core,
    future: F,
    options: TaskOptions,
    #[allow(unused_variables)] origin: Origin,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // tokio-console's span (feature `console`), made once the task exists.
    #[cfg(feature = "console")]
    let (future, slot) =
        console::instrument(future, &options, "task", origin, crate::context::current_id);
    let handle = submit_unwrapped(core, future, options);
    #[cfg(feature = "console")]
    console::Slot::spawned(slot, &handle);
    handle
}

/// [`submit_with`] for a future that is instrumented already (or needs
/// no span).
pub(crate) fn submit_unwrapped<F>(
    core: &Core,
    future: F,
    options: TaskOptions,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match core.try_spawn_with(future, options.clone()) {
        Ok(handle) => handle,
        Err(e) if e.is_full() => {
            // Only outside the pool (inside it, nothing is refused for
            // room), so blocking this thread is allowed.
            let when_room = core.spawn_when_room(e.into_inner(), options);
            block_on::run(when_room).unwrap_or_else(|_| core.spawn_refused())
        }
        Err(_) => core.spawn_refused(),
    }
}

/// Submits a batch like [`Scheduler::submit_batch`](crate::Scheduler::submit_batch),
/// its futures instrumented already (or needing no span).
pub(crate) fn submit_batch_unwrapped<I, F>(
    core: &Core,
    futures: I,
    priority: Priority,
) -> Vec<JoinHandle<F::Output>>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (mut handles, mut rest) = core.spawn_batch(futures.into_iter().collect(), priority);
    while !rest.is_empty() {
        // The bound is full, the scheduler shut down, or there was no
        // memory: one submission the slow way (it waits for room, or is
        // refused), then the rest as a batch again.
        let first = rest.remove(0);
        // Not `submit`: with the `console` feature the future is
        // instrumented already.
        handles.push(submit_unwrapped(core, first, TaskOptions::new(priority)));
        if core.is_shutdown() {
            handles.extend(rest.drain(..).map(|_| core.spawn_refused()));
        }
        let (admitted, left) = core.spawn_batch(rest, priority);
        handles.extend(admitted);
        rest = left;
    }
    handles
}
