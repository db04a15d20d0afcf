//! Echo's timers: deadlines kept by the core, on the platform's clock.
//!
//! - Deadlines live in one hierarchical wheel per scheduler (`wheel.rs`)
//!   behind a spin lock; each timer's link lives in its future ([`Sleep`]),
//!   so arming and cancelling allocate nothing and cost O(1).
//! - `next` holds the earliest deadline in nanoseconds (`u64::MAX`: none),
//!   written under the wheel's lock. Every scheduling point loads it
//!   (relaxed) and reads the clock only when a timer is armed; expired
//!   timers are fired there, by a busy worker, so their tasks wake on a
//!   worker thread and take the local path.
//! - A worker about to park with no work becomes *the sleeper* if none is
//!   (`sleeper.rs`) and parks until the earliest deadline
//!   ([`Platform::park_until`](crate::Platform::park_until)); arming an
//!   earlier timer wakes it to re-arm.
//! - Firing takes the wakers out under the lock and wakes them after it,
//!   in batches, so no waker runs under the lock.

mod sleep;
mod sleeper;
mod wheel;

pub use sleep::Sleep;
pub use sleeper::Sleeper;

use crate::platform::Platform;
use crate::spin::SpinLock;
use crate::sync::{AtomicU64, Ordering};
use crate::{Scheduler, scheduler::Shared};
use core::task::Waker;
use wheel::Wheel;

/// Wakers taken per lock hold while firing.
const FIRE_BATCH: usize = 32;

/// The units of cooperative budget a task gets per poll.
pub(crate) const BUDGET: u32 = 128;

/// The timers of one scheduler.
pub(crate) struct Timers {
    wheel: SpinLock<Wheel>,
    /// The earliest deadline, in platform nanoseconds (`u64::MAX`: none).
    next: AtomicU64,
    pub(crate) sleeper: Sleeper,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            wheel: SpinLock::new(Wheel::new()),
            next: AtomicU64::new(u64::MAX),
            sleeper: Sleeper::new(),
        }
    }

    /// The earliest deadline, unfenced: the scheduling points' cheap check.
    #[inline]
    pub(crate) fn next_deadline(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// The word the sleeper arms against.
    pub(crate) fn next_word(&self) -> &AtomicU64 {
        &self.next
    }

    /// Stores the wheel's earliest deadline in `next`; returns it.
    fn publish(&self, wheel: &Wheel) -> u64 {
        let next = wheel.next_tick().map_or(u64::MAX, wheel::nanos_of);
        self.next.store(next, Ordering::SeqCst);
        next
    }

    /// Live timers (linked in the wheel).
    pub(crate) fn len(&self) -> usize {
        self.wheel.lock().len()
    }

    /// Fires every timer due at `now_nanos`. Returns how many fired.
    pub(crate) fn fire(&self, now_nanos: u64) -> usize {
        let now_tick = now_nanos >> wheel::TICK_SHIFT;
        let mut fired = 0;
        loop {
            let mut batch: [Option<Waker>; FIRE_BATCH] = Default::default();
            let mut n = 0;
            {
                let mut wheel = self.wheel.lock();
                while n < FIRE_BATCH {
                    // SAFETY: the lock is held; linked entries are alive.
                    let Some(entry) = (unsafe { wheel.pop_expired(now_tick) }) else {
                        break;
                    };
                    // SAFETY: as above; the entry is still alive until its
                    // future takes the lock again.
                    batch[n] = unsafe { wheel.take_waker(entry) };
                    n += 1;
                }
                self.publish(&wheel);
            }
            fired += n;
            for waker in batch.iter_mut().take(n) {
                if let Some(w) = waker.take() {
                    w.wake();
                }
            }
            if n < FIRE_BATCH {
                return fired;
            }
        }
    }
}

impl<P: Platform> Shared<P> {
    /// Wakes the sleeper if `deadline` (just published as the earliest) is
    /// before what it sleeps until.
    pub(crate) fn timer_armed(&self, deadline: u64) {
        if let Some(w) = self.timers.sleeper.to_wake(deadline) {
            self.platform.unpark(w);
        }
    }

    /// Whether the task being polled on this thread has budget left.
    /// Threads that are not polling a task of this scheduler have no
    /// budget to spend.
    pub(crate) fn budget_left(&self) -> bool {
        match self.current_worker() {
            Some(w) if self.workers[w].current().is_some() => self.workers[w].budget() > 0,
            _ => true,
        }
    }

    /// Spends one unit of the polled task's budget; false if none was left.
    pub(crate) fn spend_budget(&self) -> bool {
        match self.current_worker() {
            Some(w) if self.workers[w].current().is_some() => self.workers[w].spend_budget(),
            _ => true,
        }
    }
}

impl<P: Platform> Scheduler<P> {
    /// A timer that completes once the platform clock reaches
    /// `deadline_nanos` (never before), as a future. Arming it (its first
    /// poll) and dropping it cost O(1) and allocate nothing.
    ///
    /// ```
    /// use echo_core::{Config, Priority, Scheduler};
    /// # use echo_core::{PanicPayload, Platform};
    /// # use core::cell::Cell;
    /// # struct Host { worker: Cell<Option<usize>>, now: Cell<u64> }
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { self.now.get() }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.worker.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.worker.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// // A host whose clock is a counter it advances itself.
    /// let host = Host { worker: Cell::new(None), now: Cell::new(0) };
    /// let scheduler = Scheduler::new(host, Config::new(1)).unwrap();
    /// let timer = scheduler.sleep_until(5_000);
    /// let task = scheduler.spawn(async move { timer.await; "rang" }, Priority::Normal);
    /// scheduler.run_until_idle(0);
    /// assert_eq!(scheduler.next_timer_deadline(), Some(5_120)); // rounded up to a tick
    /// scheduler.platform().now.set(6_000);
    /// scheduler.run_until_idle(0); // fires the timer, then runs the task
    /// assert_eq!(scheduler.next_timer_deadline(), None);
    /// # let _ = task;
    /// # scheduler.shutdown();
    /// ```
    pub fn sleep_until(&self, deadline_nanos: u64) -> Sleep<P> {
        Sleep::new(self.clone(), deadline_nanos)
    }

    /// The earliest armed timer's deadline on the platform clock, if any:
    /// for a host that calls [`run_until_idle`](Scheduler::run_until_idle)
    /// from its own loop, when to call it again. It may be up to a wheel
    /// tick (about 1 µs) before the deadline itself, never after.
    pub fn next_timer_deadline(&self) -> Option<u64> {
        let next = self.shared.timers.next.load(Ordering::SeqCst);
        (next != u64::MAX).then_some(next)
    }

    /// Timers armed and not yet fired or dropped.
    pub fn armed_timers(&self) -> usize {
        self.shared.timers.len()
    }

    /// Spends one unit of the cooperative budget of the task polled on the
    /// calling thread (each poll of a task starts with 128). Returns false
    /// when the budget is spent: the task should yield (wake itself and
    /// return `Pending`) so other tasks get the worker. Always true on a
    /// thread that is not polling a task of this scheduler.
    pub fn consume_budget(&self) -> bool {
        self.shared.spend_budget()
    }
}
