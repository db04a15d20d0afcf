//! # echo-std
//!
//! Echo on an operating system: a work-stealing pool of worker threads
//! that runs async tasks at three priorities (High, Normal, Low).
//!
//! ```
//! use echo_std::{Priority, Scheduler};
//!
//! let scheduler = Scheduler::builder().worker_count(2).build()?;
//! let ui = scheduler.submit(async { "frame" }, Priority::High);
//! let index = scheduler.submit(async {
//!     // Tasks spawn tasks and await each other.
//!     let part = echo_std::spawn(async { 20 }, Priority::Low);
//!     echo_std::yield_now().await;
//!     part.await.unwrap() + 22
//! }, Priority::Low);
//! assert_eq!(scheduler.block_on(ui)?, "frame");
//! assert_eq!(scheduler.block_on(index)?, 42);
//! println!("{}", scheduler.metrics());
//! scheduler.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - High tasks are seen by every worker at its next scheduling point.
//! - Normal and Low are guaranteed a share of polls under a flood of
//!   higher-tier work.
//! - A task awaiting a lower-priority task's handle lends it its priority.
//! - A panicking task never takes its worker down; its handle reports it.
//! - Blocking closures go to a separate, bounded and elastic thread pool
//!   with [`spawn_blocking`] (or [`Scheduler::spawn_blocking`]), and come
//!   back as `JoinHandle`s.
//! - tokio's habits carry over: [`#[echo_std::main]`](macro@main) and
//!   [`#[echo_std::test]`](macro@test), [`Handle`],
//!   [`task::JoinSet`], [`task_local!`] and the worker thread hooks
//!   ([`SchedulerBuilder::on_thread_start`]).
//! - Echo has timers of its own, with or without any feature:
//!   [`time::sleep`], [`time::interval`], [`time::timeout`], and a
//!   cooperative budget ([`task::consume_budget`]).
//! - With the `tokio` feature, tasks use tokio's sockets, timers and files
//!   unchanged: the workers drive a tokio runtime of the scheduler's own,
//!   or it uses a runtime you give it (see the `tokio_bridge` module). Libraries that
//!   bring their own reactor or need only a waker (async-io,
//!   async-channel, futures) work without any feature.
//!
//! ## Where Echo differs from tokio on purpose
//!
//! - **Every spawn names its tier** ([`spawn`], [`Scheduler::submit`],
//!   [`Handle::spawn`]); [`TaskBuilder`] defaults to Normal. `tokio::spawn`
//!   inside an Echo task runs on tokio, with no priority.
//! - **Order.** Each worker runs its own ring of a tier oldest first, with
//!   no "LIFO slot": tokio runs the task that the running task just woke
//!   next, Echo queues it behind the others, so two tasks waking each other
//!   cannot starve the rest of the ring. Tasks are not run in submission
//!   order across workers: a thief takes the older half of a victim's ring
//!   (of one tier; tokio also takes half), and a full ring (256 entries)
//!   moves its older half to the tier's shared queue, which workers look
//!   at every 31 scheduling points or when their rings are empty, so
//!   entries on either side of an overflow may run in either order.
//! - **High work is never in a ring**: it lives in a shared queue that
//!   every worker checks first, so it never waits behind one busy worker.
//! - **Awaiting a handle lends the awaiting task's tier** to the awaited
//!   task ([`JoinHandle::set_priority`] moves it explicitly).
//! - **A detached task that nothing can wake is dropped at once**, not at
//!   shutdown, and counted as orphaned in [`Metrics`].
//! - **`abort` keeps a finished output**, as tokio does: a task that
//!   completes in the poll running when [`JoinHandle::abort`] is called
//!   still gives `Ok(output)`.
//! - **The cooperative budget** ([`task::consume_budget`]) is Echo's own:
//!   tokio's resources do not spend it (see the `tokio_bridge` module).
//! - **Timers count microseconds**, where tokio's wheel counts
//!   milliseconds ([`time`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, top to bottom: a module imports only modules listed below
// it, and the files of a folder import each other in no circle.
//
// - `hyper`, `macro_support`, `timeline`: features and attributes on top
//   of the public API;
// - `runtime`: `Scheduler`, `SchedulerBuilder`, services, thread start,
//   shutdown;
// - `task`: what a task uses while it runs, and `TaskBuilder`;
// - `blocking`: the blocking pool (`spawn_blocking`);
// - `tokio_bridge`: tokio's reactor driven by the workers (feature
//   `tokio`);
// - `time`: Echo's timers;
// - `context`: the calling thread's scheduler, `Handle`, `spawn`;
// - `console`: tokio-console's spans (feature `console`);
// - `host`: the operating system (`StdPlatform`, threads, parking).

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
mod macro_support;
#[cfg(feature = "recorder")]
pub mod timeline;

mod runtime;

pub mod task;

mod blocking;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio_bridge;

pub mod time;

mod context;

pub mod console;

mod host;

pub use blocking::spawn_blocking;
pub use context::{Handle, TryCurrentError, in_scheduler_context, spawn};
pub use echo_sched_core::{
    Config, ConfigError, JoinError, JoinHandle, Latency, MAX_WORKERS, Metrics, Priority, Refusal,
    SpawnWhenRoom, SubmitError, TierMetrics,
};
pub use host::platform::StdPlatform;
pub use runtime::{BuildError, Scheduler, SchedulerBuilder};
pub use task::builder::TaskBuilder;
pub use task::yield_now::{YieldNow, yield_now};

pub use macro_support::{main, test};

/// What the expansion of `#[echo_std::main]` and `#[echo_std::test]`
/// calls. Not a stable API.
#[doc(hidden)]
pub mod __macro_support {
    pub use crate::macro_support::run;
}
