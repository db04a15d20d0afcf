//! `Scheduler` and `SchedulerBuilder`: a pool of OS threads running Echo.

use crate::context;
use crate::platform::{StdPlatform, on_any_worker};
use crate::task_builder::TaskBuilder;
use crate::thread_hooks::ThreadHook;
use crate::threads::{self, Join};
use echo_sched_core::{
    Config, ConfigError, JoinHandle, Metrics, Priority, SpawnWhenRoom, SubmitError, TaskName,
    TaskOptions,
};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

type Core = echo_sched_core::Scheduler<StdPlatform>;

/// How long `shutdown_timeout` waits past its deadline for threads that
/// are exiting.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

/// How often a busy worker polls the tokio reactor when the workers drive
/// it: often enough that readiness waits about as long as a poll, rarely
/// enough that the poll (about a microsecond) stays in the noise.
#[cfg(feature = "tokio")]
const EVENT_POLL_INTERVAL: Duration = Duration::from_micros(100);

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
    /// Events per worker's timeline (`timeline.rs`), 0 for none.
    #[cfg(feature = "recorder")]
    pub(crate) timeline_capacity: usize,
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
            #[cfg(feature = "recorder")]
            timeline_capacity: 0,
        }
    }
}

impl SchedulerBuilder {
    /// Number of worker threads. Defaults to the number of CPUs; must be
    /// between 1 and [`MAX_WORKERS`](crate::MAX_WORKERS), or
    /// [`build`](SchedulerBuilder::build) fails.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(3).build()?;
    /// assert_eq!(scheduler.worker_count(), 3);
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn worker_count(mut self, n: usize) -> Self {
        self.worker_count = Some(n);
        self
    }

    /// Prefix for worker thread names (`{prefix}-{index}`). Defaults to
    /// `echo-worker`. The blocking pool's threads and, with the `tokio`
    /// feature, tokio's blocking threads take their names from it too.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).thread_name("app-pool").build()?;
    /// let name = scheduler.submit(
    ///     async { std::thread::current().name().map(str::to_owned) },
    ///     Priority::Normal,
    /// );
    /// assert_eq!(scheduler.block_on(name)?.as_deref(), Some("app-pool-0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Stack size of each worker thread, in bytes (default: the standard
    /// library's default for new threads). Raise it for tasks whose futures
    /// are large or recurse deeply.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().stack_size(4 << 20).build()?;
    /// let big = scheduler.submit(async { [1u8; 1 << 20].iter().map(|&b| b as u32).sum::<u32>() }, Priority::Normal);
    /// assert_eq!(scheduler.block_on(big)?, 1 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// N: while Normal work waits, each worker serves Normal at least once
    /// every `n` polls (default 8). See [`Config`]; an invalid value (`0`)
    /// makes [`build`](SchedulerBuilder::build) fail.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// // Normal work gets at least one poll in four under a High flood.
    /// let scheduler = Scheduler::builder().normal_interval(4).build()?;
    /// # drop(scheduler);
    /// assert!(Scheduler::builder().normal_interval(0).build().is_err());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn normal_interval(mut self, n: u32) -> Self {
        self.normal_interval = Some(n);
        self
    }

    /// M: while Low work waits, each worker serves Low at least once every
    /// `m` polls (default 32). See [`Config`]; an invalid value (`0`)
    /// makes [`build`](SchedulerBuilder::build) fail.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// // Low work gets at least one poll in sixteen under a flood.
    /// let scheduler = Scheduler::builder().low_interval(16).build()?;
    /// # drop(scheduler);
    /// assert!(Scheduler::builder().low_interval(0).build().is_err());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn low_interval(mut self, m: u32) -> Self {
        self.low_interval = Some(m);
        self
    }

    /// K: each worker checks the global injectors before its own rings at
    /// least once every `k` ticks (default 31). See [`Config`]; an invalid
    /// value (`0`) makes [`build`](SchedulerBuilder::build) fail.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// // Work submitted from outside is picked up sooner behind local work.
    /// let scheduler = Scheduler::builder().global_queue_interval(7).build()?;
    /// # drop(scheduler);
    /// assert!(Scheduler::builder().global_queue_interval(0).build().is_err());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
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
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// use std::sync::mpsc;
    ///
    /// let scheduler = Scheduler::builder().worker_count(1).max_tasks(1).build()?;
    /// let (release, released) = mpsc::channel::<()>();
    /// // The one allowed task waits (on a blocking thread) for `release`.
    /// let first = scheduler.submit(async move {
    ///     echo_std::spawn_blocking(move || released.recv().ok()).await.ok();
    /// }, Priority::Normal);
    /// let refused = scheduler.try_submit(async {}, Priority::Normal).unwrap_err();
    /// assert!(refused.is_full());
    /// release.send(()).unwrap();
    /// scheduler.block_on(first)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_tasks(mut self, n: usize) -> Self {
        self.max_tasks = Some(n);
        self
    }

    /// Whether tasks come from the pooled slab (the default) or each from
    /// the global allocator. Only for measuring the slab against the plain
    /// allocator; the pooled slab is faster.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let plain = Scheduler::builder().worker_count(1).pooled_slab(false).build()?;
    /// assert_eq!(plain.block_on(plain.submit(async { 1 }, Priority::Normal))?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pooled_slab(mut self, on: bool) -> Self {
        self.pooled_slab = on;
        self
    }

    /// Whether to sample submit-to-first-poll latency, average queue depth
    /// and worker busy time (default on; they cost little). Counters are
    /// always kept.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).detailed_metrics(false).build()?;
    /// scheduler.block_on(scheduler.submit(async {}, Priority::High))?;
    /// // The counters are still there.
    /// assert_eq!(scheduler.metrics().tier(Priority::High).completed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        #[cfg(feature = "recorder")]
        {
            config.timeline_capacity = self.timeline_capacity;
        }
        config
    }

    /// Starts the worker threads (and, with the `tokio` feature and no
    /// [`tokio_handle`](SchedulerBuilder::tokio_handle), makes the tokio
    /// runtime that they drive).
    ///
    /// # Errors
    ///
    /// - [`BuildError::Config`] if a setting is out of range: zero or more
    ///   than [`MAX_WORKERS`](crate::MAX_WORKERS) workers, a zero interval
    ///   or a zero [`max_tasks`](SchedulerBuilder::max_tasks);
    /// - [`BuildError::ZeroBlockingThreads`] if
    ///   [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads)
    ///   is zero;
    /// - [`BuildError::Spawn`] if the operating system refuses to start a
    ///   thread (the threads already started are stopped and joined).
    ///
    /// ```
    /// use echo_std::{BuildError, Scheduler};
    /// let err = Scheduler::builder().worker_count(0).build().unwrap_err();
    /// assert!(matches!(err, BuildError::Config(_)));
    /// ```
    pub fn build(self) -> Result<Scheduler, BuildError> {
        if self.thread_name.contains('\0') {
            return Err(BuildError::InvalidThreadName(self.thread_name));
        }
        #[allow(unused_mut)]
        let mut config = self.config();
        config.validate().map_err(BuildError::Config)?;
        let n = config.worker_count;
        #[allow(unused_mut)]
        let mut platform = StdPlatform::new(n);
        // The default with the `tokio` feature: the workers drive a runtime
        // of the scheduler's own (see `tokio_bridge`).
        #[cfg(feature = "tokio")]
        let reactor = if self.services.tokio.is_none() && !self.services.tokio_driver_thread {
            let reactor = crate::tokio_bridge::Reactor::start(&self.thread_name)
                .map_err(BuildError::Spawn)?;
            platform = platform.with_reactor(reactor.clone());
            config.event_poll_interval = Some(EVENT_POLL_INTERVAL);
            Some(reactor)
        } else {
            None
        };
        // A High responder needs the workers' reactor (`high_responder.rs`).
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        let responder = reactor.is_some() && self.services.high_responder;
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        if responder {
            let watch = crate::high_responder::HighWatch::new().map_err(BuildError::Spawn)?;
            platform = platform.with_high_watch(std::sync::Arc::new(watch));
            config.responders = 1;
        }
        let core = Core::new(platform, config).map_err(BuildError::Config)?;
        let services = crate::services::Services::start(
            &self.services,
            &core,
            &self.thread_name,
            #[cfg(feature = "tokio")]
            reactor,
        )?;
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
                // Timers fire on time when this worker is the sleeper.
                crate::platform::tighten_timer_slack();
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
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        if responder {
            let context = scheduler.services.thread_context();
            match crate::high_responder::spawn(core.clone(), context, &self.thread_name) {
                Ok(handle) => scheduler.lock_threads().push(handle),
                Err(e) => {
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
    /// the `tokio` feature, to make the tokio runtime).
    Spawn(std::io::Error),
    /// [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads)
    /// was zero: blocking closures could never run.
    ZeroBlockingThreads,
    /// The [`thread_name`](SchedulerBuilder::thread_name) prefix contains a
    /// NUL byte, which no operating system accepts in a thread name.
    InvalidThreadName(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid scheduler configuration: {e}"),
            BuildError::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
            BuildError::ZeroBlockingThreads => {
                f.write_str("max_blocking_threads must be at least 1")
            }
            BuildError::InvalidThreadName(name) => {
                write!(f, "thread name prefix {name:?} contains a NUL byte")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
            BuildError::ZeroBlockingThreads | BuildError::InvalidThreadName(_) => None,
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
        let origin = crate::console::Origin::here();
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
            let origin = crate::console::Origin::here();
            let options = TaskOptions::new(priority);
            let (futures, slots): (Vec<_>, Vec<_>) = futures
                .into_iter()
                .map(|f| crate::console::instrument(f, &options, "task", origin))
                .unzip();
            let handles = self.submit_batch_unwrapped(futures, priority);
            for (slot, handle) in slots.into_iter().zip(&handles) {
                crate::console::Slot::spawned(slot, handle);
            }
            handles
        }
        #[cfg(not(feature = "console"))]
        self.submit_batch_unwrapped(futures, priority)
    }

    fn submit_batch_unwrapped<I, F>(
        &self,
        futures: I,
        priority: Priority,
    ) -> Vec<JoinHandle<F::Output>>
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (mut handles, mut rest) = self
            .core
            .spawn_batch(futures.into_iter().collect(), priority);
        while !rest.is_empty() {
            // The bound is full, the scheduler shut down, or there was no
            // memory: one submission the slow way (it waits for room, or is
            // refused), then the rest as a batch again.
            let first = rest.remove(0);
            // Not `submit`: with the `console` feature the future is
            // instrumented already.
            handles.push(submit_unwrapped(
                &self.core,
                first,
                TaskOptions::new(priority),
            ));
            if self.core.is_shutdown() {
                handles.extend(rest.drain(..).map(|_| self.core.spawn_refused()));
            }
            let (admitted, left) = self.core.spawn_batch(rest, priority);
            handles.extend(admitted);
            rest = left;
        }
        handles
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
        crate::block_on::run(future)
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
        self.shutdown_joining(Join::Wait);
    }

    /// Stops the core, then joins the workers and the services' threads as
    /// `join` says (never the caller's own thread).
    fn shutdown_joining(&self, join: Join) {
        self.core.shutdown();
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        if let Some(watch) = self.core.platform().high_watch() {
            watch.stop();
        }
        let threads = std::mem::take(&mut *self.lock_threads());
        for t in threads {
            threads::join(t, join);
        }
        // After the workers: the blocking pool (queued closures dropped,
        // running ones finished), then the tokio runtime.
        self.services.shutdown(join);
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
        // `None`: no representable deadline, so no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut nap = Duration::from_micros(50);
        let drained = loop {
            if self.core.live_tasks() == 0 {
                break true;
            }
            if self.core.is_shutdown() {
                break false;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if now >= d => break false,
                Some(d) => d - now,
                None => Duration::MAX,
            };
            thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(1));
        };
        // Threads that are only exiting (idle workers, idle pool threads)
        // get a short grace period past the deadline, so that shutdown is
        // complete when this returns unless something is really stuck.
        let join = deadline.map_or(Join::Wait, |d| {
            Join::Until(d.max(Instant::now()) + SHUTDOWN_GRACE)
        });
        self.shutdown_joining(join);
        drained
    }
}

/// Submits on `core` like [`Scheduler::submit`]: outside the pool and at
/// the bound, blocks the thread until there is room; refused after
/// shutdown.
pub(crate) fn submit_with<F>(
    core: &Core,
    future: F,
    options: TaskOptions,
    #[allow(unused_variables)] origin: crate::console::Origin,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // tokio-console's span (feature `console`), made once the task exists.
    #[cfg(feature = "console")]
    let (future, slot) = crate::console::instrument(future, &options, "task", origin);
    let handle = submit_unwrapped(core, future, options);
    #[cfg(feature = "console")]
    crate::console::Slot::spawned(slot, &handle);
    handle
}

fn submit_unwrapped<F>(core: &Core, future: F, options: TaskOptions) -> JoinHandle<F::Output>
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

/// Whether the calling thread can use [`spawn`](crate::spawn): it is a
/// worker, a blocking-pool thread, or inside [`Scheduler::block_on`].
///
/// ```
/// use echo_std::Scheduler;
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// assert!(!echo_std::in_scheduler_context());
/// assert!(scheduler.block_on(async { echo_std::in_scheduler_context() }));
/// # Ok::<(), echo_std::BuildError>(())
/// ```
pub fn in_scheduler_context() -> bool {
    context::has_current()
}
