//! A deadline that the tokio reactor waits for with nanosecond precision
//! (Linux, feature `tokio`): a `timerfd` registered with the runtime's
//! epoll.
//!
//! tokio's own park timeout counts whole milliseconds, so the sleeper
//! cannot wait in the reactor for an Echo timer that is due sooner. Armed
//! with the timer's deadline, this descriptor becomes readable on time and
//! ends the reactor's wait, so the sleeper stays in `epoll_wait` (seeing
//! I/O readiness) right up to the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A one-shot monotonic timer the reactor can wait on.
pub(crate) struct DeadlineFd {
    fd: AsyncFd<OwnedFd>,
    /// An unexpected error was seen: callers fall back to other waits.
    broken: AtomicBool,
}

impl DeadlineFd {
    /// A disarmed timer. Call inside the runtime's context (it registers
    /// with that runtime's reactor).
    pub(crate) fn new() -> io::Result<DeadlineFd> {
        // SAFETY: `timerfd_create` takes two integers and returns a new
        // descriptor or -1; no memory is passed.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just made, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the `OwnedFd` moves into the `AsyncFd`, and nothing
        // replaces or closes the descriptor while it is registered (it is
        // closed by the `AsyncFd`'s drop, after deregistering).
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(DeadlineFd {
            fd,
            broken: AtomicBool::new(false),
        })
    }

    /// Whether an error made it unusable.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Arms the timer to expire at `deadline` (at least 1 ns from now), or
    /// disarms it with `None`. Arming again replaces the deadline and
    /// forgets an expiry not yet read.
    pub(crate) fn set(&self, deadline: Option<Instant>) -> io::Result<()> {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = match deadline {
            None => zero,
            Some(d) => {
                // A zero value would disarm: expire in 1 ns instead.
                let after = d
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1));
                libc::timespec {
                    tv_sec: after.as_secs().min(i32::MAX as u64) as libc::time_t,
                    tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
                }
            }
        };
        let spec = libc::itimerspec {
            it_interval: zero,
            it_value: value,
        };
        // SAFETY: the descriptor is a timerfd we own; `spec` is a valid
        // itimerspec for the call's duration; the old value is not asked
        // for (null is allowed).
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 {
            self.broken.store(true, Ordering::Relaxed);
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `Ready` once the armed deadline has passed (the expiry is consumed).
    /// On an unexpected error it marks itself broken and returns `Ready`,
    /// so the caller re-checks and stops using it.
    pub(crate) fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(_)) => {
                    self.broken.store(true, Ordering::Relaxed);
                    return Poll::Ready(());
                }
            };
            let read = guard.try_io(|fd| {
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into an 8-byte buffer from
                // a descriptor we own.
                let n = unsafe { libc::read(fd.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(Ok(())) => return Poll::Ready(()),
                Ok(Err(_)) => {
                    self.broken.store(true, Ordering::Relaxed);
                    return Poll::Ready(());
                }
                // Not expired (readiness was stale): cleared, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}
