//! One timer shard: a wheel, the lock around it, and the earliest deadline
//! in it as a word that others read without the lock.
//!
//! Invariants:
//! - The wheel is touched only by the holder of `lock` (a [`ShardGuard`]).
//! - `next` is at most every deadline linked in the wheel (`u64::MAX`:
//!   none), and is written only under the lock, sequentially consistent,
//!   so a lowering by an arm and a raising after a cancel or a firing never
//!   cross. It may be lower than needed (a cancelled timer's deadline, a
//!   far slot's start): whoever finds it due re-reads the wheel, which
//!   raises it.
//! - `len` is the wheel's length, written under the lock (a statistic).

use super::ShardLock;
use super::wheel::Wheel;
use crate::platform::Platform;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use core::ops::{Deref, DerefMut};

/// See the module docs.
pub(crate) struct Shard {
    lock: ShardLock,
    wheel: UnsafeCell<Wheel>,
    next: AtomicU64,
    len: AtomicUsize,
}

// SAFETY: the wheel is only reached through a guard, which exists only
// while its thread holds the lock; the rest is atomic.
unsafe impl Sync for Shard {}
// SAFETY: as above; the wheel itself is `Send`.
unsafe impl Send for Shard {}

impl Shard {
    /// An empty shard whose lock workers `0..workers` may park on.
    pub(crate) fn new(workers: usize) -> Shard {
        Shard {
            lock: ShardLock::new(workers),
            wheel: UnsafeCell::new(Wheel::new()),
            next: AtomicU64::new(u64::MAX),
            len: AtomicUsize::new(0),
        }
    }

    /// A lower bound of the deadlines in the shard, unfenced: the
    /// scheduling points' cheap check.
    #[inline]
    pub(crate) fn next_relaxed(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// A lower bound of the deadlines in the shard, sequentially
    /// consistent: for the sleeper's hand-off (`sleeper.rs`).
    #[inline]
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Timers linked in the shard.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The shard's wheel if its lock is free.
    #[inline]
    pub(crate) fn try_lock<'a, P: Platform>(
        &'a self,
        armed: &'a AtomicUsize,
        platform: &'a P,
    ) -> Option<ShardGuard<'a, P>> {
        // Not `bool::then_some`: it builds its argument either way, and a
        // guard built and dropped on a failed try would release the lock
        // of the thread that holds it.
        if self.lock.try_lock() {
            Some(ShardGuard {
                shard: self,
                armed,
                platform,
            })
        } else {
            None
        }
    }

    /// The shard's wheel, waiting for the lock if it is held: a worker of
    /// this scheduler parks on its platform parker, another thread spins
    /// (`lock.rs`).
    #[inline]
    pub(crate) fn lock<'a, P: Platform>(
        &'a self,
        armed: &'a AtomicUsize,
        platform: &'a P,
    ) -> ShardGuard<'a, P> {
        self.lock
            .lock(platform.current_worker(), |w| platform.park(w));
        ShardGuard {
            shard: self,
            armed,
            platform,
        }
    }
}

/// The wheel of a locked shard; releases the lock when dropped. Never hold
/// one across a call into user code (a waker's `wake` or `drop`): the
/// same thread could need the lock again there.
pub(crate) struct ShardGuard<'a, P: Platform> {
    shard: &'a Shard,
    /// The scheduler's count of shards holding timers (`Timers::armed`).
    armed: &'a AtomicUsize,
    platform: &'a P,
}

impl<P: Platform> ShardGuard<'_, P> {
    /// Publishes the wheel's length, and counts the shard in or out of
    /// the shards holding timers when it stops or starts being empty.
    #[inline]
    fn store_len(&self) {
        let (old, new) = (self.shard.len.load(Ordering::Relaxed), self.len());
        if old != new {
            self.shard.len.store(new, Ordering::Relaxed);
            if old == 0 {
                self.armed.fetch_add(1, Ordering::Relaxed);
            } else if new == 0 {
                self.armed.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// After linking a timer for `deadline`: if that is before `next`,
    /// lowers `next` to the wheel's earliest (for a far timer the start of
    /// its slot, so a sleeper first wakes there, cascades, and sleeps the
    /// rest: see `Wheel::next_deadline`), and returns it (the caller then
    /// checks the sleeper).
    #[inline]
    pub(crate) fn lower_next(&mut self, deadline: u64) -> Option<u64> {
        self.store_len();
        if deadline < self.shard.next.load(Ordering::Relaxed) {
            let next = self.next_deadline().unwrap_or(deadline);
            self.shard.next.store(next, Ordering::SeqCst);
            Some(next)
        } else {
            None
        }
    }

    /// After timers left the wheel or the wheel advanced: `next` from the
    /// wheel (it may rise). Returns it.
    pub(crate) fn publish(&mut self) -> u64 {
        self.store_len();
        let next = self.next_deadline().unwrap_or(u64::MAX);
        if next != self.shard.next.load(Ordering::Relaxed) {
            self.shard.next.store(next, Ordering::SeqCst);
        }
        next
    }

    /// Counts a timer that left the wheel, leaving `next` as it is (still a
    /// lower bound).
    #[inline]
    pub(crate) fn count(&mut self) {
        self.store_len();
    }
}

impl<P: Platform> Deref for ShardGuard<'_, P> {
    type Target = Wheel;
    #[inline]
    fn deref(&self) -> &Wheel {
        // SAFETY: the guard exists only while this thread holds the lock.
        self.shard.wheel.with(|p| unsafe { &*p })
    }
}

impl<P: Platform> DerefMut for ShardGuard<'_, P> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Wheel {
        // SAFETY: as above, and `&mut self` makes this the only borrow
        // through the guard.
        self.shard.wheel.with_mut(|p| unsafe { &mut *p })
    }
}

impl<P: Platform> Drop for ShardGuard<'_, P> {
    #[inline]
    fn drop(&mut self) {
        let platform = self.platform;
        self.shard.lock.unlock(|w| platform.unpark(w));
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use crate::test_host::TestHost;

    #[test]
    fn a_failed_try_leaves_the_lock_with_its_holder() {
        let (shard, host) = (Shard::new(1), TestHost::default());
        let armed = AtomicUsize::new(0);
        let held = shard.try_lock(&armed, &host).expect("free");
        // A failed try (a worker firing another's shard) must not release
        // it: a second one fails too.
        assert!(shard.try_lock(&armed, &host).is_none());
        assert!(shard.try_lock(&armed, &host).is_none());
        drop(held);
        assert!(shard.try_lock(&armed, &host).is_some());
    }
}
