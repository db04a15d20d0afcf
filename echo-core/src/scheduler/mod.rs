//! `Scheduler`: the public handle to a scheduler, and [`Sleep`], the
//! timer future that holds one.

#[cfg(feature = "timers")]
mod sleep;

#[cfg(feature = "timers")]
pub use sleep::Sleep;

use crate::Priority;
use crate::config::{Config, ConfigError, SubmitError};
use crate::metrics::Metrics;
use crate::platform::Platform;
use crate::runtime::{Shared, SpawnWhenRoom, TaskOptions};
use crate::sync::Arc;
use crate::task::{JoinHandle, TaskInfo};
use alloc::vec::Vec;
use core::future::Future;

/// A handle to a scheduler: submit tasks, drive workers, shut down.
///
/// The host starts one thread per worker and calls
/// [`run_worker`](Scheduler::run_worker) on each, or, single-threaded,
/// calls [`run_until_idle`](Scheduler::run_until_idle) from its own loop.
/// Cloning the handle is cheap. Call [`shutdown`](Scheduler::shutdown)
/// before the last handle goes: tasks hold the scheduler's memory until
/// shutdown cancels them.
pub struct Scheduler<P: Platform> {
    pub(crate) shared: Arc<Shared<P>>,
}

impl<P: Platform> Clone for Scheduler<P> {
    fn clone(&self) -> Self {
        Scheduler {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Platform> Scheduler<P> {
    /// Makes a scheduler; no worker runs until the host calls
    /// [`run_worker`](Scheduler::run_worker) or
    /// [`run_until_idle`](Scheduler::run_until_idle).
    pub fn new(platform: P, config: Config) -> Result<Scheduler<P>, ConfigError> {
        config.validate()?;
        let shared = Shared::new(platform, config);
        Ok(Scheduler {
            shared: Arc::new(shared),
        })
    }

    /// The platform this scheduler runs on.
    pub fn platform(&self) -> &P {
        self.shared.platform()
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        self.shared.config()
    }

    /// The number of workers.
    pub fn worker_count(&self) -> usize {
        self.shared.worker_count()
    }

    /// Submits `future` at `priority`. If it is refused (the scheduler has
    /// shut down, or there is no memory for it), the future is dropped and
    /// the handle resolves to a cancelled [`JoinError`](crate::JoinError);
    /// use [`try_spawn`](Scheduler::try_spawn) to get the future back
    /// instead.
    pub fn spawn<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_spawn(future, priority)
            .unwrap_or_else(|_refused| JoinHandle::refused())
    }

    /// A handle for a submission that was refused: it resolves to a
    /// cancelled [`JoinError`](crate::JoinError).
    pub fn spawn_refused<T>(&self) -> JoinHandle<T> {
        JoinHandle::refused()
    }

    /// Submits `future` at `priority`, or hands it back inside the error if
    /// the scheduler refuses it: after shutdown, at the bound on live tasks
    /// (outside the pool only), or when there is no memory for the task
    /// ([`Refusal`](crate::Refusal)). A refusal keeps nothing of the
    /// submission, and the scheduler goes on.
    pub fn try_spawn<F>(
        &self,
        future: F,
        priority: Priority,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, TaskOptions::new(priority))
    }

    /// Submits `future` once there is room under the bound on live tasks
    /// (`Config::max_tasks`), waiting asynchronously until there is. Without
    /// a bound, or on a worker, it submits at the first poll. It resolves
    /// to the refusal after shutdown, or when there is no memory for the
    /// task.
    pub fn spawn_when_room<F>(&self, future: F, options: TaskOptions) -> SpawnWhenRoom<F, P>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        SpawnWhenRoom::new(self.shared.clone(), future, options)
    }

    /// Submits many tasks at `priority` with one wake-up, and returns the
    /// handles of those admitted, in order, with the futures that were not:
    /// the rest of the list from the first that met shutdown, found no
    /// memory, or, outside the pool, did not fit under `Config::max_tasks`.
    pub fn spawn_batch<F>(
        &self,
        futures: Vec<F>,
        priority: Priority,
    ) -> (Vec<JoinHandle<F::Output>>, Vec<F>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn_batch(&self.shared, futures, priority)
    }

    /// Submits `future` with options (priority, name).
    pub fn try_spawn_with<F>(
        &self,
        future: F,
        options: TaskOptions,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, options)
    }

    /// Runs worker `index`'s loop on the calling thread until shutdown.
    ///
    /// # Panics
    ///
    /// If `index` is not below the worker count, or worker `index` is
    /// already running on another thread.
    pub fn run_worker(&self, index: usize) {
        self.shared.run(index, false);
    }

    /// Runs worker `index` on the calling thread until it finds no work,
    /// and returns how many entries it ran. For a host that drives the
    /// scheduler from its own loop: after this returns, a submission calls
    /// `Platform::unpark(index)`, which tells the host to call again.
    ///
    /// # Panics
    ///
    /// As [`run_worker`](Scheduler::run_worker).
    pub fn run_until_idle(&self, index: usize) -> usize {
        self.shared.run(index, true)
    }

    /// Runs High responder `responder` (below
    /// [`Config::responders`](crate::Config::responders)) on the calling
    /// thread: polls the host's events once
    /// ([`Platform::poll_events`] with the responder's slot,
    /// `worker_count + responder`, as the worker index), then runs High
    /// tasks until none is queued, and returns how many it ran.
    ///
    /// For a host thread that sleeps until High work cannot wait for a
    /// busy worker (readiness on a High task's socket) and then runs that
    /// work itself. It never parks and is never woken by the scheduler; the
    /// Normal and Low tasks it wakes or spawns go to their shared queues.
    ///
    /// # Panics
    ///
    /// If `responder` is not below `Config::responders`, or it is already
    /// running on another thread.
    pub fn run_high(&self, responder: usize) -> usize {
        self.shared.run_high(responder)
    }

    /// Stops the scheduler: later submissions are refused, each worker
    /// finishes its current poll and leaves its loop, and every other task
    /// is cancelled (its future dropped once, its handle sees
    /// `Cancelled`). If no worker is running, that happens before this
    /// returns; otherwise the last worker to leave does it.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Whether [`shutdown`](Scheduler::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }

    /// Whether shutdown has completed: every task was cancelled or had
    /// finished, and the queues are empty.
    pub fn is_terminated(&self) -> bool {
        self.shared.is_finished()
    }

    /// Whether the calling thread is one of this scheduler's workers.
    pub fn is_worker_thread(&self) -> bool {
        self.shared.current_worker().is_some()
    }

    /// Tasks submitted and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.shared.live_tasks()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// A copy of what each worker has recorded so far (feature
    /// `recorder`, with [`Config::timeline_capacity`](crate::Config) above
    /// 0): its polls, parks, steals, timer firings, wakes and spawns.
    /// Workers keep recording while it is taken; each worker's events come
    /// in the order it recorded them.
    #[cfg(feature = "recorder")]
    pub fn timeline(&self) -> crate::Timeline {
        self.shared.timeline()
    }

    /// The task running on the calling thread, if it is a worker of this
    /// scheduler polling a task.
    pub fn current_task(&self) -> Option<TaskInfo> {
        self.shared.current_task()
    }

    /// Moves the task running on the calling thread to `priority`: it runs
    /// at that tier from its next wake (a task that wakes itself and
    /// returns `Pending` is queued there at once). Returns false if the
    /// calling thread is not a worker of this scheduler polling a task, or
    /// the task already has that priority.
    ///
    /// A server that learns a request's tier only after its task started
    /// (an HTTP/2 stream spawned before its method is known) moves itself
    /// this way, then yields.
    pub fn set_current_priority(&self, priority: Priority) -> bool {
        self.shared.set_current_priority(priority)
    }
}

impl<P: Platform> core::fmt::Debug for Scheduler<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.worker_count())
            .field("shut_down", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> Scheduler<P> {
    /// A timer that completes once the platform clock reaches
    /// `deadline_nanos` (never before), as a future. Arming it (its first
    /// poll) and dropping it cost O(1) and allocate nothing.
    ///
    /// ```
    /// use echo_sched_core::{Config, Priority, Scheduler};
    /// # use echo_sched_core::{PanicPayload, Platform};
    /// # use core::cell::Cell;
    /// # struct Host { worker: Cell<Option<usize>>, now: Cell<u64> }
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { self.now.get() }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.worker.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.worker.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// // A host whose clock is a counter it advances itself.
    /// let host = Host { worker: Cell::new(None), now: Cell::new(0) };
    /// let scheduler = Scheduler::new(host, Config::new(1)).unwrap();
    /// let timer = scheduler.sleep_until(5_000);
    /// let task = scheduler.spawn(async move { timer.await; "rang" }, Priority::Normal);
    /// scheduler.run_until_idle(0); // arms the timer
    /// // The host loop: sleep until the next deadline (here: set the
    /// // clock), run again; the run fires the timer and runs the task.
    /// while let Some(deadline) = scheduler.next_timer_deadline() {
    ///     assert!(deadline <= 5_000);
    ///     scheduler.platform().now.set(deadline);
    ///     scheduler.run_until_idle(0);
    /// }
    /// assert!(task.is_finished());
    /// assert!(scheduler.platform().now.get() >= 5_000, "never early");
    /// # scheduler.shutdown();
    /// ```
    #[cfg(feature = "timers")]
    pub fn sleep_until(&self, deadline_nanos: u64) -> Sleep<P> {
        Sleep::new(self.clone(), deadline_nanos)
    }

    /// The earliest armed timer's deadline on the platform clock, if any:
    /// for a host that calls [`run_until_idle`](Scheduler::run_until_idle)
    /// from its own loop, when to call it again. It may be before the
    /// deadline itself (by up to the wheel's slot for a far timer: the
    /// host then calls again, gets a nearer answer), never after.
    pub fn next_timer_deadline(&self) -> Option<u64> {
        let next = self.shared.timers().earliest();
        (next != u64::MAX).then_some(next)
    }

    /// Timers armed and not yet fired or dropped.
    pub fn armed_timers(&self) -> usize {
        self.shared.timers().len()
    }

    /// Spends one unit of the cooperative budget of the task polled on the
    /// calling thread (each poll of a task starts with 128). Returns false
    /// when the budget is spent: the task should yield (wake itself and
    /// return `Pending`) so other tasks get the worker. Always true on a
    /// thread that is not polling a task of this scheduler. Timers
    /// ([`Sleep`]) and [`JoinHandle`](crate::JoinHandle)s spend it too
    /// when they complete.
    pub fn consume_budget(&self) -> bool {
        self.shared.spend_budget()
    }
}
