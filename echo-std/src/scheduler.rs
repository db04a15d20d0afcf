//! `Scheduler` and `SchedulerBuilder`: a pool of OS threads running Echo.

use crate::context;
use crate::platform::{StdPlatform, on_any_worker};
use crate::task_builder::TaskBuilder;
use crate::thread_hooks::ThreadHook;
use echo_core::{
    Config, ConfigError, JoinHandle, Metrics, Priority, SpawnWhenRoom, SubmitError, TaskName,
    TaskOptions,
};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

type Core = echo_core::Scheduler<StdPlatform>;

/// Builds a [`Scheduler`].
///
/// ```
/// use echo_std::Scheduler;
/// let scheduler = Scheduler::builder()
///     .worker_count(2)
///     .thread_name("app-pool")
///     .build()?;
/// # Ok::<(), echo_std::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SchedulerBuilder {
    worker_count: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    normal_interval: Option<u32>,
    low_interval: Option<u32>,
    global_queue_interval: Option<u32>,
    max_tasks: Option<usize>,
    pooled_slab: bool,
    detailed_metrics: bool,
    on_thread_start: Option<ThreadHook>,
    on_thread_stop: Option<ThreadHook>,
    /// The blocking pool's and the tokio bridge's settings (set by the
    /// builder methods in `blocking.rs` and `tokio_bridge.rs`).
    pub(crate) services: crate::services::ServicesConfig,
}

impl Default for SchedulerBuilder {
    fn default() -> Self {
        SchedulerBuilder {
            worker_count: None,
            thread_name: "echo-worker".into(),
            stack_size: None,
            normal_interval: None,
            low_interval: None,
            global_queue_interval: None,
            max_tasks: None,
            pooled_slab: true,
            detailed_metrics: true,
            on_thread_start: None,
            on_thread_stop: None,
            services: Default::default(),
        }
    }
}

impl SchedulerBuilder {
    /// Number of worker threads. Defaults to `num_cpus::get()`; must be
    /// between 1 and [`MAX_WORKERS`](echo_core::MAX_WORKERS).
    pub fn worker_count(mut self, n: usize) -> Self {
        self.worker_count = Some(n);
        self
    }

    /// Prefix for worker thread names (`{prefix}-{index}`). Defaults to
    /// `echo-worker`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Stack size of each worker thread, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// N: while Normal work waits, each worker serves Normal at least once
    /// every `n` polls (default 8). See [`Config`].
    pub fn normal_interval(mut self, n: u32) -> Self {
        self.normal_interval = Some(n);
        self
    }

    /// M: while Low work waits, each worker serves Low at least once every
    /// `m` polls (default 32). See [`Config`].
    pub fn low_interval(mut self, m: u32) -> Self {
        self.low_interval = Some(m);
        self
    }

    /// K: each worker checks the global injectors before its own rings at
    /// least once every `k` ticks (default 31). See [`Config`].
    pub fn global_queue_interval(mut self, k: u32) -> Self {
        self.global_queue_interval = Some(k);
        self
    }

    /// Bounds the number of live tasks (submitted and not finished).
    ///
    /// At the bound, submissions from outside the pool wait for room:
    /// [`submit`](Scheduler::submit) blocks the calling thread,
    /// [`submit_async`](Scheduler::submit_async) waits asynchronously, and
    /// [`try_submit`](Scheduler::try_submit) returns the future with
    /// [`Refusal::Full`](crate::Refusal::Full). Tasks submitted from inside
    /// running tasks are always admitted: making them wait could deadlock.
    /// `0` is refused by [`build`](SchedulerBuilder::build).
    pub fn max_tasks(mut self, n: usize) -> Self {
        self.max_tasks = Some(n);
        self
    }

    /// Whether tasks come from the pooled slab (the default) or each from
    /// the global allocator. Only for measuring the slab against the plain
    /// allocator; the pooled slab is faster.
    pub fn pooled_slab(mut self, on: bool) -> Self {
        self.pooled_slab = on;
        self
    }

    /// Whether to sample submit-to-first-poll latency, average queue depth
    /// and worker busy time (default on; they cost little). Counters are
    /// always kept.
    pub fn detailed_metrics(mut self, on: bool) -> Self {
        self.detailed_metrics = on;
        self
    }

    /// Runs `f` on each worker thread when it starts, before it polls any
    /// task. It runs inside the scheduler's context, so
    /// [`Handle::current`](crate::Handle::current) works in it. A panic in
    /// `f` is reported by the panic hook as usual and otherwise ignored:
    /// the worker runs on. Setting it again replaces the previous one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let count = started.clone();
    /// let scheduler = echo_std::Scheduler::builder()
    ///     .worker_count(2)
    ///     .on_thread_start(move || {
    ///         count.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// scheduler.shutdown();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(ThreadHook::new(f));
        self
    }

    /// Runs `f` on each worker thread when it stops (at shutdown), after
    /// it has polled its last task, still inside the scheduler's context.
    /// A panic in `f` is reported by the panic hook and otherwise ignored.
    /// Setting it again replaces the previous one.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let names = Arc::new(Mutex::new(Vec::new()));
    /// let seen = names.clone();
    /// let scheduler = echo_std::Scheduler::builder()
    ///     .worker_count(1)
    ///     .thread_name("pool")
    ///     .on_thread_stop(move || {
    ///         let name = std::thread::current().name().map(str::to_owned);
    ///         seen.lock().unwrap().push(name);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// scheduler.shutdown();
    /// assert_eq!(*names.lock().unwrap(), [Some("pool-0".to_owned())]);
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(ThreadHook::new(f));
        self
    }

    /// The core configuration this builder describes.
    fn config(&self) -> Config {
        let mut config = Config::new(self.worker_count.unwrap_or_else(num_cpus::get));
        if let Some(n) = self.normal_interval {
            config.normal_interval = n;
        }
        if let Some(m) = self.low_interval {
            config.low_interval = m;
        }
        if let Some(k) = self.global_queue_interval {
            config.global_queue_interval = k;
        }
        config.max_tasks = self.max_tasks;
        config.pooled_slab = self.pooled_slab;
        config.detailed_metrics = self.detailed_metrics;
        config
    }

    /// Starts the worker threads.
    ///
    /// ```
    /// use echo_std::{BuildError, Scheduler};
    /// let err = Scheduler::builder().worker_count(0).build().unwrap_err();
    /// assert!(matches!(err, BuildError::Config(_)));
    /// ```
    pub fn build(self) -> Result<Scheduler, BuildError> {
        let config = self.config();
        config.validate().map_err(BuildError::Config)?;
        let n = config.worker_count;
        let core = Core::new(StdPlatform::new(n), config).map_err(BuildError::Config)?;
        let services = crate::services::Services::start(&self.services, &core, &self.thread_name)?;
        let scheduler = Scheduler {
            core: core.clone(),
            threads: Mutex::new(Vec::with_capacity(n)),
            services,
        };
        for index in 0..n {
            let core = core.clone();
            let services = scheduler.services.thread_context();
            let on_start = self.on_thread_start.clone();
            let on_stop = self.on_thread_stop.clone();
            let mut b = thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(bytes) = self.stack_size {
                b = b.stack_size(bytes);
            }
            let spawned = b.spawn(move || {
                let _ctx = context::enter(core.clone());
                // spawn_blocking's pool and (feature tokio) tokio's runtime.
                let _services = services.enter();
                if let Some(hook) = &on_start {
                    hook.call();
                }
                core.run_worker(index);
                if let Some(hook) = &on_stop {
                    hook.call();
                }
            });
            match spawned {
                Ok(handle) => scheduler.lock_threads().push(handle),
                Err(e) => {
                    // Dropping the scheduler shuts down and joins the
                    // threads that did start.
                    drop(scheduler);
                    return Err(BuildError::Spawn(e));
                }
            }
        }
        Ok(scheduler)
    }
}

/// Why a scheduler could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is invalid (for example zero workers).
    Config(ConfigError),
    /// The operating system refused to start a worker thread (or, with
    /// the `tokio` feature, the tokio driver).
    Spawn(std::io::Error),
    /// [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads)
    /// was zero: blocking closures could never run.
    ZeroBlockingThreads,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid scheduler configuration: {e}"),
            BuildError::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
            BuildError::ZeroBlockingThreads => {
                f.write_str("max_blocking_threads must be at least 1")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
            BuildError::ZeroBlockingThreads => None,
        }
    }
}

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
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// The blocking pool and the tokio bridge (`services.rs`).
    pub(crate) services: crate::services::Services,
}

impl Scheduler {
    /// A builder with the defaults.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    fn lock_threads(&self) -> std::sync::MutexGuard<'_, Vec<thread::JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits `future` to run at `priority` and returns its handle.
    ///
    /// With a bound on live tasks ([`max_tasks`](SchedulerBuilder::max_tasks))
    /// and called from outside the pool, it blocks the calling thread until
    /// there is room. After shutdown the future is dropped and the handle
    /// resolves to a cancelled [`JoinError`](crate::JoinError); use
    /// [`try_submit`](Scheduler::try_submit) to get the future back.
    pub fn submit<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        submit_with(&self.core, future, TaskOptions::new(priority))
    }

    /// Submits many tasks at `priority` with a single wake-up, returning
    /// their handles in order. Cheaper than a loop of
    /// [`submit`](Scheduler::submit) (one shard lock, one notification).
    /// At the bound on live tasks it submits what fits, then waits for room
    /// as `submit` does; after shutdown the remaining handles resolve to a
    /// cancelled error.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
    /// let handles = scheduler.submit_batch((0..100u32).map(|i| async move { i * 2 }), Priority::Normal);
    /// let sum: u32 = handles.into_iter().map(|h| scheduler.block_on(h).unwrap()).sum();
    /// assert_eq!(sum, 9900);
    /// ```
    pub fn submit_batch<I, F>(&self, futures: I, priority: Priority) -> Vec<JoinHandle<F::Output>>
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut rest: Vec<F> = futures.into_iter().collect();
        let mut handles = Vec::with_capacity(rest.len());
        while !rest.is_empty() {
            let (admitted, left) = self.core.spawn_batch(rest, priority);
            handles.extend(admitted);
            rest = left;
            if let Some(first) = (!rest.is_empty()).then(|| rest.remove(0)) {
                // The bound is full (or the scheduler shut down): one
                // submission the slow way, then the rest as a batch again.
                handles.push(self.submit(first, priority));
                if self.core.is_shutdown() {
                    handles.extend(rest.drain(..).map(|_| self.core.spawn_refused()));
                }
            }
        }
        handles
    }

    /// A builder to name a task and set its priority before submitting it
    /// here.
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder::new(Some(self))
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
    pub fn handle(&self) -> crate::Handle {
        crate::Handle::new(self.core.clone())
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Submits `future` once there is room under the bound on live tasks,
    /// waiting asynchronously (from any executor) until there is. Resolves
    /// to the handle, or to the future inside the error after shutdown.
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

    /// Submits `future`, or returns it inside the error if the scheduler
    /// refuses it (it has shut down).
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

    /// Submits a named task; the name shows in
    /// [`task::current`](crate::task::current).
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
        crate::block_on::run(future)
    }

    /// A snapshot of the counters: per tier submitted, completed, panicked,
    /// cancelled, polls and queue depth; steals, parks and unparks.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.core.worker_count()
    }

    /// Tasks submitted and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.core.live_tasks()
    }

    /// Whether [`shutdown`](Scheduler::shutdown) has been called.
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
    /// own tokio driver (module `tokio_bridge`) stops and its thread is
    /// joined. No thread the scheduler started outlives this call.
    ///
    /// Called from inside one of this scheduler's tasks, it cannot join the
    /// thread it runs on: it stops the workers and returns, and the last
    /// worker to stop cancels the remaining tasks; dropping the scheduler
    /// later joins the threads.
    pub fn shutdown(&self) {
        self.core.shutdown();
        if self.core.is_worker_thread() {
            // Tell the blocking pool and the tokio driver to stop; a later
            // call from outside (the drop) joins their threads.
            self.services.shutdown(false);
            return;
        }
        let mut threads = self.lock_threads();
        for t in threads.drain(..) {
            // A worker thread never panics: task panics are contained.
            let _ = t.join();
        }
        drop(threads);
        // After the workers: the blocking pool (queued closures dropped,
        // running ones finished), then the tokio driver; threads joined.
        self.services.shutdown(true);
    }

    /// Drains, then shuts down: waits until every task has finished or
    /// `timeout` has passed, then shuts down as [`shutdown`] does (which
    /// cancels whatever is left). Returns true if every task finished in
    /// time. Submissions are still accepted while draining.
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
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_micros(50);
        let drained = loop {
            if self.core.live_tasks() == 0 {
                break true;
            }
            let now = Instant::now();
            if now >= deadline || self.core.is_shutdown() {
                break false;
            }
            thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(1));
        };
        self.shutdown();
        drained
    }
}

/// Submits on `core` like [`Scheduler::submit`]: outside the pool and at
/// the bound, blocks the thread until there is room; refused after
/// shutdown.
pub(crate) fn submit_with<F>(core: &Core, future: F, options: TaskOptions) -> JoinHandle<F::Output>
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
            crate::block_on::run(when_room).unwrap_or_else(|_| core.spawn_refused())
        }
        Err(_) => core.spawn_refused(),
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

/// Whether the calling thread can use [`spawn`](crate::spawn).
pub fn in_scheduler_context() -> bool {
    context::has_current()
}
