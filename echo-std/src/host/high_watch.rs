//! The High responder's epoll set (Linux, feature `tokio`): the sockets
//! of High tasks that the responder thread sleeps on, and an eventfd that
//! stops it. The platform holds it, so that code holding only the core
//! (`tokio_bridge::watch_high`, shutdown) reaches it; see
//! `tokio_bridge/high_responder.rs` for the responder itself.
//!
//! Invariants:
//! - Sockets are watched edge-triggered: one wake per arrival, and an
//!   arrival while the responder is busy stays pending until its next
//!   wait, so edges are not lost.
//! - Once `stop` has been called, `wait` returns false.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

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
        let r =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
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
    pub(crate) fn wait(&self) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            // SAFETY: `events` has room for the 16 events asked for.
            let n =
                unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 16, -1) };
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
