//! The tokio bridge (feature `tokio`): Echo tasks use tokio's I/O, timers
//! and file system, and the libraries built on them, unchanged.
//!
//! tokio's resources (`TcpStream`, `sleep`, `tokio::fs`, ...) work in any
//! executor's tasks, provided the thread that creates or polls them is
//! inside some tokio runtime's *context*, and that runtime's driver (the
//! epoll/kqueue loop and the timer wheel) keeps running somewhere. Every
//! worker thread, [`Scheduler::block_on`] and the blocking-pool threads
//! enter the runtime's context (`Handle::enter`) for their whole life.
//! Which runtime, and who drives it:
//!
//! - **By default the workers drive a runtime of the scheduler's own**: a
//!   tokio current-thread runtime with I/O and time enabled, and no thread
//!   of its own. A current-thread runtime is driven by whichever thread is
//!   inside its `block_on`, one at a time:
//!   - a worker with nothing to do that becomes *the sleeper* (one at a
//!     time; the others park on their condvars as before) waits inside
//!     `block_on` on a future that completes when the worker is unparked,
//!     so it sleeps in `epoll_wait`. A submission wakes it the way it wakes
//!     any parked worker (the idle protocol picks whom to wake), and the
//!     unpark wakes that future, which interrupts the wait;
//!   - a busy worker polls the runtime without blocking at its scheduling
//!     points, about every 100 µs of polling (a non-blocking turn costs
//!     1 to 2 % of a busy worker, more the more it finds ready:
//!     `docs/DESIGN.md`), unless another worker is inside it already.
//!
//!   Either way the wakers of ready sockets and expired tokio timers run
//!   on a worker thread, so the tasks they wake take the worker's local
//!   path (Normal and Low to its own ring, High to the High injector), with
//!   no cross-thread hand-off and no third thread competing for the CPUs.
//!   Futures given to `tokio::spawn` run there too, in both cases.
//! - **Or hand it a runtime you already have**, with
//!   [`SchedulerBuilder::tokio_handle`]: Echo enters that handle on the same
//!   threads, drives nothing and owns nothing of tokio's. The runtime's
//!   owner keeps it driven (a multi-thread runtime drives itself; a
//!   current-thread one only while someone is in its `block_on`) and alive
//!   for as long as the scheduler runs.
//! - **Or, for comparison, the earlier design**:
//!   [`SchedulerBuilder::tokio_driver_thread`] runs the scheduler's runtime
//!   on a dedicated thread (`{thread_name}-tokio`) that sleeps in
//!   `epoll_wait` and hands every readiness event across threads to the
//!   injectors. Measured here on a TCP request/response loop it served
//!   fewer requests per second than the worker-driven default.
//!
//! **Timers.** Echo's own timers ([`time`](crate::time)) live in the core,
//! and the sleeper sleeps until the earliest of them. tokio's park timeout
//! (its timer wheel and `epoll_wait`) counts whole milliseconds and rounds
//! up, so it cannot end the wait on time. On Linux the sleeper arms a
//! `timerfd` (registered with the runtime's epoll) for the Echo deadline:
//! the reactor's wait ends on time, to the microsecond, and the sleeper
//! sees I/O readiness right up to the deadline. Elsewhere it asks tokio to
//! return 3 ms early and spends the last stretch on its precise parker (a
//! nanosecond timeout); readiness that arrives in that stretch while every
//! worker is idle waits until the Echo timer fires (at most 3 ms), and a
//! busy worker's 100 µs polls see it sooner. tokio's own timers
//! (`tokio::time`) keep tokio's 1 ms resolution.
//!
//! Why a runtime of its own by default: a desktop application that adopts
//! Echo as its one pool should not need a second executor to make I/O
//! work. Owning it also makes shutdown complete: [`Scheduler::shutdown`]
//! shuts the runtime down after the workers and the blocking pool have
//! stopped, which joins tokio's own blocking threads (used by `tokio::fs`),
//! so no thread is left behind.
//!
//! What to know:
//!
//! - `tokio::spawn` inside an Echo task runs its future on the tokio
//!   runtime, not as an Echo task: by default inside a worker's poll of the
//!   reactor, with no priority, and only while some worker drives it (the
//!   sleeper, or a busy worker every 100 µs). Use
//!   [`echo_std::spawn`](crate::spawn) for work.
//! - tokio's resources keep their cooperative budget only inside tokio's
//!   own scheduler: polled by an Echo task they never ask it to yield. See
//!   [`consume_budget`](crate::task::consume_budget).
//! - After shutdown the runtime is gone: tokio resources kept outside the
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
//! scheduler.shutdown(); // shuts the runtime down too
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(unix)]
pub use crate::high_responder::watch_high;
use crate::park::Parker;
use crate::scheduler::{Scheduler, SchedulerBuilder};
use crate::threads::Join;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;

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
    pub fn tokio_handle(mut self, handle: Handle) -> Self {
        self.services.tokio = Some(handle);
        self
    }
}

impl SchedulerBuilder {
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
}

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
    pub fn tokio_handle(&self) -> Handle {
        self.services.tokio.handle().clone()
    }
}

/// How long before an Echo deadline the sleeper stops waiting in the
/// reactor and parks on its precise parker instead: tokio's timer and
/// `epoll_wait` both count whole milliseconds, rounding up, so a reactor
/// wait may end up to about 2 ms after the time asked.
const PRECISE_WINDOW: Duration = Duration::from_millis(3);

thread_local! {
    /// This thread is inside the reactor's `block_on`.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as driving the reactor until dropped.
struct Driving;

impl Driving {
    fn enter() -> Driving {
        DRIVING.with(|d| d.set(true));
        Driving
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|d| d.set(false));
    }
}

/// The tokio runtime that the workers drive (the default mode): a
/// current-thread runtime that no thread of its own runs. One worker at a
/// time is inside its `block_on`, either the sleeper (waiting for events,
/// an unpark or a deadline) or a busy worker polling it without blocking;
/// the mutex decides which.
pub(crate) struct Reactor {
    /// `None` once shut down.
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
    /// Lets the sleeper wait in the reactor right up to an Echo deadline
    /// (Linux; `None` if it could not be made).
    #[cfg(target_os = "linux")]
    deadline_fd: Option<crate::deadline_fd::DeadlineFd>,
}

impl Reactor {
    /// A runtime with I/O and time enabled, whose blocking threads (for
    /// `tokio::fs`) are named `{thread_name}-tokio-blocking`.
    pub(crate) fn start(thread_name: &str) -> io::Result<Arc<Reactor>> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{thread_name}-tokio-blocking"))
            .build()?;
        #[cfg(target_os = "linux")]
        let deadline_fd = {
            let _in_runtime = runtime.enter();
            crate::deadline_fd::DeadlineFd::new().ok()
        };
        Ok(Arc::new(Reactor {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            #[cfg(target_os = "linux")]
            deadline_fd,
        }))
    }

    /// A busy worker's turn: unless another worker is in the runtime, polls
    /// the reactor and the timers once without blocking, and runs the
    /// futures given to `tokio::spawn` that are ready. The wakers that this
    /// runs see the calling worker, so the Echo tasks they wake go to its
    /// own ring (Normal, Low) or the High injector.
    pub(crate) fn poll(&self) {
        let guard = match self.runtime.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        if let Some(runtime) = guard.as_ref() {
            let _driving = Driving::enter();
            // `yield_now` defers its wake-up, so tokio parks with a zero
            // timeout (polls epoll and the timer wheel), runs what that
            // woke, then completes the future.
            runtime.block_on(tokio::task::yield_now());
        }
    }

    /// The sleeper's park: waits inside the reactor until `parker` is
    /// unparked or `deadline` passes. On Linux a timerfd ends the wait on
    /// time; elsewhere the wait ends `PRECISE_WINDOW` early (tokio counts
    /// milliseconds) and returns false, having waited for nothing, once the
    /// deadline is that near: the caller then parks precisely. Also false
    /// after shutdown.
    pub(crate) fn park_until(&self, parker: &Parker, deadline: Option<Instant>) -> bool {
        #[cfg(target_os = "linux")]
        if let (Some(d), Some(fd)) = (deadline, &self.deadline_fd) {
            if !fd.is_broken() {
                return self.park_until_fd(parker, d, fd);
            }
        }
        let leave_at = match deadline {
            None => None,
            Some(d) => match d.checked_sub(PRECISE_WINDOW) {
                Some(at) if at > Instant::now() => Some(at),
                _ => return false,
            },
        };
        let guard = self.runtime.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(runtime) = guard.as_ref() else {
            return false;
        };
        let _driving = Driving::enter();
        runtime.block_on(async {
            let mut timer = std::pin::pin!(leave_at.map(|at| tokio::time::sleep_until(at.into())));
            std::future::poll_fn(|cx| {
                if parker.poll_unparked(cx).is_ready() {
                    return Poll::Ready(());
                }
                match timer.as_mut().as_pin_mut() {
                    Some(t) => t.poll(cx),
                    None => Poll::Pending,
                }
            })
            .await
        });
        parker.end_wait();
        true
    }

    /// `park_until` with a timerfd armed for `deadline`.
    #[cfg(target_os = "linux")]
    fn park_until_fd(
        &self,
        parker: &Parker,
        deadline: Instant,
        fd: &crate::deadline_fd::DeadlineFd,
    ) -> bool {
        let guard = self.runtime.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(runtime) = guard.as_ref() else {
            return false;
        };
        if fd.set(Some(deadline)).is_err() {
            return false;
        }
        let _driving = Driving::enter();
        runtime.block_on(std::future::poll_fn(|cx| {
            if parker.poll_unparked(cx).is_ready() {
                return Poll::Ready(());
            }
            fd.poll_expired(cx)
        }));
        let _ = fd.set(None);
        parker.end_wait();
        true
    }

    /// Shuts the runtime down after the workers stopped: drops it (joining
    /// tokio's blocking threads), or with a deadline, gives them until
    /// then. Never from inside the runtime (a `tokio::spawn`ed future
    /// shutting the scheduler down): the runtime is then left to the
    /// reactor's drop.
    fn shutdown(&self, join: Join) {
        if DRIVING.with(Cell::get) {
            return;
        }
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (runtime, join) {
            (None, _) => {}
            (Some(rt), Join::Wait) => drop(rt),
            (Some(rt), Join::Until(d)) => {
                rt.shutdown_timeout(d.saturating_duration_since(Instant::now()))
            }
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        let runtime = self
            .runtime
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rt) = runtime {
            if DRIVING.with(Cell::get) {
                // Inside this very runtime: it cannot be shut down here.
                std::mem::forget(rt);
            } else {
                rt.shutdown_background();
            }
        }
    }
}

/// The runtime a scheduler's threads enter, and what the scheduler owns of
/// it.
pub(crate) struct TokioBridge {
    handle: Handle,
    owned: Owned,
}

enum Owned {
    /// A runtime given by the user.
    Nothing,
    /// The default: a runtime the workers drive.
    Reactor(Arc<Reactor>),
    /// The old mode, kept for comparison: a thread of its own drives it.
    DriverThread(Mutex<Driver>),
}

struct Driver {
    /// Tells the driver thread to return from `block_on` (taken once), and
    /// by when it must have shut the runtime down (`None`: no deadline).
    stop: Option<oneshot::Sender<Option<Instant>>>,
    /// The driver thread, until joined.
    thread: Option<thread::JoinHandle<()>>,
}

impl TokioBridge {
    /// Uses `external`, or the workers' `reactor`, or else starts a driver
    /// thread named `{thread_name}-tokio`.
    pub(crate) fn start(
        external: Option<&Handle>,
        reactor: Option<Arc<Reactor>>,
        thread_name: &str,
    ) -> io::Result<TokioBridge> {
        if let Some(handle) = external {
            return Ok(TokioBridge {
                handle: handle.clone(),
                owned: Owned::Nothing,
            });
        }
        if let Some(reactor) = reactor {
            return Ok(TokioBridge {
                handle: reactor.handle.clone(),
                owned: Owned::Reactor(reactor),
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
            owned: Owned::DriverThread(Mutex::new(Driver {
                stop: Some(stop),
                thread: Some(thread),
            })),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// After the workers have stopped: shuts an owned runtime down, and
    /// joins a driver thread as `join` says (never when called on that
    /// thread, from a `tokio::spawn`ed future).
    pub(crate) fn shutdown(&self, join: Join) {
        let driver = match &self.owned {
            Owned::Nothing => return,
            Owned::Reactor(reactor) => return reactor.shutdown(join),
            Owned::DriverThread(driver) => driver,
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
