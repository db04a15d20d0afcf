//! The High responder (Linux, feature `tokio`,
//! [`SchedulerBuilder::high_responder`](crate::SchedulerBuilder::high_responder)): a thread that sleeps until the
//! kernel signals readiness on a High task's socket, then delivers that
//! readiness and runs the High tasks itself, so that High I/O does not
//! wait for a busy worker.
//!
//! Why a thread of its own: when every worker is busy, readiness waits for
//! some worker's next look at the reactor (every 100 µs of polling), and
//! on a loaded machine a worker that never sleeps also waits for its next
//! time slice. The kernel gives a thread that was asleep a CPU as soon as
//! its event comes, so a sleeping responder that runs the High task
//! itself answers within a poll plus a wake-up, as a bare thread would.
//!
//! How:
//! - It sleeps in an epoll set of its own that holds only the sockets
//!   given to [`watch_high`] (edge-triggered: one wake per arrival), plus
//!   an eventfd that stops it.
//! - On a wake it calls the core's `Scheduler::run_high`, which turns the
//!   reactor once on this thread (`Platform::poll_events`: a non-blocking
//!   turn, skipped if a worker is inside the reactor already, which then
//!   sees the same event) and runs High tasks until none is queued. The
//!   wakers the turn runs see this thread as the responder's slot, so the
//!   High tasks go to the High injector and Normal or Low ones to theirs.
//!
//! Where its parts live: the epoll set is `host::HighWatch` (the platform
//! holds it, so that code holding only the core reaches it), the thread is
//! started with the workers (`runtime/start.rs`) and stopped by shutdown
//! (`runtime/shutdown.rs`), and the builder's switch is
//! `SchedulerBuilder::high_responder`. This file is what tasks call.
//!
//! Invariants:
//! - Only the responder thread calls `run_high` (slot 0).
//! - An event that arrives while the responder is busy stays in its epoll
//!   set and ends its next wait at once: edges are not lost.
//! - Shutdown stops it before the scheduler joins its threads (it is one
//!   of them): `stop` writes the eventfd, and the thread leaves its loop
//!   at its next wake-up.

#[cfg(target_os = "linux")]
use crate::context;
#[cfg(target_os = "linux")]
use std::os::fd::RawFd;

/// Lets the High responder see readiness on `socket`, a High task's
/// socket of the calling thread's scheduler (Linux; built with
/// [`high_responder(true)`](crate::SchedulerBuilder::high_responder)):
/// when data arrives there while every worker is busy, the responder
/// thread runs the task. Returns false when there is no responder (or the
/// socket could not be watched); the task is then served as before.
///
/// `echo_std::hyper::Server` (feature `hyper`) watches a connection
/// once a High route raises it to High.
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).high_responder(true).build()?;
/// let watched = scheduler.block_on(async {
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///     let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
///     Ok::<_, std::io::Error>(echo_std::tokio_bridge::watch_high(&client))
/// })?;
/// assert_eq!(watched, cfg!(target_os = "linux"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(unix)]
pub fn watch_high(socket: &impl std::os::fd::AsRawFd) -> bool {
    #[cfg(target_os = "linux")]
    return watch_high_fd(socket.as_raw_fd());
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

/// [`watch_high`] by descriptor.
#[cfg(target_os = "linux")]
pub(crate) fn watch_high_fd(fd: RawFd) -> bool {
    context::has_current()
        && context::with_core(|core| {
            core.platform()
                .high_watch()
                .is_some_and(|watch| watch.watch(fd).is_ok())
        })
}
