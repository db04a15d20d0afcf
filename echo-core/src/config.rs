//! Scheduler configuration and its validation.

use crate::Priority;
use core::fmt;

/// The largest worker count a scheduler accepts.
pub const MAX_WORKERS: usize = 1024;

/// How a scheduler is set up. [`Config::new`] gives the defaults.
///
/// ```
/// use echo_sched_core::Config;
/// let config = Config::new(4);
/// assert_eq!(config.normal_interval, 8);
/// assert!(config.validate().is_ok());
/// assert!(Config::new(0).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of workers (1 to [`MAX_WORKERS`]).
    pub worker_count: usize,
    /// N: while Normal work is waiting (in a worker's ring or the Normal
    /// injector), any `normal_interval` consecutive polls of that worker
    /// include a Normal one, however much High work there is. At least 2.
    pub normal_interval: u32,
    /// M: likewise for Low, over `low_interval` consecutive polls. At
    /// least 3.
    pub low_interval: u32,
    /// K: a worker looks at a tier's global injector before its own ring at
    /// least once every `global_queue_interval` scheduling ticks, so remote
    /// submissions are not starved by local ones.
    pub global_queue_interval: u32,
    /// The bound on live tasks (submitted and not finished), or `None` for
    /// no bound (the default). Submissions from outside the pool wait or
    /// are refused at the bound; tasks spawned by running tasks are always
    /// admitted (waiting there could deadlock).
    pub max_tasks: Option<usize>,
    /// Sample submit-to-first-poll latency, average queue depths and worker
    /// busy time (the default). `false` keeps only the counters; it exists
    /// to measure what the detailed metrics cost. Without the crate's
    /// `metrics` feature nothing is sampled whatever this says.
    pub detailed_metrics: bool,
    /// Allocate tasks from the pooled slab (the default). `false` gives
    /// every task its own allocation from the global allocator, which is
    /// slower; it exists to measure the slab against it.
    pub pooled_slab: bool,
    /// How often a busy worker calls
    /// [`Platform::poll_events`](crate::Platform::poll_events) at its
    /// scheduling points, by the platform clock, or `None` (the default)
    /// for never: the host has no event source for busy workers to poll.
    /// `echo-std` sets 100 µs when its workers drive the tokio reactor.
    pub event_poll_interval: Option<core::time::Duration>,
    /// High responders: extra worker slots, after the `worker_count`
    /// workers, that run only High tasks and only when their host calls
    /// [`Scheduler::run_high`](crate::Scheduler::run_high) (the std adapter
    /// calls it from a thread that sleeps until readiness on High sockets).
    /// They are outside the idle protocol (never parked, woken or stolen
    /// from) and put the Normal and Low entries they make in the
    /// injectors. Default 0; at most 1.
    pub responders: usize,
    /// Events each worker's timeline keeps (feature `recorder`; see
    /// [`Scheduler::timeline`](crate::Scheduler::timeline)), or 0 (the
    /// default) to record nothing. Each event takes 32 bytes, allocated
    /// when the scheduler is made; a full timeline counts what it drops.
    #[cfg(feature = "recorder")]
    pub timeline_capacity: usize,
}

impl Config {
    /// Whether workers sample latency, depths and busy time: the
    /// `metrics` feature and `detailed_metrics` both on.
    #[inline]
    pub(crate) fn samples(&self) -> bool {
        cfg!(feature = "metrics") && self.detailed_metrics
    }

    /// Defaults for `worker_count` workers: N = 8, M = 32, K = 31.
    ///
    /// N and M bound starvation to one poll in 8 (Normal) and 32 (Low)
    /// under a flood of higher tiers, while leaving High at least 7/8 of
    /// the polls. K = 31 is tokio's global queue interval: a remote task
    /// waits at most 31 local polls once it reaches a busy worker.
    pub fn new(worker_count: usize) -> Config {
        Config {
            worker_count,
            normal_interval: 8,
            low_interval: 32,
            global_queue_interval: 31,
            max_tasks: None,
            detailed_metrics: true,
            pooled_slab: true,
            event_poll_interval: None,
            responders: 0,
            #[cfg(feature = "recorder")]
            timeline_capacity: 0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.worker_count == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if self.worker_count > MAX_WORKERS {
            return Err(ConfigError::TooManyWorkers {
                requested: self.worker_count,
                max: MAX_WORKERS,
            });
        }
        if self.responders > 1 {
            return Err(ConfigError::TooManyResponders {
                requested: self.responders,
            });
        }
        if self.max_tasks == Some(0) {
            return Err(ConfigError::ZeroMaxTasks);
        }
        for tier in Priority::RINGED {
            let (name, value) = self.turn_interval(tier);
            let min = Config::min_turn_interval(tier);
            if value < min {
                return Err(ConfigError::IntervalTooSmall { name, min });
            }
        }
        if self.global_queue_interval < 1 {
            return Err(ConfigError::IntervalTooSmall {
                name: "global_queue_interval",
                min: 1,
            });
        }
        Ok(())
    }

    /// The anti-starvation interval of a tier with a ring, and the name of
    /// its field: any that many consecutive polls of a worker include one
    /// of that tier while it has work (see `pick.rs`).
    pub(crate) fn turn_interval(&self, tier: Priority) -> (&'static str, u32) {
        match tier {
            Priority::Normal => ("normal_interval", self.normal_interval),
            Priority::Low => ("low_interval", self.low_interval),
            Priority::High => unreachable!("the most urgent tier has no turns"),
        }
    }

    /// The smallest interval a tier's turns can keep: its position among
    /// the ringed tiers plus one, since a tier's turn comes that many polls
    /// before its limit (each tier above it may take its own turn first).
    pub(crate) const fn min_turn_interval(tier: Priority) -> u32 {
        tier.ring_index() as u32 + 2
    }
}

/// A configuration the scheduler cannot run with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `worker_count` was zero.
    ZeroWorkers,
    /// `worker_count` was above [`MAX_WORKERS`].
    TooManyWorkers {
        /// The count asked for.
        requested: usize,
        /// The largest count allowed.
        max: usize,
    },
    /// An interval was below its minimum (Normal's turns need at least one
    /// other poll between them, and Low's one more, so the two can be met
    /// together).
    IntervalTooSmall {
        /// The field.
        name: &'static str,
        /// Its smallest allowed value.
        min: u32,
    },
    /// `max_tasks` was `Some(0)`: nothing could ever be submitted.
    ZeroMaxTasks,
    /// `responders` was above 1.
    TooManyResponders {
        /// The count asked for.
        requested: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroWorkers => f.write_str("a scheduler needs at least one worker"),
            ConfigError::TooManyWorkers { requested, max } => {
                write!(f, "{requested} workers requested; the maximum is {max}")
            }
            ConfigError::IntervalTooSmall { name, min } => {
                write!(f, "`{name}` must be at least {min}")
            }
            ConfigError::ZeroMaxTasks => f.write_str("`max_tasks` must be at least 1"),
            ConfigError::TooManyResponders { requested } => {
                write!(f, "{requested} High responders requested; the maximum is 1")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Why a submission was refused. The future comes back inside the error.
pub struct SubmitError<F> {
    future: F,
    reason: Refusal,
}

/// The reason in a [`SubmitError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The scheduler is shutting down or has shut down.
    ShutDown,
    /// The scheduler is at its bound on live tasks.
    Full,
    /// There was no memory for the task: the platform gave no chunk for
    /// the slab ([`Platform::alloc_chunk`](crate::Platform::alloc_chunk)
    /// returned `None`), or, for a task too large for the slab's pages,
    /// the global allocator had none. Nothing of the submission is kept,
    /// and the scheduler goes on; a later submission asks for memory
    /// again, so it may succeed once tasks have finished.
    NoMemory,
}

impl<F> SubmitError<F> {
    pub(crate) fn new(future: F, reason: Refusal) -> Self {
        SubmitError { future, reason }
    }

    /// The future that was not submitted, undropped.
    pub fn into_inner(self) -> F {
        self.future
    }

    /// Why it was refused.
    pub fn reason(&self) -> Refusal {
        self.reason
    }

    /// True if it was refused because of shutdown.
    pub fn is_shutdown(&self) -> bool {
        self.reason == Refusal::ShutDown
    }

    /// True if it was refused because the scheduler is full.
    pub fn is_full(&self) -> bool {
        self.reason == Refusal::Full
    }

    /// True if it was refused because there was no memory for it.
    pub fn is_no_memory(&self) -> bool {
        self.reason == Refusal::NoMemory
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Refusal::ShutDown => f.write_str("submission refused: the scheduler has shut down"),
            Refusal::Full => f.write_str("submission refused: the scheduler is full"),
            Refusal::NoMemory => f.write_str("submission refused: no memory for the task"),
        }
    }
}

impl<F> core::error::Error for SubmitError<F> {}
