//! The High responder (Linux, feature `tokio`,
//! [`SchedulerBuilder::high_responder`]): a thread that sleeps until the
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
//! Invariants:
//! - Only the responder thread calls `run_high` (slot 0).
//! - An event that arrives while the responder is busy stays in its epoll
//!   set and ends its next wait at once: edges are not lost.
//! - Shutdown stops it before the scheduler joins its threads (it is one
//!   of them): `stop` writes the eventfd, and the thread leaves its loop
//!   at its next wake-up.

use crate::scheduler::SchedulerBuilder;
#[cfg(target_os = "linux")]
pub(crate) use linux::{HighWatch, spawn, watch_high_fd};

impl SchedulerBuilder {
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

#[cfg(target_os = "linux")]
mod linux {
    use crate::context;
    use crate::platform::StdPlatform;
    use crate::services::ThreadContext;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    type Core = echo_sched_core::Scheduler<StdPlatform>;

    /// The responder's epoll set and its stop signal.
    pub(crate) struct HighWatch {
        epoll: OwnedFd,
        stop_fd: OwnedFd,
        stopping: AtomicBool,
    }

    /// The eventfd's token in the epoll set (sockets use their descriptor).
    const STOP_TOKEN: u64 = u64::MAX;

    impl HighWatch {
        pub(crate) fn new() -> io::Result<HighWatch> {
            // SAFETY: plain system calls with integer arguments; each returns
            // a new descriptor or -1.
            let (epoll, stop_fd) = unsafe {
                (
                    libc::epoll_create1(libc::EPOLL_CLOEXEC),
                    libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK),
                )
            };
            if epoll < 0 || stop_fd < 0 {
                let err = io::Error::last_os_error();
                for fd in [epoll, stop_fd] {
                    if fd >= 0 {
                        // SAFETY: a descriptor just made and owned by nothing.
                        drop(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
                return Err(err);
            }
            // SAFETY: both are descriptors just made, owned by nothing else.
            let (epoll, stop_fd) =
                unsafe { (OwnedFd::from_raw_fd(epoll), OwnedFd::from_raw_fd(stop_fd)) };
            let watch = HighWatch {
                epoll,
                stop_fd,
                stopping: AtomicBool::new(false),
            };
            watch.add(watch.stop_fd.as_raw_fd(), libc::EPOLLIN as u32, STOP_TOKEN)?;
            Ok(watch)
        }

        fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
            let mut event = libc::epoll_event { events, u64: token };
            // SAFETY: `event` is a valid epoll_event for the call's duration;
            // the kernel copies it.
            let r = unsafe {
                libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event)
            };
            if r < 0 {
                let err = io::Error::last_os_error();
                // Watched already: nothing to do.
                if err.raw_os_error() != Some(libc::EEXIST) {
                    return Err(err);
                }
            }
            Ok(())
        }

        /// Watches `fd` for readability, edge-triggered. The kernel forgets it
        /// when the socket is closed.
        pub(crate) fn watch(&self, fd: RawFd) -> io::Result<()> {
            let events = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
            self.add(fd, events, fd as u64)
        }

        /// Makes the responder leave its loop.
        pub(crate) fn stop(&self) {
            self.stopping.store(true, Ordering::SeqCst);
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from an 8-byte buffer to our eventfd.
            unsafe { libc::write(self.stop_fd.as_raw_fd(), one.as_ptr().cast(), 8) };
        }

        /// Blocks until a watched socket has new data (true) or `stop` was
        /// called (false).
        fn wait(&self) -> bool {
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
            loop {
                if self.stopping.load(Ordering::SeqCst) {
                    return false;
                }
                // SAFETY: `events` has room for the 16 events asked for.
                let n = unsafe {
                    libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 16, -1)
                };
                if n > 0 {
                    return !self.stopping.load(Ordering::SeqCst);
                }
                // EINTR: wait again. Any other error would repeat: stop.
                if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return false;
                }
            }
        }
    }

    /// Starts the responder thread, `{name}-high`, for `core`'s responder
    /// slot 0; the platform holds its watch.
    pub(crate) fn spawn(
        core: Core,
        services: ThreadContext,
        name: &str,
    ) -> io::Result<thread::JoinHandle<()>> {
        thread::Builder::new()
            .name(format!("{name}-high"))
            .spawn(move || {
                crate::platform::tighten_timer_slack();
                let _ctx = context::enter(core.clone());
                let _services = services.enter();
                let Some(watch) = core.platform().high_watch() else {
                    return;
                };
                while watch.wait() && !core.is_shutdown() {
                    core.run_high(0);
                }
            })
    }

    /// [`watch_high`](super::watch_high) by descriptor.
    pub(crate) fn watch_high_fd(fd: RawFd) -> bool {
        context::has_current()
            && context::with_core(|core| {
                core.platform()
                    .high_watch()
                    .is_some_and(|watch| watch.watch(fd).is_ok())
            })
    }
}
