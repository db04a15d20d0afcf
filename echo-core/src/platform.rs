//! What the core asks of its host.
//!
//! The core never starts threads, reads a clock or blocks on its own: it
//! asks its [`Platform`]. `echo-std` implements this with OS threads; an
//! embedded host implements it with its own loop, interrupt flags and
//! timer. Timers are kept by the core, in the platform's nanoseconds; the
//! host only parks until a deadline (`park_until`), and a host that runs
//! `run_until_idle` asks `Scheduler::next_timer_deadline` when to call
//! again.

use alloc::alloc::Layout;
use alloc::boxed::Box;
use core::any::Any;
use core::ptr::NonNull;

/// The payload of a caught panic, as `std::panic::catch_unwind` returns it.
pub type PanicPayload = Box<dyn Any + Send + 'static>;

/// The services a host provides to the scheduler.
///
/// Worker threads (or the single host loop) are started by the host, which
/// calls [`Scheduler::run_worker`](crate::Scheduler::run_worker) or
/// [`Scheduler::run_until_idle`](crate::Scheduler::run_until_idle) on them.
/// Besides this trait, the core needs a global allocator (`alloc`), and on
/// targets without compare-and-swap (Cortex-M0/M0+) the
/// `critical-section` feature with a `critical-section` implementation.
///
/// # Interrupt handlers
///
/// An interrupt handler (or a POSIX signal handler, or any context that
/// can interrupt a worker on its core) may have interrupted anything:
/// a worker in the middle of a queue operation, the allocator, a lock
/// holder. What it calls must never allocate, take a lock, or wait for
/// the code it interrupted. Before shutdown has finished, these meet that
/// rule and may run in a handler:
///
/// - waking an Echo task: `wake`, `wake_by_ref`, `clone` and `drop` of its
///   `Waker`. The task goes into the scheduler's inbox (one
///   compare-and-swap through a link in the task itself, unbounded, never
///   full), a worker is woken through the idle protocol (atomic words)
///   and [`unpark`](Platform::unpark), and a task whose last reference
///   goes there is freed lock-free, or left in the inbox for a worker to
///   free if that would take a lock (a large task);
/// - [`JoinHandle::abort`](crate::JoinHandle::abort),
///   [`JoinHandle::set_priority`](crate::JoinHandle::set_priority) and
///   [`JoinHandle::is_finished`](crate::JoinHandle::is_finished), which
///   queue through the same path.
///
/// Not in a handler: spawning (it allocates the task and may allocate a
/// queue block, and takes an allocation shard's lock), dropping a
/// `JoinHandle` or reading its output (that drops user data), `Sleep`,
/// `shutdown`, `metrics`, and waking after shutdown has finished (a wake
/// then frees what it finds at once).
///
/// Of this trait, two methods run on that path and must themselves be
/// interrupt-safe: [`unpark`](Platform::unpark) (e.g. set a flag and
/// signal the core with `SEV` or a software interrupt), and
/// [`current_worker`](Platform::current_worker), which must answer `None`
/// inside a handler even on a worker's core (e.g. read IPSR on Cortex-M):
/// the core gives the current worker owner-only access to its rings, and
/// a handler taken for that worker would corrupt a ring the worker is in
/// the middle of changing.
///
/// # Safety
///
/// The scheduler trusts [`current_worker`](Platform::current_worker) to
/// answer for the calling thread only: it must return `Some(i)` exactly
/// when the most recent [`set_current_worker`](Platform::set_current_worker)
/// call *on the calling thread* (for this platform value) passed `Some(i)`,
/// and never inside an interrupt handler.
/// The core gives worker `i` owner-only access to its queues and allocator
/// on that answer, so a platform that answers for the wrong thread causes
/// data races. A host with a single thread can keep the value in a plain
/// cell.
///
/// ```
/// use core::cell::Cell;
/// use echo_sched_core::{PanicPayload, Platform};
///
/// /// A single-threaded host: nothing blocks and the clock is a counter.
/// struct Host { worker: Cell<Option<usize>>, ticks: Cell<u64> }
/// // SAFETY (example): the host never shares this value between threads.
/// unsafe impl Send for Host {}
/// unsafe impl Sync for Host {}
///
/// // SAFETY: there is only one thread, so the cell is that thread's.
/// unsafe impl Platform for Host {
///     fn park(&self, _worker: usize) {}
///     fn unpark(&self, _worker: usize) {}
///     fn now_nanos(&self) -> u64 { self.ticks.replace(self.ticks.get() + 1) }
///     fn random_seed(&self) -> u64 { 0x9e37_79b9_7f4a_7c15 }
///     fn current_worker(&self) -> Option<usize> { self.worker.get() }
///     fn set_current_worker(&self, worker: Option<usize>) { self.worker.set(worker) }
///     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
/// }
/// ```
pub unsafe trait Platform: Send + Sync + Sized + 'static {
    /// Blocks the calling worker `worker` until [`unpark`](Platform::unpark)
    /// is called for it. A wake-up that arrived before `park` must make it
    /// return at once (a token, as with `std::thread::park`). Returning
    /// early for no reason is allowed: the scheduler re-checks.
    fn park(&self, worker: usize);

    /// Wakes worker `worker` from [`park`](Platform::park), or makes its
    /// next `park` return at once.
    ///
    /// Must be interrupt-safe (see "Interrupt handlers" above): a wake from
    /// an interrupt handler calls it.
    fn unpark(&self, worker: usize);

    /// Like [`park`](Platform::park), but returns by `deadline_nanos` on the
    /// [`now_nanos`](Platform::now_nanos) clock at the latest (`u64::MAX`:
    /// no deadline). [`unpark`](Platform::unpark) must interrupt it, and a
    /// token left before the call makes it return at once.
    ///
    /// The core calls it on one parked worker at a time, *the sleeper*,
    /// when timers are armed (and always, so a host can wait for its own
    /// events there: `echo-std` sleeps in the I/O reactor). The default
    /// ignores the deadline and parks: a host that keeps it fires timers
    /// only when something else wakes a worker.
    fn park_until(&self, worker: usize, deadline_nanos: u64) {
        let _ = deadline_nanos;
        self.park(worker);
    }

    /// Polls the host's event source without blocking, on a busy worker,
    /// about every [`Config::event_poll_interval`](crate::Config::event_poll_interval).
    /// Wakers it runs see the calling thread as worker `worker`, so the
    /// tasks they wake take the local path. The default does nothing.
    fn poll_events(&self, worker: usize) {
        let _ = worker;
    }

    /// A monotonic clock in nanoseconds from an arbitrary origin.
    fn now_nanos(&self) -> u64;

    /// A seed for the workers' random victim choice. Need not be secure.
    fn random_seed(&self) -> u64;

    /// The worker the calling thread is running as, if any. See the trait's
    /// safety section. Inside an interrupt handler it must be `None`, and
    /// reading it there must be interrupt-safe (see "Interrupt handlers").
    fn current_worker(&self) -> Option<usize>;

    /// Records the worker the calling thread runs as. The core calls this
    /// when a thread enters and leaves the worker loop.
    fn set_current_worker(&self, worker: Option<usize>);

    /// Runs `f`, containing a panic where the host can (std:
    /// `catch_unwind`). Hosts that abort on panic simply return `Ok(f())`.
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload>;

    /// Memory for one chunk of the task slab: `layout.size()` bytes (never
    /// zero), aligned to `layout.align()`, which is the chunk's size (a
    /// task finds its slab page by masking its own address), or `None` if
    /// the host has none to give. A `None` refuses the submission that
    /// needed it, with [`Refusal::NoMemory`](crate::Refusal::NoMemory),
    /// and the scheduler goes on; the next submission asks again.
    ///
    /// The scheduler asks for a chunk when its slab has no free page, and
    /// gives it back with [`free_chunk`](Platform::free_chunk) as soon as
    /// every page of it is free. The default takes it from the global
    /// allocator (`alloc::alloc::alloc`). `echo-std` maps chunks from the
    /// operating system instead, so that a freed chunk goes back to it at
    /// once rather than staying among the allocator's heaps.
    ///
    /// It is called on whichever thread submits the task (a worker, or any
    /// thread outside the pool), holding no lock of the scheduler's; never
    /// in an interrupt handler (spawning is not allowed there), and neither
    /// is `free_chunk` (a chunk goes back when a worker trims, or at the
    /// last free after shutdown).
    fn alloc_chunk(&self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the scheduler never asks for a zero-sized chunk.
        NonNull::new(unsafe { alloc::alloc::alloc(layout) })
    }

    /// Takes back a chunk from [`alloc_chunk`](Platform::alloc_chunk).
    /// The default gives it to the global allocator.
    ///
    /// # Safety
    ///
    /// `chunk` came from `alloc_chunk(layout)` on this platform value, with
    /// this `layout`, and nothing uses its memory any more.
    unsafe fn free_chunk(&self, chunk: NonNull<u8>, layout: Layout) {
        // SAFETY: per the contract, `chunk` came from the default
        // `alloc_chunk`, the global allocator, with this layout.
        unsafe { alloc::alloc::dealloc(chunk.as_ptr(), layout) }
    }
}
