//! The tokio runtime that the workers drive (the bridge's default mode):
//! a current-thread runtime with no thread of its own, turned by the
//! sleeper (which waits inside it) and by busy workers (a non-blocking
//! turn at their scheduling points). It is the platform's
//! [`EventLoop`].
//!
//! Invariants:
//! - One thread at a time is inside the runtime's `block_on`: the mutex
//!   around the runtime decides which, and a busy worker that finds it
//!   taken skips its turn.
//! - A thread inside the runtime (`DRIVING`) never shuts it down: a
//!   `tokio::spawn`ed future that shuts the scheduler down leaves the
//!   runtime to the reactor's drop.

use crate::host::EventLoop;
use crate::host::park::Parker;
use crate::host::threads::Join;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle, Runtime};

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
    pub(super) handle: Handle,
    /// Lets the sleeper wait in the reactor right up to an Echo deadline
    /// (Linux; `None` if it could not be made).
    #[cfg(target_os = "linux")]
    deadline_fd: Option<crate::tokio_bridge::deadline_fd::DeadlineFd>,
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
            crate::tokio_bridge::deadline_fd::DeadlineFd::new().ok()
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
    fn poll(&self) {
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
    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) -> bool {
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
        fd: &crate::tokio_bridge::deadline_fd::DeadlineFd,
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
    pub(super) fn shutdown(&self, join: Join) {
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

impl EventLoop for Reactor {
    fn poll(&self) {
        Reactor::poll(self);
    }

    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) -> bool {
        Reactor::park_until(self, parker, deadline)
    }
}
