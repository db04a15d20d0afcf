//! The sleeper: the one parked worker that waits with a deadline (for the
//! earliest timer, and on `std` inside the I/O reactor), and the hand-off
//! between it and whoever arms an earlier timer.
//!
//! Protocol (no lost wake-up):
//! - A worker about to park takes the role with a CAS, or parks plainly if
//!   another holds it. While the role is vacant some worker is awake (the
//!   last holder releases it only when it wakes), and an awake worker
//!   fires timers at its scheduling points.
//! - The sleeper *arms*: it stores the deadline it will sleep until, fences,
//!   and re-reads the earliest deadline (the least of every shard's); if
//!   that moved earlier it arms again with it.
//! - A timer that makes its shard's earliest deadline earlier stores it
//!   (under the shard's lock), fences, and reads the sleeper's deadline:
//!   if it is later, the sleeper is unparked (a token, so an unpark that
//!   comes before the park is kept).
//!
//! Both sides store, fence, then load, so either the sleeper sees the new
//! deadline or the timer sees the sleeper's deadline and wakes it. The
//! loom models `loom/sleeper.rs` check it with two shards.

use crate::sync::{AtomicU64, AtomicUsize, Ordering, fence};

const VACANT: usize = usize::MAX;

/// Who sleeps with a deadline, and until when.
pub struct Sleeper {
    worker: AtomicUsize,
    /// What the sleeper armed for (`0` while vacant: nothing to wake).
    deadline: AtomicU64,
}

impl Default for Sleeper {
    fn default() -> Self {
        Sleeper::new()
    }
}

impl Sleeper {
    /// A vacant role.
    pub fn new() -> Sleeper {
        Sleeper {
            worker: AtomicUsize::new(VACANT),
            deadline: AtomicU64::new(0),
        }
    }

    /// Worker `w` takes the role if it is vacant.
    pub fn try_take(&self, w: usize) -> bool {
        self.worker
            .compare_exchange(VACANT, w, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The holder publishes the deadline it will sleep until: the earliest
    /// that `earliest` reads (sequentially consistent loads of every
    /// shard's word), re-read after publishing until it is stable.
    pub fn arm(&self, earliest: impl Fn() -> u64) -> u64 {
        let mut deadline = earliest();
        loop {
            self.deadline.store(deadline, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let again = earliest();
            if again >= deadline {
                return deadline;
            }
            deadline = again;
        }
    }

    /// The holder gives the role up (it is awake now). The fence orders
    /// the release before what the caller reads next: a worker that found
    /// the role taken and parked plainly had published its shard's
    /// deadline (and fenced) first, so the caller's reads of the shards
    /// see it (the loom model `sleeper::cover_on_release`).
    pub fn release(&self) {
        self.deadline.store(0, Ordering::SeqCst);
        self.worker.store(VACANT, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The worker holding the role, if any.
    pub fn holder(&self) -> Option<usize> {
        let w = self.worker.load(Ordering::SeqCst);
        (w != VACANT).then_some(w)
    }

    /// After storing an earlier `deadline` in a shard's earliest-deadline
    /// word: the sleeper to unpark, if it sleeps until later.
    #[cfg(feature = "timers")]
    pub fn to_wake(&self, deadline: u64) -> Option<usize> {
        fence(Ordering::SeqCst);
        if self.deadline.load(Ordering::SeqCst) > deadline {
            self.holder()
        } else {
            None
        }
    }
}

#[cfg(all(test, not(echo_loom), feature = "timers"))]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_an_earlier_deadline_wakes_it() {
        let s = Sleeper::new();
        let next = AtomicU64::new(u64::MAX);
        let earliest = || next.load(Ordering::SeqCst);
        assert!(s.try_take(1));
        assert!(!s.try_take(0));
        assert_eq!(s.arm(earliest), u64::MAX);
        next.store(500, Ordering::SeqCst);
        assert_eq!(s.to_wake(500), Some(1));
        assert_eq!(s.arm(earliest), 500);
        assert_eq!(s.to_wake(600), None, "sleeps until 500 already");
        s.release();
        assert_eq!(s.to_wake(1), None, "vacant");
        assert!(s.try_take(0));
    }
}
