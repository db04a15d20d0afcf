//! `SchedulerBuilder`: the settings of a scheduler, and `build`, which
//! checks them, makes the core and its services and starts the threads.
//!
//! All of the builder's methods are here, the features' too (in blocks of
//! their own), so that its API reads in one place. Invariant: `build`
//! either returns a running scheduler or has stopped and joined every
//! thread it started.

#[cfg(all(feature = "tokio", target_os = "linux"))]
use crate::host::HighWatch;
use crate::host::thread_hooks::ThreadHook;
use crate::host::{Core, StdPlatform};
use crate::runtime::Scheduler;
use crate::runtime::error::BuildError;
use crate::runtime::services::{Services, ServicesConfig};
use crate::runtime::start;
#[cfg(feature = "tokio")]
use crate::tokio_bridge::Reactor;
use echo_sched_core::Config;
use std::time::Duration;

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
    /// The blocking pool's and the tokio bridge's settings.
    services: ServicesConfig,
    /// Events per worker's timeline (feature `recorder`), 0 for none.
    #[cfg(feature = "recorder")]
    timeline_capacity: usize,
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
    /// every `n` polls (default 8). See [`Config`]; `n` must be at least 2,
    /// the core's minimum for Normal, or [`build`](SchedulerBuilder::build)
    /// fails with
    /// [`ConfigError::IntervalTooSmall`](crate::ConfigError::IntervalTooSmall).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// // Normal work gets at least one poll in four under a High flood.
    /// let scheduler = Scheduler::builder().normal_interval(4).build()?;
    /// # drop(scheduler);
    /// assert!(Scheduler::builder().normal_interval(2).build().is_ok());
    /// assert!(Scheduler::builder().normal_interval(1).build().is_err());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn normal_interval(mut self, n: u32) -> Self {
        self.normal_interval = Some(n);
        self
    }

    /// M: while Low work waits, each worker serves Low at least once every
    /// `m` polls (default 32). See [`Config`]; `m` must be at least 3,
    /// the core's minimum for Low (one more than Normal's, since Normal may
    /// take its turn first), or [`build`](SchedulerBuilder::build) fails
    /// with
    /// [`ConfigError::IntervalTooSmall`](crate::ConfigError::IntervalTooSmall).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// // Low work gets at least one poll in sixteen under a flood.
    /// let scheduler = Scheduler::builder().low_interval(16).build()?;
    /// # drop(scheduler);
    /// assert!(Scheduler::builder().low_interval(3).build().is_ok());
    /// assert!(Scheduler::builder().low_interval(2).build().is_err());
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn low_interval(mut self, m: u32) -> Self {
        self.low_interval = Some(m);
        self
    }

    /// K: each worker checks the global injectors before its own rings at
    /// least once every `k` ticks (default 31). See [`Config`]; `k` must be
    /// at least 1, or [`build`](SchedulerBuilder::build) fails.
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
    /// `tokio_handle`, makes the tokio runtime that they drive).
    ///
    /// # Errors
    ///
    /// - [`BuildError::Config`] if a setting is out of range: zero or more
    ///   than [`MAX_WORKERS`](crate::MAX_WORKERS) workers, an interval below
    ///   its minimum ([`normal_interval`](SchedulerBuilder::normal_interval)
    ///   below 2, [`low_interval`](SchedulerBuilder::low_interval) below 3,
    ///   [`global_queue_interval`](SchedulerBuilder::global_queue_interval)
    ///   below 1) or a zero [`max_tasks`](SchedulerBuilder::max_tasks);
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
            let reactor = Reactor::start(&self.thread_name).map_err(BuildError::Spawn)?;
            platform = platform.with_events(reactor.clone());
            config.event_poll_interval = Some(EVENT_POLL_INTERVAL);
            Some(reactor)
        } else {
            None
        };
        // A High responder needs the workers' reactor (see
        // `tokio_bridge/high_responder.rs`).
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        let responder = reactor.is_some() && self.services.high_responder;
        #[cfg(all(feature = "tokio", target_os = "linux"))]
        if responder {
            let watch = HighWatch::new().map_err(BuildError::Spawn)?;
            platform = platform.with_high_watch(std::sync::Arc::new(watch));
            config.responders = 1;
        }
        let core = Core::new(platform, config).map_err(BuildError::Config)?;
        let services = Services::start(
            &self.services,
            &core,
            &self.thread_name,
            #[cfg(feature = "tokio")]
            reactor,
        )?;
        let scheduler = Scheduler::new(core.clone(), n, services);
        for index in 0..n {
            let spawned = start::worker(
                core.clone(),
                index,
                scheduler.services.thread_context(),
                &self.thread_name,
                self.stack_size,
                self.on_thread_start.clone(),
                self.on_thread_stop.clone(),
            );
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
            match start::high_responder(core.clone(), context, &self.thread_name) {
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

// The blocking pool's settings (`spawn_blocking`).
impl SchedulerBuilder {
    /// The most threads the blocking pool runs at once (default 64).
    /// Closures submitted while all of them are busy wait in a queue, in
    /// submission order. `0` is refused by
    /// [`build`](SchedulerBuilder::build) with
    /// [`BuildError::ZeroBlockingThreads`](crate::BuildError::ZeroBlockingThreads).
    ///
    /// Threads start only when a closure needs one; see
    /// [`spawn_blocking`](crate::spawn_blocking).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().max_blocking_threads(4).build()?;
    /// assert_eq!(scheduler.blocking_threads(), 0); // none until needed
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.services.blocking.max_threads = n;
        self
    }

    /// How long a blocking-pool thread waits for another closure before it
    /// exits (default 10 seconds).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// use std::time::Duration;
    /// let scheduler = Scheduler::builder().blocking_keep_alive(Duration::from_secs(1)).build()?;
    /// assert_eq!(scheduler.block_on(scheduler.spawn_blocking(|| 4))?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.services.blocking.keep_alive = keep_alive;
        self
    }
}

// The tokio bridge's settings (feature `tokio`, module `tokio_bridge`).
#[cfg(feature = "tokio")]
impl SchedulerBuilder {
    /// Uses an existing tokio runtime for the tasks' tokio resources
    /// instead of one of the scheduler's own (feature `tokio`).
    ///
    /// Without this, [`build`](SchedulerBuilder::build) makes a tokio
    /// current-thread runtime that the workers drive, which the scheduler
    /// owns and shuts down at shutdown; see [the bridge](crate::tokio_bridge)
    /// for why. With it, workers, [`Scheduler::block_on`] and blocking
    /// threads enter `handle`'s context, and Echo owns nothing of tokio's:
    /// the runtime must be driven by its owner (a multi-thread runtime
    /// drives itself; a current-thread one only inside its `block_on`) and
    /// outlive the scheduler's use of tokio resources.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// use std::time::Duration;
    ///
    /// // An application's runtime, driven by a thread of its own.
    /// let runtime = tokio::runtime::Builder::new_current_thread()
    ///     .enable_all()
    ///     .build()?;
    /// let handle = runtime.handle().clone();
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let driver = std::thread::spawn(move || {
    ///     runtime.block_on(async { stopped.await.ok() });
    /// });
    ///
    /// let scheduler = Scheduler::builder()
    ///     .worker_count(1)
    ///     .tokio_handle(handle)
    ///     .build()?;
    /// let task = scheduler.submit(async {
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    ///     7
    /// }, Priority::Normal);
    /// assert_eq!(scheduler.block_on(task)?, 7);
    /// scheduler.shutdown(); // leaves the runtime alone
    ///
    /// stop.send(()).unwrap();
    /// driver.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Self {
        self.services.tokio = Some(handle);
        self
    }

    /// Drives the scheduler's own tokio runtime from a dedicated thread
    /// (`{thread_name}-tokio`) instead of from the workers (feature
    /// `tokio`; default `false`).
    ///
    /// This is the bridge's earlier design, kept to compare against: every
    /// readiness event then crosses from that thread to the workers. By
    /// default the workers drive the reactor themselves (see [the
    /// bridge](crate::tokio_bridge)). Ignored with
    /// [`tokio_handle`](SchedulerBuilder::tokio_handle).
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// use std::time::Duration;
    ///
    /// let scheduler = Scheduler::builder().worker_count(1).tokio_driver_thread(true).build()?;
    /// let task = scheduler.submit(async {
    ///     tokio::time::sleep(Duration::from_millis(1)).await;
    ///     "slept"
    /// }, Priority::Normal);
    /// assert_eq!(scheduler.block_on(task)?, "slept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn tokio_driver_thread(mut self, on: bool) -> Self {
        self.services.tokio_driver_thread = on;
        self
    }

    /// Runs a High responder (Linux, feature `tokio`; default `false`): a
    /// thread, `{thread_name}-high`, that sleeps until data arrives on a
    /// High task's socket (one given to
    /// [`tokio_bridge::watch_high`](crate::tokio_bridge::watch_high)) and,
    /// when no worker is waiting in the reactor to see it, delivers it and
    /// runs the High tasks itself. So High I/O waits for a poll plus a
    /// wake-up even while every worker is busy. It costs a thread that
    /// sleeps, and a wake-up per arrival on a watched socket.
    ///
    /// Ignored elsewhere, and with [`tokio_handle`](SchedulerBuilder::tokio_handle)
    /// or [`tokio_driver_thread`](SchedulerBuilder::tokio_driver_thread)
    /// (the workers then drive no reactor).
    ///
    /// ```
    /// let scheduler = echo_std::Scheduler::builder()
    ///     .worker_count(2)
    ///     .high_responder(true)
    ///     .build()?;
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn high_responder(mut self, on: bool) -> Self {
        self.services.high_responder = on;
        self
    }
}

// The timeline's setting (feature `recorder`, module `timeline`).
#[cfg(feature = "recorder")]
impl SchedulerBuilder {
    /// Records a timeline of up to `events` events per worker (feature
    /// `recorder`; 0, the default, records nothing): see the
    /// [`timeline`](crate::timeline) module. Each event takes 32 bytes,
    /// allocated when the scheduler is built; once a worker's buffer is
    /// full it counts what it drops ([`WorkerTimeline::dropped`](crate::timeline::WorkerTimeline::dropped)).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).timeline_capacity(1 << 16).build()?;
    /// assert_eq!(scheduler.timeline().workers.len(), 1);
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn timeline_capacity(mut self, events: usize) -> Self {
        self.timeline_capacity = events;
        self
    }
}
