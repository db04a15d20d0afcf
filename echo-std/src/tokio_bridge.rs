//! The tokio bridge (feature `tokio`): Echo tasks use tokio's I/O, timers
//! and file system, and the libraries built on them, unchanged.
//!
//! tokio's resources (`TcpStream`, `sleep`, `tokio::fs`, ...) work in any
//! executor's tasks, provided the thread that creates or polls them is
//! inside some tokio runtime's *context*, and that runtime's driver (the
//! epoll/kqueue loop and the timer wheel) keeps running somewhere. The
//! bridge provides both:
//!
//! - **By default the scheduler starts and owns a small driver**: a tokio
//!   current-thread runtime with I/O and time enabled, run by one dedicated
//!   thread (`{thread_name}-tokio`) that sits in the runtime's `block_on`
//!   until the scheduler shuts down. Each worker thread enters that
//!   runtime's context (`Handle::enter`) for its whole life, as do
//!   [`Scheduler::block_on`] and the blocking-pool threads.
//! - **Or hand it a runtime you already have**, with
//!   [`SchedulerBuilder::tokio_handle`]: Echo enters that handle on the same
//!   threads, starts no driver and owns nothing of tokio's. The runtime's
//!   owner keeps it driven (a multi-thread runtime drives itself; a
//!   current-thread one only while someone is in its `block_on`) and alive
//!   for as long as the scheduler runs.
//!
//! Why a driver of its own by default: a desktop application that adopts
//! Echo as its one pool should not need a second executor to make timers
//! fire. A current-thread runtime on one thread is the smallest thing that
//! drives tokio's reactor and timers; it does no work of its own (Echo's
//! workers poll every future, the driver thread only waits for events and
//! wakes the tasks), so priorities stay Echo's. Owning it also makes
//! shutdown complete: [`Scheduler::shutdown`] stops the driver after the
//! workers and the blocking pool and joins its thread, and dropping the
//! runtime there joins tokio's own blocking threads (used by `tokio::fs`),
//! so no thread is left behind. The handle option is for applications that
//! already run tokio and want one reactor for everything.
//!
//! What to know:
//!
//! - `tokio::spawn` inside an Echo task runs its future on the tokio
//!   runtime, not on Echo: with the owned driver, that is the single driver
//!   thread. Use [`echo_std::spawn`](crate::spawn) for work.
//! - After shutdown the driver is gone: tokio resources kept outside the
//!   scheduler stop making progress (their operations fail).
//! - A tokio resource binds to a runtime when it is *created* (a `Sleep`,
//!   a `TcpStream`): create it inside a task or inside the future given to
//!   `block_on`, not on a thread outside the context
//!   (`scheduler.block_on(tokio::time::sleep(d))` creates the `Sleep`
//!   before `block_on` enters the context, and panics; write
//!   `scheduler.block_on(async { tokio::time::sleep(d).await })`).
//! - Blocking pool threads are separate from tokio's:
//!   [`spawn_blocking`](crate::spawn_blocking) uses Echo's pool; tokio's
//!   `spawn_blocking` (and so `tokio::fs`) uses the runtime's.
//!
//! ```
//! use echo_std::{Priority, Scheduler};
//! use std::time::{Duration, Instant};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let scheduler = Scheduler::builder().worker_count(2).build()?;
//! let task = scheduler.submit(async {
//!     let start = Instant::now();
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     // The server side is another Echo task.
//!     let server = echo_std::spawn(async move {
//!         let (mut socket, _) = listener.accept().await?;
//!         socket.write_all(b"hello").await
//!     }, Priority::Normal);
//!     let mut client = tokio::net::TcpStream::connect(addr).await?;
//!     let mut greeting = String::new();
//!     client.read_to_string(&mut greeting).await?;
//!     server.await.unwrap()?;
//!     Ok::<_, std::io::Error>((greeting, start.elapsed()))
//! }, Priority::High);
//! let (greeting, elapsed) = scheduler.block_on(task)??;
//! assert_eq!(greeting, "hello");
//! assert!(elapsed >= Duration::from_millis(20));
//! scheduler.shutdown(); // stops and joins the driver thread too
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::scheduler::{Scheduler, SchedulerBuilder};
use crate::threads::Join;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Instant;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

impl SchedulerBuilder {
    /// Uses an existing tokio runtime for the tasks' tokio resources
    /// instead of starting a driver (feature `tokio`).
    ///
    /// Without this, [`build`](SchedulerBuilder::build) starts a tokio
    /// current-thread runtime on one thread of its own, which the scheduler
    /// owns and stops at shutdown; see [the bridge](crate::tokio_bridge)
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
    pub fn tokio_handle(mut self, handle: Handle) -> Self {
        self.services.tokio = Some(handle);
        self
    }
}

impl Scheduler {
    /// The tokio runtime that tasks' tokio resources use (feature
    /// `tokio`): the scheduler's own driver, or the one given to
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
    pub fn tokio_handle(&self) -> Handle {
        self.services.tokio.handle().clone()
    }
}

/// The runtime a scheduler's threads enter, and its driver if the
/// scheduler owns it.
pub(crate) struct TokioBridge {
    handle: Handle,
    /// `None` for a runtime given by the user.
    driver: Option<Mutex<Driver>>,
}

struct Driver {
    /// Tells the driver thread to return from `block_on` (taken once), and
    /// by when it must have shut the runtime down (`None`: no deadline).
    stop: Option<oneshot::Sender<Option<Instant>>>,
    /// The driver thread, until joined.
    thread: Option<thread::JoinHandle<()>>,
}

impl TokioBridge {
    /// Uses `external`, or starts a driver whose thread is named
    /// `{thread_name}-tokio`. Returns once the driver runs.
    pub(crate) fn start(external: Option<&Handle>, thread_name: &str) -> io::Result<TokioBridge> {
        if let Some(handle) = external {
            return Ok(TokioBridge {
                handle: handle.clone(),
                driver: None,
            });
        }
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{thread_name}-tokio-blocking"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<Option<Instant>>();
        let (ready, running) = std::sync::mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("{thread_name}-tokio"))
            .spawn(move || {
                let deadline = runtime.block_on(async move {
                    let _ = ready.send(());
                    // Also returns if the sender is dropped.
                    stopped.await.ok().flatten()
                });
                // Here, outside any async context: shut the runtime down,
                // which joins its blocking threads (used by `tokio::fs`),
                // or detaches those still busy at the deadline.
                match deadline {
                    Some(d) => {
                        runtime.shutdown_timeout(d.saturating_duration_since(Instant::now()))
                    }
                    None => drop(runtime),
                }
            })?;
        // The driver is in `block_on` from here on (or has died, which
        // `recv` reports by the sender's drop).
        let _ = running.recv();
        Ok(TokioBridge {
            handle,
            driver: Some(Mutex::new(Driver {
                stop: Some(stop),
                thread: Some(thread),
            })),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Tells an owned driver to stop and joins its thread as `join` says
    /// (never when called on that thread, from a `tokio::spawn`ed future).
    pub(crate) fn shutdown(&self, join: Join) {
        let Some(driver) = &self.driver else {
            return;
        };
        let mut driver = driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stop) = driver.stop.take() {
            let deadline = match join {
                Join::Wait => None,
                Join::Until(d) => Some(d),
            };
            let _ = stop.send(deadline);
        }
        let Some(thread) = driver.thread.take() else {
            return;
        };
        drop(driver);
        crate::threads::join(thread, join);
    }
}
