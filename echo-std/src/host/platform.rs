//! `StdPlatform`: the core's host services on an operating system.
//!
//! Invariant: a thread's `WORKER` entry names the platform (by address)
//! and the worker index it runs as; only that thread writes it
//! (`set_current_worker`), so `current_worker` can answer from it.

use crate::host::clock::Clock;
#[cfg(feature = "tokio")]
use crate::host::events::EventLoop;
use crate::host::park::Parker;
use echo_sched_core::{PanicPayload, Platform};
#[cfg(unix)]
use std::alloc::Layout;
use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::panic::AssertUnwindSafe;
#[cfg(unix)]
use std::ptr::NonNull;
use std::time::Instant;

/// The core scheduler on this platform: what echo-std's `Scheduler`,
/// `Handle` and the thread context hold.
pub(crate) type Core = echo_sched_core::Scheduler<StdPlatform>;

thread_local! {
    /// The platform (by address) and worker index this thread runs as.
    static WORKER: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Threads, parking, the clock, panic containment and the slab's memory
/// from `std` and the OS.
///
/// Each worker has its own parker (an atomic token before a mutex and
/// condvar); the clock is the invariant TSC where there is one, else
/// `Instant`; panics are contained with `catch_unwind`; the task slab's
/// chunks are mapped from the OS on Unix (`mmap`, given back with `munmap`
/// as soon as a chunk is free) and come from the global allocator
/// elsewhere. With the `tokio`
/// feature the sleeper parks inside the tokio reactor and busy workers poll
/// it (see the `tokio_bridge` module).
pub struct StdPlatform {
    parkers: Box<[Parker]>,
    clock: Clock,
    seed: u64,
    /// The reactor the workers drive, when the scheduler owns one.
    #[cfg(feature = "tokio")]
    events: Option<std::sync::Arc<dyn EventLoop>>,
    /// The High responder's epoll set, when there is one.
    #[cfg(all(feature = "tokio", target_os = "linux"))]
    high: Option<std::sync::Arc<crate::host::HighWatch>>,
}

impl StdPlatform {
    /// A platform for `workers` workers.
    pub fn new(workers: usize) -> StdPlatform {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(workers);
        StdPlatform {
            parkers: (0..workers).map(|_| Parker::default()).collect(),
            clock: Clock::new(),
            seed: h.finish(),
            #[cfg(feature = "tokio")]
            events: None,
            #[cfg(all(feature = "tokio", target_os = "linux"))]
            high: None,
        }
    }

    /// The same platform, with a High responder watching `watch`.
    #[cfg(all(feature = "tokio", target_os = "linux"))]
    pub(crate) fn with_high_watch(
        mut self,
        watch: std::sync::Arc<crate::host::HighWatch>,
    ) -> StdPlatform {
        self.high = Some(watch);
        self
    }

    /// The High responder's epoll set, if it has one.
    #[cfg(all(feature = "tokio", target_os = "linux"))]
    pub(crate) fn high_watch(&self) -> Option<&std::sync::Arc<crate::host::HighWatch>> {
        self.high.as_ref()
    }

    /// The same platform, whose workers drive `events` (the tokio
    /// bridge's reactor).
    #[cfg(feature = "tokio")]
    pub(crate) fn with_events(mut self, events: std::sync::Arc<dyn EventLoop>) -> StdPlatform {
        self.events = Some(events);
        self
    }

    /// The instant the platform's clock counts from.
    pub fn origin(&self) -> Instant {
        self.clock.origin()
    }

    /// The platform clock's reading at `instant`, measured from now on
    /// both clocks (the TSC and `Instant` may drift apart a little over
    /// the process's life; from now, they agree). Saturates at 0 and
    /// `u64::MAX`.
    pub(crate) fn nanos_at(&self, instant: Instant) -> u64 {
        let (now, nanos) = (Instant::now(), self.clock.now_nanos());
        if instant >= now {
            let ahead = u64::try_from((instant - now).as_nanos()).unwrap_or(u64::MAX);
            nanos.saturating_add(ahead)
        } else {
            let behind = u64::try_from((now - instant).as_nanos()).unwrap_or(u64::MAX);
            nanos.saturating_sub(behind)
        }
    }

    /// The instant of a platform clock reading, measured from now as
    /// `nanos_at` does (`None` for `u64::MAX`, or beyond `Instant`'s range).
    pub(crate) fn instant_at(&self, nanos: u64) -> Option<Instant> {
        if nanos == u64::MAX {
            return None;
        }
        let (now, now_nanos) = (Instant::now(), self.clock.now_nanos());
        match nanos.checked_sub(now_nanos) {
            Some(ahead) => now.checked_add(std::time::Duration::from_nanos(ahead)),
            None => Some(now),
        }
    }

    fn id(&self) -> usize {
        self as *const StdPlatform as usize
    }
}

// SAFETY: `current_worker` answers from a thread-local keyed by this
// platform's address, which only `set_current_worker` on the same thread
// writes.
unsafe impl Platform for StdPlatform {
    fn park(&self, worker: usize) {
        self.parkers[worker].park();
    }

    fn unpark(&self, worker: usize) {
        self.parkers[worker].unpark();
    }

    fn park_until(&self, worker: usize, deadline_nanos: u64) {
        let deadline = self.instant_at(deadline_nanos);
        #[cfg(feature = "tokio")]
        if let Some(events) = &self.events {
            if events.park_until(&self.parkers[worker], deadline) {
                return;
            }
        }
        self.parkers[worker].park_deadline(deadline);
    }

    #[cfg(feature = "tokio")]
    fn poll_events(&self, _worker: usize) {
        if let Some(events) = &self.events {
            events.poll();
        }
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.clock.now_nanos()
    }

    fn random_seed(&self) -> u64 {
        self.seed
    }

    #[inline]
    fn current_worker(&self) -> Option<usize> {
        let (id, index) = WORKER.with(Cell::get);
        (id == self.id()).then_some(index)
    }

    fn set_current_worker(&self, worker: Option<usize>) {
        let value = match worker {
            Some(index) => (self.id(), index),
            None => (0, 0),
        };
        WORKER.with(|c| c.set(value));
    }

    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        std::panic::catch_unwind(AssertUnwindSafe(f))
    }

    /// Mapped from the OS on Unix (`mmap`), so that a freed chunk goes back
    /// to it at once; see `os_memory.rs` for why not the global allocator.
    #[cfg(unix)]
    fn alloc_chunk(&self, layout: Layout) -> Option<NonNull<u8>> {
        crate::host::os_memory::map(layout)
    }

    #[cfg(unix)]
    unsafe fn free_chunk(&self, chunk: NonNull<u8>, layout: Layout) {
        // SAFETY: the core gives back only chunks that `alloc_chunk` (so
        // `map`) gave, with their layout, once unused.
        unsafe { crate::host::os_memory::unmap(chunk, layout) }
    }
}

/// Whether the calling thread is a worker of any Echo scheduler.
pub(crate) fn on_any_worker() -> bool {
    WORKER.with(Cell::get).0 != 0
}
