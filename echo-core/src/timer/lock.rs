//! The lock of one timer shard: almost never contended, and a waiter that
//! finds it held does not spin on a holder the OS may have preempted.
//!
//! A shard belongs to one worker, which arms and cancels its own timers in
//! it; other threads take its lock only to cancel a timer whose task moved
//! (or whose future was sent elsewhere) or to fire a shard whose owner is
//! parked. So the lock is free nearly every time it is taken. When it is
//! not, the holder may be a thread the OS preempted in the middle of a
//! short section (on a pool with more workers than cores that is the
//! common case), and spinning would burn the waiter's time slice waiting
//! for a thread that cannot run. So a worker that finds it held parks:
//!
//! - it sets its bit in `parked`, then marks the state word `PARKED`
//!   (only while the lock is still held), then parks on its platform
//!   parker (a token, so an unpark that comes first is kept);
//! - the holder releases with one swap of the state word; if it was
//!   marked, it takes the `parked` bits and unparks each of them.
//!
//! Both sides write, then read the other's word, all sequentially
//! consistent: either the waiter's mark lands before the release (which
//! then sees it and finds the waiter's bit, set before the mark) or the
//! waiter's mark fails on a free lock and it tries again instead of
//! parking. A waiter woken for nothing (its bit was taken by an earlier
//! release) tries again; a token left over makes some later park return
//! early, which every parker of the core tolerates.
//!
//! A thread that is not a worker of this scheduler (a `block_on` thread,
//! the blocking pool) has no parker the core can use; it spins. It only
//! meets a held lock when it cancels a timer armed on a worker, or on the
//! shard of timers armed off the pool, which other threads off the pool
//! share.
//!
//! The loom model `loom/timer_lock.rs` checks mutual exclusion and that no
//! waiter sleeps through the release it waits for.

use crate::sync::{AtomicUsize, Ordering, spin_loop};
use alloc::boxed::Box;

const FREE: usize = 0;
const LOCKED: usize = 1;
/// Held, and some worker parked waiting for it.
const PARKED: usize = 2;
const LOCKED_PARKED: usize = LOCKED | PARKED;

/// Rounds of spinning (1, 2, 4, … hints) before a worker parks: a holder
/// running on another core leaves a section of a few dozen instructions
/// in well under a microsecond. None under loom, whose spin hint yields
/// until the holder has run on (so a waiter would never reach its park).
const SPINS: u32 = if cfg!(echo_loom) { 0 } else { 6 };

/// See the module docs.
pub struct ShardLock {
    state: AtomicUsize,
    /// One bit per worker that parked waiting (`usize::BITS` per word).
    parked: Box<[AtomicUsize]>,
}

impl ShardLock {
    /// A free lock that workers `0..workers` may park on.
    pub fn new(workers: usize) -> ShardLock {
        let words = workers.div_ceil(usize::BITS as usize).max(1);
        ShardLock {
            state: AtomicUsize::new(FREE),
            parked: (0..words).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, waiting for it if needed: worker `Some(w)` parks
    /// with `park(w)` (it must block until `unpark(w)` is called in
    /// [`unlock`](ShardLock::unlock), or return early); any other caller
    /// spins.
    #[inline]
    pub fn lock(&self, waiter: Option<usize>, park: impl Fn(usize)) {
        if !self.try_lock() {
            self.lock_slow(waiter, park);
        }
    }

    #[cold]
    fn lock_slow(&self, waiter: Option<usize>, park: impl Fn(usize)) {
        for i in 0..SPINS {
            for _ in 0..1u32 << i {
                spin_loop();
            }
            if self.try_lock() {
                return;
            }
        }
        let Some(w) = waiter else {
            while !self.try_lock() {
                spin_loop();
            }
            return;
        };
        let (word, bit) = (
            &self.parked[w / usize::BITS as usize],
            1usize << (w % usize::BITS as usize),
        );
        loop {
            if self.try_lock() {
                return;
            }
            word.fetch_or(bit, Ordering::SeqCst);
            match self.state.compare_exchange(
                LOCKED,
                LOCKED_PARKED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                // Marked now, or by another waiter: the release will see it.
                Ok(_) | Err(LOCKED_PARKED) => park(w),
                // Released meanwhile (or never marked in time): try again,
                // and take the bit back so no later release wakes us for
                // nothing (if one already took it, the token is harmless).
                Err(_) => {
                    word.fetch_and(!bit, Ordering::SeqCst);
                }
            }
        }
    }

    /// Releases the lock, unparking with `unpark` every worker that parked
    /// waiting for it.
    #[inline]
    pub fn unlock(&self, unpark: impl Fn(usize)) {
        let was = self.state.swap(FREE, Ordering::SeqCst);
        if was & PARKED != 0 {
            self.wake_parked(unpark);
        }
    }

    #[cold]
    fn wake_parked(&self, unpark: impl Fn(usize)) {
        for (i, word) in self.parked.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::SeqCst);
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                unpark(i * usize::BITS as usize + b);
            }
        }
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn a_parked_waiter_is_unparked_by_the_release() {
        let lock = ShardLock::new(70);
        assert!(lock.try_lock());
        assert!(!lock.try_lock());
        // Worker 66 waits: its park finds the lock held and marked; the
        // stand-in "park" releases it as the holder would, which unparks
        // worker 66.
        let unparked = Cell::new(None);
        let parks = Cell::new(0);
        lock.lock(Some(66), |w| {
            assert_eq!(w, 66);
            parks.set(parks.get() + 1);
            assert_eq!(lock.state.load(Ordering::SeqCst), LOCKED_PARKED);
            lock.unlock(|u| unparked.set(Some(u)));
        });
        assert_eq!(parks.get(), 1);
        assert_eq!(unparked.get(), Some(66));
        assert!(!lock.try_lock(), "the waiter holds it now");
        lock.unlock(|_| panic!("nobody waits"));
        assert!(lock.try_lock());
        lock.unlock(|_| panic!("nobody waits"));
    }
}
