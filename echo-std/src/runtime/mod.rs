//! The runtime: [`Scheduler`], a pool of OS threads running Echo, built by
//! [`SchedulerBuilder`] (`builder.rs`) with its services (`services.rs`:
//! the blocking pool and the tokio bridge), its threads started by
//! `start.rs` and stopped by `shutdown.rs`.
//!
//! Every method of `Scheduler` is in this file, the features' too (in
//! blocks of their own); every method of `SchedulerBuilder` is in
//! `builder.rs`.
//!
//! Invariant: a `Scheduler` owns its threads; dropping it shuts it down
//! and joins every one of them except the caller's own.

mod builder;
mod error;
mod services;
mod shutdown;
mod start;

pub use builder::SchedulerBuilder;
pub use error::BuildError;

#[cfg(feature = "console")]
use crate::console;
use crate::console::Origin;
use crate::context::{self, Handle, submit_batch_unwrapped, submit_with};
use crate::host::block_on;
use crate::host::threads::Join;
use crate::host::{Core, StdPlatform, on_any_worker};
use crate::task::TaskBuilder;
use echo_sched_core::{
    JoinHandle, Metrics, Priority, SpawnWhenRoom, SubmitError, TaskName, TaskOptions,
};
use services::Services;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// A pool of worker threads running tasks at three priorities.
///
/// ```
/// use echo_std::{JoinHandle, Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(2).build()?;
/// let handle: JoinHandle<u64> = scheduler.submit(async { 6 * 7 }, Priority::High);
/// assert_eq!(scheduler.block_on(handle)?, 42);
/// scheduler.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping the scheduler shuts it down. Share it between threads with an
/// `Arc`: every method takes `&self`, including
/// [`shutdown`](Scheduler::shutdown).
pub struct Scheduler {
    core: Core,
    /// The workers (and the High responder), until joined.
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// The blocking pool and the tokio bridge (`services.rs`).
    services: Services,
}

impl Scheduler {
    /// A builder with the defaults: one worker per CPU, no bound on live
    /// tasks, the default starvation intervals.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().build()?;
    /// assert!(scheduler.worker_count() >= 1);
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// A scheduler of `core` with room for `workers` threads, none started
    /// yet (`builder.rs` starts them).
    fn new(core: Core, workers: usize, services: Services) -> Scheduler {
        Scheduler {
            core,
            threads: Mutex::new(Vec::with_capacity(workers)),
            services,
        }
    }

    fn lock_threads(&self) -> std::sync::MutexGuard<'_, Vec<thread::JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits `future` to run at `priority` and returns its handle.
    ///
    /// With a bound on live tasks ([`max_tasks`](SchedulerBuilder::max_tasks))
    /// and called from outside the pool, it blocks the calling thread until
    /// there is room. After shutdown, or when there is no memory for the
    /// task (the operating system refused the slab a chunk), the future is
    /// dropped and the handle resolves to a cancelled
    /// [`JoinError`](crate::JoinError); use
    /// [`try_submit`](Scheduler::try_submit) to get the future back.
    ///
    /// Dropping the returned handle detaches the task: it still runs.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(2).build()?;
    /// let frame = scheduler.submit(async { "drawn" }, Priority::High);
    /// scheduler.submit(async { /* fire and forget */ }, Priority::Low);
    /// assert_eq!(scheduler.block_on(frame)?, "drawn");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(feature = "console", track_caller)]
    pub fn submit<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let origin = Origin::here();
        submit_with(&self.core, future, TaskOptions::new(priority), origin)
    }

    /// Submits many tasks at `priority` with a single wake-up, returning
    /// their handles in order. Cheaper than a loop of
    /// [`submit`](Scheduler::submit) (one shard lock, one notification).
    /// At the bound on live tasks it submits what fits, then waits for room
    /// as `submit` does; after shutdown the remaining handles resolve to a
    /// cancelled error, and so does the handle of each task there was no
    /// memory for (as with `submit`).
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
    /// let handles = scheduler.submit_batch((0..100u32).map(|i| async move { i * 2 }), Priority::Normal);
    /// let sum: u32 = handles.into_iter().map(|h| scheduler.block_on(h).unwrap()).sum();
    /// assert_eq!(sum, 9900);
    /// ```
    #[cfg_attr(feature = "console", track_caller)]
    pub fn submit_batch<I, F>(&self, futures: I, priority: Priority) -> Vec<JoinHandle<F::Output>>
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        #[cfg(feature = "console")]
        {
            // Each future in its span's wrapper; the spans are made once
            // the handles exist.
            let origin = Origin::here();
            let options = TaskOptions::new(priority);
            let (futures, slots): (Vec<_>, Vec<_>) = futures
                .into_iter()
                .map(|f| console::instrument(f, &options, "task", origin, context::current_id))
                .unzip();
            let handles = submit_batch_unwrapped(&self.core, futures, priority);
            for (slot, handle) in slots.into_iter().zip(&handles) {
                console::Slot::spawned(slot, handle);
            }
            handles
        }
        #[cfg(not(feature = "console"))]
        submit_batch_unwrapped(&self.core, futures, priority)
    }

    /// A builder to name a task and set its priority before submitting it
    /// here.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler.task().name("autosave").priority(Priority::Low).submit(async {
    ///     echo_std::task::current().unwrap().priority()
    /// });
    /// assert_eq!(scheduler.block_on(handle)?, Priority::Low);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder::new(Some(&self.core))
    }

    /// A [`Handle`](crate::Handle) to this scheduler: clonable, `Send +
    /// Sync`, and it does not keep the scheduler running.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// let handle = scheduler.handle();
    /// let job = handle.spawn(async { 1 + 1 }, Priority::High);
    /// assert_eq!(scheduler.block_on(job).unwrap(), 2);
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.clone())
    }

    /// Submits `future` once there is room under the bound on live tasks,
    /// waiting asynchronously (from any executor) until there is.
    ///
    /// # Errors
    ///
    /// The returned future resolves to a [`SubmitError`] holding the
    /// future if the scheduler shuts down before there is room, or if there
    /// is no memory for the task.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).max_tasks(2).build().unwrap();
    /// let handle = scheduler.block_on(scheduler.submit_async(async { 3 }, Priority::Low));
    /// assert_eq!(scheduler.block_on(handle.unwrap()).unwrap(), 3);
    /// ```
    pub fn submit_async<F>(&self, future: F, priority: Priority) -> SpawnWhenRoom<F, StdPlatform>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core
            .spawn_when_room(future, TaskOptions::new(priority))
    }

    /// Submits `future` without ever waiting, or returns it inside the
    /// error.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding the future (get it back with
    /// [`into_inner`](SubmitError::into_inner)) if the scheduler has shut
    /// down ([`is_shutdown`](SubmitError::is_shutdown)), if the bound on
    /// live tasks is reached and the caller is outside the pool
    /// ([`is_full`](SubmitError::is_full)), or if there is no memory for
    /// the task: the operating system refused the slab a chunk
    /// ([`is_no_memory`](SubmitError::is_no_memory)). The scheduler goes on
    /// after any of them.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.shutdown();
    /// let fut = async { 1 };
    /// match scheduler.try_submit(fut, Priority::Low) {
    ///     Ok(_) => unreachable!(),
    ///     Err(e) => {
    ///         assert!(e.is_shutdown());
    ///         let fut = e.into_inner(); // the future, undropped
    ///         # drop(fut);
    ///     }
    /// }
    /// ```
    pub fn try_submit<F>(
        &self,
        future: F,
        priority: Priority,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.try_spawn(future, priority)
    }

    /// Submits a named task, as [`try_submit`](Scheduler::try_submit) does;
    /// the name shows in [`task::current`](crate::task::current) and, with
    /// the `tracing` feature, on the task's span.
    /// [`task`](Scheduler::task) is the builder form of the same thing.
    ///
    /// # Errors
    ///
    /// As [`try_submit`](Scheduler::try_submit): the future comes back
    /// inside the [`SubmitError`] after shutdown, at the bound, or without
    /// memory for the task.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler
    ///     .try_submit_named(async { echo_std::task::current().unwrap().name().map(str::to_owned) }, Priority::Normal, "index")
    ///     .map_err(|_| "refused")?;
    /// assert_eq!(scheduler.block_on(handle)?.as_deref(), Some("index"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_submit_named<F>(
        &self,
        future: F,
        priority: Priority,
        name: impl Into<TaskName>,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core
            .try_spawn_with(future, TaskOptions::new(priority).name(name))
    }

    /// Runs `future` to completion on the calling thread, which blocks
    /// between polls. Inside it, [`spawn`](crate::spawn) submits to this
    /// scheduler, [`spawn_blocking`](crate::spawn_blocking) uses its
    /// blocking pool and, with the `tokio` feature, tokio resources use its
    /// tokio runtime.
    ///
    /// # Panics
    ///
    /// If called on a worker thread of any Echo scheduler: a worker must
    /// never block. Await the future instead.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let answer = scheduler.block_on(async {
    ///     // `spawn` works here: it submits to `scheduler`.
    ///     let part = echo_std::spawn(async { 21 }, Priority::Normal);
    ///     part.await.unwrap() * 2
    /// });
    /// assert_eq!(answer, 42);
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if on_any_worker() {
            panic!(
                "echo: Scheduler::block_on called on a worker thread; a worker must not \
                 block, so await the future instead"
            );
        }
        let _ctx = context::enter(self.core.clone());
        let _services = self.services.enter();
        block_on::run(future)
    }

    /// A snapshot of the counters: per tier submitted, completed, panicked,
    /// cancelled, polls and queue depth; steals, parks and unparks; and,
    /// with [`detailed_metrics`](SchedulerBuilder::detailed_metrics) (the
    /// default), first-poll latency and each worker's busy share.
    /// `Display` renders it as a table.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handles = scheduler.submit_batch((0..3).map(|_| async {}), Priority::Low);
    /// for h in handles {
    ///     scheduler.block_on(h)?;
    /// }
    /// let metrics = scheduler.metrics();
    /// assert_eq!(metrics.tier(Priority::Low).completed, 3);
    /// println!("{metrics}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// Echo timers ([`time`](crate::time)) armed and not yet fired or
    /// dropped. A timer is armed by its first poll.
    ///
    /// ```
    /// use echo_std::time::{sleep, Duration};
    /// let scheduler = echo_std::Scheduler::builder().worker_count(1).build()?;
    /// scheduler.block_on(async {
    ///     let mut nap = std::pin::pin!(sleep(Duration::from_secs(3600)));
    ///     assert!(futures_poll_once(nap.as_mut()));
    /// });
    /// # fn futures_poll_once(f: std::pin::Pin<&mut echo_std::time::Sleep>) -> bool {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     f.poll(&mut cx).is_pending()
    /// # }
    /// assert_eq!(scheduler.armed_timers(), 0, "dropped with its future");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn armed_timers(&self) -> usize {
        self.core.armed_timers()
    }

    /// The number of worker threads.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(2).build()?;
    /// assert_eq!(scheduler.worker_count(), 2);
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn worker_count(&self) -> usize {
        self.core.worker_count()
    }

    /// Tasks submitted and not yet finished.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// assert_eq!(scheduler.live_tasks(), 0);
    /// let forever = scheduler.submit(std::future::pending::<()>(), Priority::Low);
    /// assert_eq!(scheduler.live_tasks(), 1);
    /// forever.abort();
    /// assert!(scheduler.block_on(forever).unwrap_err().is_cancelled());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn live_tasks(&self) -> usize {
        self.core.live_tasks()
    }

    /// Whether [`shutdown`](Scheduler::shutdown) has been called.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// assert!(!scheduler.is_shutdown());
    /// scheduler.shutdown();
    /// assert!(scheduler.is_shutdown());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.core.is_shutdown()
    }

    /// Shuts down: later submissions are refused, each worker finishes its
    /// current poll, every other task is cancelled (its future dropped
    /// exactly once, its handle resolving to a cancelled `JoinError`), and
    /// the worker threads are joined. Calling it again does nothing more.
    ///
    /// After the workers, the [blocking pool](crate::spawn_blocking) stops:
    /// queued closures are dropped unrun, running ones finish, and its
    /// threads are joined; then, with the `tokio` feature, the scheduler's
    /// own tokio runtime (module `tokio_bridge`) is shut down, which joins
    /// tokio's blocking threads. No thread the scheduler started outlives this call, except
    /// the caller's own.
    ///
    /// It may be called from any thread at any moment, including from a
    /// task (or a blocking closure) of this scheduler, and by dropping the
    /// last `Arc<Scheduler>` there: it then joins every other thread and
    /// returns; the calling thread finishes what it runs and exits on its
    /// own (the last worker out cancels the remaining tasks). It never
    /// panics.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let forever = scheduler.submit(std::future::pending::<()>(), Priority::Low);
    /// scheduler.shutdown();
    /// assert!(scheduler.block_on(forever).unwrap_err().is_cancelled());
    /// // Refused from now on: the handle resolves to a cancelled error.
    /// let late = scheduler.submit(async { 1 }, Priority::High);
    /// assert!(scheduler.block_on(late).unwrap_err().is_cancelled());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn shutdown(&self) {
        shutdown::stop(self, Join::Wait);
    }

    /// Drains, then shuts down: waits until every task has finished or
    /// `timeout` has passed, then shuts down as [`shutdown`] does (which
    /// cancels whatever is left). Returns true if every task finished in
    /// time. Submissions are still accepted while draining.
    ///
    /// It returns within `timeout` plus at most 100 ms, the grace it gives
    /// threads that are only exiting: threads still busy then (a worker in
    /// a long poll, a blocking closure that is still running) are detached
    /// rather than waited for, as tokio's `shutdown_timeout` does, and exit
    /// on their own when they are done. A `timeout` too large to add to the
    /// clock (`Duration::MAX`) waits as long as it takes.
    ///
    /// [`shutdown`]: Scheduler::shutdown
    ///
    /// ```
    /// use std::time::Duration;
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.submit(async { 1 + 1 }, Priority::Low);
    /// assert!(scheduler.shutdown_timeout(Duration::from_secs(5)));
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        shutdown::drain_then_stop(self, timeout)
    }
}

// The blocking pool (`spawn_blocking`).
impl Scheduler {
    /// Runs `f` on this scheduler's blocking pool and returns a handle to
    /// its result; from any thread. See [`spawn_blocking`](crate::spawn_blocking) for what the
    /// handle reports.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler.spawn_blocking(|| std::fs::metadata(".").is_ok());
    /// assert!(scheduler.block_on(handle)?);
    ///
    /// let boom = scheduler.spawn_blocking(|| -> u8 { panic!("boom") });
    /// assert!(scheduler.block_on(boom).unwrap_err().is_panic());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.services
            .blocking
            .spawn(f, |relay| self.submit(relay, Priority::Normal))
    }

    /// Threads in the blocking pool now, busy or idle (at most
    /// [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads)).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().max_blocking_threads(2).build()?;
    /// assert_eq!(scheduler.blocking_threads(), 0);
    /// scheduler.block_on(scheduler.spawn_blocking(|| ()))?;
    /// assert!((1..=2).contains(&scheduler.blocking_threads()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_threads(&self) -> usize {
        self.services.blocking.threads()
    }
}

// The tokio bridge (feature `tokio`, module `tokio_bridge`).
#[cfg(feature = "tokio")]
impl Scheduler {
    /// The tokio runtime that tasks' tokio resources use (feature
    /// `tokio`): the scheduler's own, or the one given to
    /// [`SchedulerBuilder::tokio_handle`].
    ///
    /// Enter it (`handle.enter()`) on a thread of your own to create tokio
    /// resources there that Echo tasks then use.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// use std::time::Duration;
    ///
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// // A timer created outside the pool, on the scheduler's runtime...
    /// let sleep = {
    ///     let _in_runtime = scheduler.tokio_handle().enter();
    ///     tokio::time::sleep(Duration::from_millis(5))
    /// };
    /// // ...awaited by an Echo task.
    /// let task = scheduler.submit(async move { sleep.await; "woke" }, Priority::Normal);
    /// assert_eq!(scheduler.block_on(task)?, "woke");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn tokio_handle(&self) -> tokio::runtime::Handle {
        self.services.tokio.handle().clone()
    }
}

// The timeline (feature `recorder`, module `timeline`).
#[cfg(feature = "recorder")]
impl Scheduler {
    /// A copy of what each worker has recorded so far (see
    /// [`SchedulerBuilder::timeline_capacity`]; empty without it). Workers
    /// keep recording while it is taken.
    pub fn timeline(&self) -> echo_sched_core::Timeline {
        self.core.timeline()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.worker_count())
            .field("shut_down", &self.is_shutdown())
            .field("live_tasks", &self.live_tasks())
            .finish()
    }
}
