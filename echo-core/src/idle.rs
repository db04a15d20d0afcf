//! The idle protocol: which workers are parked, which are searching, and
//! whom a new submission wakes.
//!
//! `state` packs two counts: workers *unparked* (not in the sleeper list)
//! and workers *searching* (awake, with no work of their own, stealing).
//!
//! Rules:
//! - A submission wakes at most one worker, and none while any worker is
//!   searching (that searcher will find the work, or hand off to another
//!   when it finds some) or while every worker is awake.
//! - The sleeper list is a bitmap of atomic words, one bit per worker, so
//!   that waking a worker takes no lock: a wake may come from an interrupt
//!   handler that interrupted a worker on its way to park, and must never
//!   wait for it.
//! - A worker sets its sleeper bit before it decrements `unparked` (both
//!   SeqCst), so a notifier that saw the decrement finds a bit set. The
//!   bit it takes may be another parker's that has not decremented yet:
//!   that parker then finds its bit gone, is counted awake and searching
//!   by the notifier's increment, and its own decrement leaves the count
//!   matching the workers whose bits are set once both have run.
//! - Every worker that parks re-checks every queue afterwards and wakes a
//!   worker if it finds work (no lost wake-up): a submitter pushes, then
//!   fences and reads `state`; the parker writes `state`, then fences and
//!   reads the queues. Either the submitter sees the parker still awake (or
//!   a searcher, and relies on it), or the parker sees the work.
//! - Not only the last searcher re-checks. A worker refused the searcher
//!   role relies on the searcher that a notifier just counted; but that
//!   searcher's hand-off (`transition_from_searching`, then a notify) may
//!   run before this worker leaves the awake count, find every worker
//!   awake, and wake no one; the work it left would then wait for a busy
//!   worker. (Found by the loom model `second_item_while_first_blocks`.)
//!   The re-check is a few loads before a park, which costs a system call.
//! - At most half the workers search at once, so a burst of steals does not
//!   become a herd.

use crate::sync::{AtomicUsize, Ordering, fence};
use alloc::boxed::Box;

const UNPARKED_SHIFT: u32 = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

/// Bits per word of the sleeper bitmap.
const BITS: usize = usize::BITS as usize;

/// The shared idle state of one scheduler.
pub struct Idle {
    state: AtomicUsize,
    /// Bit `w % BITS` of word `w / BITS` is set while worker `w` is parked
    /// and no notifier has picked it.
    sleepers: Box<[AtomicUsize]>,
    num_workers: usize,
}

impl Idle {
    /// All `num_workers` workers start unparked and not searching.
    pub fn new(num_workers: usize) -> Idle {
        debug_assert!(num_workers < SEARCHING_MASK);
        Idle {
            state: AtomicUsize::new(num_workers << UNPARKED_SHIFT),
            sleepers: (0..num_workers.div_ceil(BITS))
                .map(|_| AtomicUsize::new(0))
                .collect(),
            num_workers,
        }
    }

    /// Called after new work was pushed: the worker to unpark, if any.
    /// The caller must unpark it.
    #[inline]
    pub fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let worker = self.take_sleeper();
        if worker.is_none() {
            // A sleeper left the list on its own (`unpark_self`) between
            // our count update and the lock: undo the count; that worker is
            // awake and will look at the queues.
            self.state
                .fetch_sub((1 << UNPARKED_SHIFT) | 1, Ordering::SeqCst);
        }
        worker
    }

    /// Clears one set sleeper bit and returns its worker, if any is set.
    fn take_sleeper(&self) -> Option<usize> {
        for (i, word) in self.sleepers.iter().enumerate() {
            let mut bits = word.load(Ordering::SeqCst);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                match word.compare_exchange(
                    bits,
                    bits & !(1 << bit),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => return Some(i * BITS + bit),
                    Err(actual) => bits = actual,
                }
            }
        }
        None
    }

    /// Worker `worker`'s word in the bitmap, and its bit there.
    fn sleeper_bit(&self, worker: usize) -> (&AtomicUsize, usize) {
        (&self.sleepers[worker / BITS], 1 << (worker % BITS))
    }

    /// A cheap, unfenced guess at whether `worker_to_notify` could wake
    /// anyone. Only for pushes whose entry the pusher will run itself if
    /// nobody else does (a worker's own ring), where a stale answer costs
    /// parallelism, never a lost task.
    #[inline]
    pub fn may_wake(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        searching(s) == 0 && unparked(s) < self.num_workers
    }

    /// Claims the right to wake one worker (as a searcher), if the rules
    /// allow it.
    #[inline]
    fn should_wake(&self) -> bool {
        // Orders the caller's queue push before the state read (see the
        // module docs).
        fence(Ordering::SeqCst);
        let mut s = self.state.load(Ordering::SeqCst);
        loop {
            if searching(s) != 0 || unparked(s) >= self.num_workers {
                return false;
            }
            let next = s + (1 << UNPARKED_SHIFT) + 1;
            match self
                .state
                .compare_exchange(s, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// A worker with no work wants to steal. False if enough workers are
    /// searching already (it should park instead).
    pub fn transition_to_searching(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if 2 * searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searching worker found work. True if it was the last searcher (it
    /// should then wake another worker, in case there is more work).
    pub fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// A worker parks: it joins the sleeper list and leaves the awake (and,
    /// if `is_searching`, the searching) count. The caller must then
    /// re-check every queue and notify if it finds work (see the module
    /// docs); this fences before returning, so those reads come after.
    pub fn transition_to_parked(&self, worker: usize, is_searching: bool) {
        let dec = (1 << UNPARKED_SHIFT) | usize::from(is_searching);
        let (word, bit) = self.sleeper_bit(worker);
        // The bit first: a notifier that sees the decrement finds a bit.
        word.fetch_or(bit, Ordering::SeqCst);
        self.state.fetch_sub(dec, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Whether `worker` is still in the sleeper list (nobody woke it).
    pub fn is_parked(&self, worker: usize) -> bool {
        let (word, bit) = self.sleeper_bit(worker);
        word.load(Ordering::SeqCst) & bit != 0
    }

    /// A parked worker wakes itself (a host loop resuming `run_until_idle`).
    /// True if it was in the list; it is then counted as unparked.
    pub fn unpark_self(&self, worker: usize) -> bool {
        let (word, bit) = self.sleeper_bit(worker);
        if word.fetch_and(!bit, Ordering::SeqCst) & bit != 0 {
            self.state.fetch_add(1 << UNPARKED_SHIFT, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    /// Workers currently searching.
    pub fn num_searching(&self) -> usize {
        searching(self.state.load(Ordering::Relaxed))
    }

    /// Workers currently parked (in the sleeper list).
    pub fn num_parked(&self) -> usize {
        self.sleepers
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn wakes_one_worker_and_none_while_it_searches() {
        let idle = Idle::new(4);
        assert_eq!(idle.worker_to_notify(), None, "all awake");
        idle.transition_to_parked(3, false);
        idle.transition_to_parked(2, false);
        assert_eq!(idle.num_parked(), 2);
        let first = idle.worker_to_notify().expect("a parked worker");
        assert!(first == 2 || first == 3);
        let other = 5 - first;
        assert_eq!(idle.num_searching(), 1);
        assert_eq!(idle.worker_to_notify(), None, "one is already searching");
        assert!(!idle.is_parked(first) && idle.is_parked(other));
        assert!(idle.transition_from_searching(), "it was the last searcher");
        assert_eq!(idle.worker_to_notify(), Some(other));
    }

    #[test]
    fn at_most_half_search_and_parking_searchers_leave_the_count() {
        let idle = Idle::new(4);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(!idle.transition_to_searching(), "half are searching");
        idle.transition_to_parked(0, true);
        assert_eq!(idle.num_searching(), 1);
        assert!(idle.transition_from_searching(), "the last searcher");
        assert_eq!(idle.num_searching(), 0);
    }

    #[test]
    fn the_bitmap_spans_several_words() {
        let n = 2 * BITS + 3;
        let idle = Idle::new(n);
        for w in [0, BITS - 1, BITS, n - 1] {
            idle.transition_to_parked(w, false);
        }
        assert_eq!(idle.num_parked(), 4);
        assert!(idle.unpark_self(BITS));
        let mut woken = Vec::new();
        while let Some(w) = idle.worker_to_notify() {
            woken.push(w);
            idle.transition_from_searching();
        }
        woken.sort_unstable();
        assert_eq!(woken, [0, BITS - 1, n - 1]);
        assert_eq!(idle.num_parked(), 0);
    }

    #[test]
    fn a_self_unpark_is_undone_by_no_one() {
        let idle = Idle::new(2);
        idle.transition_to_parked(1, false);
        assert!(idle.unpark_self(1));
        assert!(!idle.unpark_self(1));
        assert_eq!(idle.worker_to_notify(), None, "everyone awake again");
    }
}
