//! The bound on live tasks (`Config::max_tasks`), and the waiters for room
//! (the future that waits is `runtime/spawn_when_room.rs`'s).
//!
//! Policy:
//! - A submission from outside the pool is admitted only while fewer than
//!   `max` tasks are live (submitted and not finished). `try_spawn` returns
//!   the future with `Refusal::Full`; `SpawnWhenRoom` waits for room.
//! - A submission from a task running on a worker is always admitted, even
//!   over the bound. Making it wait could deadlock (the room it waits for
//!   may only come from its own children), and refusing it would lose work
//!   that a detached spawn never checks. So the bound holds against floods
//!   from outside, and work spawned by running tasks is not throttled.
//!
//! No lost wake-up: a waiter registers its waker and sets `has_waiters`,
//! then tries again to take room; a finishing task releases room, then
//! reads `has_waiters`. With both sequentially consistent, either the
//! finisher sees the waiter, or the waiter's retry sees the room.

use crate::spin::SpinLock;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use alloc::vec::Vec;
use core::task::Waker;

/// Live-task accounting against a bound.
pub(crate) struct Room {
    max: usize,
    live: AtomicUsize,
    has_waiters: AtomicBool,
    waiters: SpinLock<Vec<Waker>>,
}

impl Room {
    pub(crate) fn new(max: usize) -> Room {
        Room {
            max,
            live: AtomicUsize::new(0),
            has_waiters: AtomicBool::new(false),
            waiters: SpinLock::new(Vec::new()),
        }
    }

    /// Takes room for one task if there is any.
    pub(crate) fn try_admit(&self) -> bool {
        let mut live = self.live.load(Ordering::SeqCst);
        loop {
            if live >= self.max {
                return false;
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => live = actual,
            }
        }
    }

    /// Takes room for one task, over the bound if need be.
    pub(crate) fn admit(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    /// A task finished (or an admission was not used): give its room back
    /// and wake the waiters.
    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        if self.has_waiters.load(Ordering::SeqCst) {
            let waiters = {
                let mut w = self.waiters.lock();
                self.has_waiters.store(false, Ordering::SeqCst);
                core::mem::take(&mut *w)
            };
            // Every waiter retries; those that find no room register again.
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Wakes every waiter (at shutdown, so they see it).
    pub(crate) fn wake_all(&self) {
        let waiters = core::mem::take(&mut *self.waiters.lock());
        for w in waiters {
            w.wake();
        }
    }

    /// Registers `waker` to be woken when room is released.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut w = self.waiters.lock();
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
        self.has_waiters.store(true, Ordering::SeqCst);
    }
}
