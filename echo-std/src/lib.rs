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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod block_on;
mod blocking;
mod budget;
mod clock;
mod context;
#[cfg(all(feature = "tokio", target_os = "linux"))]
mod deadline_fd;
mod handle;
mod join_set;
mod macro_support;
mod park;
mod platform;
mod scheduler;
mod services;
mod task_builder;
mod task_local;
mod thread_hooks;
mod threads;
pub mod time;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio_bridge;
mod yield_now;

pub use blocking::spawn_blocking;
pub use context::spawn;
pub use echo_sched_core::{
    Config, ConfigError, JoinError, JoinHandle, Latency, MAX_WORKERS, Metrics, Priority, Refusal,
    SpawnWhenRoom, SubmitError, TierMetrics,
};
pub use handle::{Handle, TryCurrentError};
pub use platform::StdPlatform;
pub use scheduler::{BuildError, Scheduler, SchedulerBuilder, in_scheduler_context};
pub use task_builder::TaskBuilder;
pub use yield_now::{YieldNow, yield_now};

/// The running task's identity, task-local values
/// ([`task_local!`]), [`JoinSet`](task::JoinSet) and the cooperative
/// budget ([`consume_budget`](task::consume_budget)).
pub mod task {
    pub use crate::budget::consume_budget;
    pub use crate::context::{builder, current};
    pub use crate::join_set::JoinSet;
    pub use crate::task_local::{AccessError, LocalKey, TaskLocalFuture};
    pub use echo_sched_core::{TaskId, TaskInfo, TaskName};
}

pub use macro_support::{main, test};

/// What the expansion of `#[echo_std::main]` and `#[echo_std::test]`
/// calls. Not a stable API.
#[doc(hidden)]
pub mod __macro_support {
    pub use crate::macro_support::run;
}
