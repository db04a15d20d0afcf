//! `spawn_blocking`: a bounded, elastic pool of threads for closures that
//! block (file and database calls, compression, synchronous libraries), so
//! that they never stall the workers.
//!
//! # How a blocking call becomes a `JoinHandle`
//!
//! `spawn_blocking(f)` submits two things: a tiny Echo task (the *relay*)
//! and a job for the pool. The job runs `f` on a pool thread under
//! `catch_unwind` and puts the outcome in a one-shot slot; the relay awaits
//! that slot and returns the value, or resumes the closure's panic, so the
//! core records it as the task's panic. The caller therefore gets an
//! ordinary [`JoinHandle<T>`](crate::JoinHandle), with everything a handle
//! does: awaiting, [`abort`](crate::JoinHandle::abort), priority
//! inheritance, and cancellation at shutdown.
//!
//! The relay runs at the priority of the task that called `spawn_blocking`
//! (Normal outside a task) and is counted in the scheduler's metrics like
//! any task.
//!
//! # The pool
//!
//! - Bounded: at most `max_blocking_threads` threads (default 64). Closures
//!   beyond that wait in a FIFO queue for a free thread.
//! - Elastic: no thread exists until the first closure; a closure that
//!   finds no idle thread starts one (under the bound); a thread that has
//!   been idle for `blocking_keep_alive` (default 10 s) exits.
//! - A panic in a closure is caught on its thread and reported through the
//!   handle; the thread lives on.
//! - An aborted handle whose closure has not started yet skips the closure.
//!   A closure that has started always runs to its end (threads cannot be
//!   interrupted).
//! - Shutdown: queued closures are dropped without running, running
//!   closures finish, and every pool thread is joined. Their handles, like
//!   every unfinished task's, report cancellation: the relay tasks are
//!   cancelled by the scheduler's shutdown, which comes first.
//!
//! Pool threads are named `{thread_name}-blocking-{n}`. They run inside the
//! scheduler's context: [`spawn`](crate::spawn),
//! [`spawn_blocking`](crate::spawn_blocking) and (with the `tokio` feature)
//! tokio's `Handle::current()` work in a closure, and so does
//! [`Scheduler::block_on`](crate::Scheduler::block_on), since a pool thread may block.
//!
//! Inside: the pool and its threads (`pool.rs`), and the one-shot slot
//! between a pool thread and its relay task (`relay.rs`). The builder's
//! settings and `Scheduler::spawn_blocking` are with the other methods of
//! those types, in `runtime/`.

mod pool;
mod relay;

pub(crate) use pool::{BlockingConfig, BlockingPool};

use crate::context;
use echo_sched_core::{JoinHandle, Priority};
use std::cell::RefCell;

thread_local! {
    /// The blocking pool of the scheduler this thread belongs to.
    static CURRENT_POOL: RefCell<Option<BlockingPool>> = const { RefCell::new(None) };
}

/// Makes `pool` the calling thread's blocking pool until the guard drops.
pub(crate) fn enter(pool: BlockingPool) -> PoolGuard {
    let prev = CURRENT_POOL.with(|c| c.replace(Some(pool)));
    PoolGuard { prev }
}

/// Restores the previous pool when dropped.
pub(crate) struct PoolGuard {
    prev: Option<BlockingPool>,
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The thread may be exiting; then there is nothing to restore.
        let _ = CURRENT_POOL.try_with(|c| c.replace(prev));
    }
}

/// Runs `f` on the blocking pool of the current scheduler and returns a
/// handle to its result.
///
/// Call it from a task, from inside [`Scheduler::block_on`](crate::Scheduler::block_on), or from
/// another blocking closure. The closure runs on one of the scheduler's
/// blocking threads (bounded by
/// [`max_blocking_threads`](crate::SchedulerBuilder::max_blocking_threads), started
/// on demand, and retired after
/// [`blocking_keep_alive`](crate::SchedulerBuilder::blocking_keep_alive) idle), so
/// it may block for as long as it likes without delaying any task.
///
/// The handle resolves to the closure's value, to a panic
/// ([`JoinError::is_panic`](crate::JoinError::is_panic), with the payload)
/// if the closure panicked, or to a cancellation if the scheduler shut down
/// first. [`abort`](crate::JoinHandle::abort) cancels the handle, and also
/// the closure if it has not started yet; a started closure runs to its
/// end and its value is dropped. After shutdown the closure is dropped
/// unrun and the handle is cancelled.
///
/// # Panics
///
/// If the calling thread belongs to no Echo scheduler (use
/// [`Scheduler::spawn_blocking`](crate::Scheduler::spawn_blocking) there).
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let task = scheduler.submit(async {
///     // Blocks a pool thread, not this task's worker.
///     let sum = echo_std::spawn_blocking(|| {
///         std::thread::sleep(std::time::Duration::from_millis(10));
///         (1..=10u32).sum::<u32>()
///     });
///     sum.await.unwrap()
/// }, Priority::High);
/// assert_eq!(scheduler.block_on(task)?, 55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = CURRENT_POOL.with(|c| c.borrow().clone());
    let Some(pool) = pool else {
        panic!(
            "echo_std::spawn_blocking called outside an Echo scheduler: call it from a task, \
             or inside Scheduler::block_on, or use Scheduler::spawn_blocking"
        );
    };
    let priority = context::current().map_or(Priority::Normal, |info| info.priority());
    pool.spawn(f, |relay| context::spawn(relay, priority))
}
