//! `Handle`: a cheap, clonable way to reach a scheduler from anywhere,
//! found from the calling thread (`Handle::current`) or taken from a
//! `Scheduler` (`Scheduler::handle`).
//!
//! A handle holds only the core scheduler (an `Arc`), never the worker
//! threads or the services: it neither keeps the pool running nor delays
//! shutdown. After shutdown, submissions through it are refused and come
//! back as cancelled `JoinHandle`s.

use crate::console::Origin;
use crate::context::spawn::submit_with;
use crate::context::{has_current, with_core};
use crate::host::Core;
use echo_sched_core::{JoinHandle, Priority, TaskOptions};
use std::fmt;
use std::future::Future;

/// A handle to a running [`Scheduler`](crate::Scheduler): submit tasks to
/// it from any thread.
///
/// Get one with [`Handle::current`] (on a worker, inside a task or
/// `block_on`) or [`Scheduler::handle`](crate::Scheduler::handle). It is
/// cheap to clone and is `Send + Sync`. It does not keep the scheduler
/// running: once the scheduler has shut down, [`spawn`](Handle::spawn)
/// gives a handle that resolves to a cancelled
/// [`JoinError`](crate::JoinError).
///
/// ```
/// use echo_std::{Handle, Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
/// let handle: Handle = scheduler.handle();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 7 }, Priority::Normal))
///     .join()
///     .unwrap();
/// assert_eq!(scheduler.block_on(from_thread).unwrap(), 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    core: Core,
}

impl Handle {
    pub(crate) fn new(core: Core) -> Handle {
        Handle { core }
    }

    /// The handle of the scheduler the calling thread belongs to: the
    /// scheduler running the calling task, the one whose
    /// [`block_on`](crate::Scheduler::block_on) is running, or the one
    /// whose blocking pool runs the calling closure.
    ///
    /// # Panics
    ///
    /// If the calling thread belongs to no scheduler; use
    /// [`try_current`](Handle::try_current) to get an error instead.
    ///
    /// ```
    /// use echo_std::{Handle, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(3).build().unwrap();
    /// let workers = scheduler.block_on(async { Handle::current().worker_count() });
    /// assert_eq!(workers, 3);
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }

    /// The handle of the scheduler the calling thread belongs to, as
    /// [`current`](Handle::current) finds it.
    ///
    /// # Errors
    ///
    /// [`TryCurrentError`] if the calling thread belongs to no scheduler.
    ///
    /// ```
    /// use echo_std::Handle;
    /// assert!(Handle::try_current().is_err());
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        if has_current() {
            Ok(Handle::new(with_core(Core::clone)))
        } else {
            Err(TryCurrentError(()))
        }
    }

    /// Submits `future` at `priority` to this handle's scheduler, as
    /// [`Scheduler::submit`](crate::Scheduler::submit) does: called from
    /// outside the pool at the bound on live tasks, it blocks the calling
    /// thread until there is room. After shutdown, or without memory for
    /// the task, the future is dropped and the returned handle resolves to
    /// a cancelled [`JoinError`](crate::JoinError); it never panics.
    ///
    /// ```
    /// use echo_std::{Handle, Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
    /// let handle = scheduler.handle();
    /// let job = handle.spawn(async { "done" }, Priority::Low);
    /// assert_eq!(scheduler.block_on(job).unwrap(), "done");
    /// scheduler.shutdown();
    /// let late = handle.spawn(async { "never" }, Priority::Low);
    /// assert!(late.is_finished());
    /// ```
    #[cfg_attr(feature = "console", track_caller)]
    pub fn spawn<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let origin = Origin::here();
        submit_with(&self.core, future, TaskOptions::new(priority), origin)
    }

    /// The number of worker threads of this handle's scheduler.
    ///
    /// ```
    /// let scheduler = echo_std::Scheduler::builder().worker_count(2).build().unwrap();
    /// assert_eq!(scheduler.handle().worker_count(), 2);
    /// ```
    pub fn worker_count(&self) -> usize {
        self.core.worker_count()
    }

    /// Whether this handle's scheduler has shut down.
    ///
    /// ```
    /// let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
    /// let handle = scheduler.handle();
    /// assert!(!handle.is_shutdown());
    /// drop(scheduler);
    /// assert!(handle.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.core.is_shutdown()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.worker_count())
            .field("shut_down", &self.is_shutdown())
            .finish()
    }
}

/// The error of [`Handle::try_current`]: the calling thread belongs to no
/// Echo scheduler.
///
/// ```
/// let err = echo_std::Handle::try_current().unwrap_err();
/// assert!(err.to_string().contains("no current"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Debug for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryCurrentError")
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "echo: no current scheduler: call Handle::current from a task, inside \
             Scheduler::block_on or #[echo_std::main], or use Scheduler::handle",
        )
    }
}

impl std::error::Error for TryCurrentError {}
