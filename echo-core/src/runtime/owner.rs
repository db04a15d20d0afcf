//! The owner proof: a value that only the thread running worker `w` can
//! hold, and the owner-only state that only it opens.
//!
//! A worker's private state (`Local`: its counters of turns, its random
//! generator, its search and sleep flags), its slab heap, the task it
//! polls and that task's budget live in an [`Owned`], whose fields are
//! private to this file: the only ways in are an [`Owner`]'s methods, and
//! [`Owned::heap_when_stopped`] for shutdown, which runs when no thread
//! runs the worker and makes no `Owner`. The owner end of the worker's
//! rings is opened through the `Owner` too.
//!
//! An `Owner` is made where a thread becomes worker `w` (the worker loop,
//! the High responder), or found again by re-entrant entry points (a
//! spawn, a wake, a budget check from inside a poll) through
//! `Shared::current_owner`, which trusts the platform's `current_worker`
//! (an `unsafe trait` obligation). It is neither `Send` nor `Sync`, so it
//! cannot leave its thread.
//!
//! `&mut Owner` hands out the `Local` and the `Heap` as guards, so within
//! one holder the borrow checker keeps those borrows apart. Across
//! holders on the same thread (the loop's, and a re-entrant one made
//! during a poll) one rule remains: a borrow of `Local` or `Heap` never
//! spans a call into user code (a poll, a waker, a drop of task data),
//! which is where a re-entrant holder could appear. Debug builds check
//! it: each guard marks its cell borrowed while it lives, and a second
//! guard of the same cell panics instead of aliasing.

use crate::Priority;
use crate::deque::{Deque, OwnerRing};
use crate::metrics::Counters;
use crate::runtime::local::Local;
use crate::slab::Heap;
use crate::sync::UnsafeCell;
use crate::task::TaskId;
use crate::task::raw::{Entry, RawTask};
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

/// A worker's rings, one per tier below High.
pub(crate) type Rings = [Deque<Entry>; Priority::COUNT - 1];

/// A worker's owner-only state (see the module docs).
pub(crate) struct Owned {
    local: UnsafeCell<Local>,
    heap: UnsafeCell<Heap>,
    current: UnsafeCell<Option<RawTask>>,
    /// The task being polled woke itself (see `State::after_poll_woken`).
    self_woken: UnsafeCell<bool>,
    /// The cooperative budget left to the task being polled.
    budget: UnsafeCell<u32>,
    /// Debug builds: a guard of `local` / `heap` is alive.
    #[cfg(debug_assertions)]
    borrowed: [core::cell::Cell<bool>; 2],
}

// SAFETY: every cell is touched only by the thread holding the owner
// proof, or by shutdown once no thread runs the worker (module docs).
unsafe impl Sync for Owned {}
// SAFETY: as above; the heap and the task pointer are `Send`.
unsafe impl Send for Owned {}

impl Owned {
    pub(crate) fn new(local: Local, heap: Heap) -> Owned {
        Owned {
            local: UnsafeCell::new(local),
            heap: UnsafeCell::new(heap),
            current: UnsafeCell::new(None),
            self_woken: UnsafeCell::new(false),
            budget: UnsafeCell::new(0),
            #[cfg(debug_assertions)]
            borrowed: Default::default(),
        }
    }

    /// The heap, for shutdown's walk and detach.
    ///
    /// # Safety
    ///
    /// No thread runs this worker, none will again (the scheduler is
    /// finishing with no worker active), and no other borrow of the heap
    /// is live.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn heap_when_stopped(&self) -> &mut Heap {
        // SAFETY: per the contract, this thread is the only one near it.
        self.heap.with_mut(|p| unsafe { &mut *p })
    }
}

/// A borrow of one owner-only cell (`Local` or `Heap`). In debug builds it
/// marks the cell borrowed while it lives, so a second, aliasing borrow
/// through a re-entrant `Owner` panics; in release builds it is the
/// `&mut` alone.
pub(crate) struct OwnedMut<'a, T> {
    value: &'a mut T,
    #[cfg(debug_assertions)]
    borrowed: &'a core::cell::Cell<bool>,
}

impl<'a, T> OwnedMut<'a, T> {
    /// # Safety
    ///
    /// The caller holds the owner proof and no other borrow of `cell`
    /// made through the same holder is live.
    #[inline]
    unsafe fn new(
        cell: &'a UnsafeCell<T>,
        #[cfg(debug_assertions)] borrowed: &'a core::cell::Cell<bool>,
    ) -> OwnedMut<'a, T> {
        #[cfg(debug_assertions)]
        {
            assert!(
                !borrowed.replace(true),
                "echo: a worker's private state borrowed twice (a re-entrant Owner while a \
                 borrow spanned user code)"
            );
        }
        OwnedMut {
            // SAFETY: per the contract; debug builds check across holders.
            value: cell.with_mut(|p| unsafe { &mut *p }),
            #[cfg(debug_assertions)]
            borrowed,
        }
    }
}

impl<T> Deref for OwnedMut<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> DerefMut for OwnedMut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

// In every build, so that borrows end at the same place in debug and
// release builds (a `Drop` type's borrow lasts to the end of its scope).
impl<T> Drop for OwnedMut<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        self.borrowed.set(false);
    }
}

/// Proof that the calling thread runs worker `index` (see the module docs).
pub(crate) struct Owner<'a> {
    owned: &'a Owned,
    rings: &'a Rings,
    counters: &'a Counters,
    index: usize,
    /// Not `Send`, not `Sync`: the proof stays on its thread.
    _this_thread: PhantomData<*const ()>,
}

impl<'a> Owner<'a> {
    /// # Safety
    ///
    /// The calling thread runs as worker `index`, whose state is `owned`,
    /// whose rings are `rings` and whose counters are `counters`, for as
    /// long as the proof lives: no other thread touches that worker's
    /// owner-only state meanwhile.
    #[inline]
    pub(crate) unsafe fn new(
        owned: &'a Owned,
        rings: &'a Rings,
        counters: &'a Counters,
        index: usize,
    ) -> Owner<'a> {
        Owner {
            owned,
            rings,
            counters,
            index,
            _this_thread: PhantomData,
        }
    }

    /// The worker's index.
    #[inline]
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker's private state.
    #[inline]
    pub(crate) fn local(&mut self) -> OwnedMut<'_, Local> {
        // SAFETY: this thread is the owner (the proof), and `&mut self`
        // excludes another borrow through this holder; other holders on
        // this thread exist only inside user code, which no borrow spans
        // (module docs; checked in debug builds).
        unsafe {
            OwnedMut::new(
                &self.owned.local,
                #[cfg(debug_assertions)]
                &self.owned.borrowed[0],
            )
        }
    }

    /// The worker's slab heap.
    #[inline]
    pub(crate) fn heap(&mut self) -> OwnedMut<'_, Heap> {
        // SAFETY: as for `local`.
        unsafe {
            OwnedMut::new(
                &self.owned.heap,
                #[cfg(debug_assertions)]
                &self.owned.borrowed[1],
            )
        }
    }

    /// The worker's counters (single-writer: this thread).
    #[inline]
    pub(crate) fn counters(&self) -> &'a Counters {
        self.counters
    }

    /// Entries in the worker's ring of `tier` (a tier with rings).
    #[inline]
    pub(crate) fn ring_len(&self, tier: Priority) -> usize {
        self.rings[tier.ring_index()].len()
    }

    /// The owner's end of the ring of `tier` (a tier with rings).
    #[inline]
    pub(crate) fn ring(&self, tier: Priority) -> OwnerRing<'a, Entry> {
        // SAFETY: this thread owns the worker's rings (the proof), and the
        // view cannot leave it (it is not `Send`).
        unsafe { OwnerRing::new(&self.rings[tier.ring_index()]) }
    }

    /// The task this worker is polling.
    #[inline]
    pub(crate) fn current(&self) -> Option<RawTask> {
        // SAFETY: owner-only cell, read on the owner's thread.
        self.owned.current.with(|p| unsafe { *p })
    }

    #[inline]
    pub(crate) fn set_current(&mut self, task: Option<RawTask>) {
        // SAFETY: owner-only cell, written on the owner's thread.
        self.owned.current.with_mut(|p| unsafe { *p = task });
    }

    /// Whether the task being polled woke itself.
    #[inline]
    pub(crate) fn self_woken(&self) -> bool {
        // SAFETY: owner-only cell.
        self.owned.self_woken.with(|p| unsafe { *p })
    }

    /// Records (or clears) a self-wake of the task being polled.
    #[inline]
    pub(crate) fn set_self_woken(&mut self, woken: bool) {
        // SAFETY: owner-only cell.
        self.owned.self_woken.with_mut(|p| unsafe { *p = woken });
    }

    /// The budget left to the task being polled.
    #[cfg(feature = "timers")]
    #[inline]
    pub(crate) fn budget(&self) -> u32 {
        // SAFETY: owner-only cell.
        self.owned.budget.with(|p| unsafe { *p })
    }

    /// Spends one unit of budget; false if none was left.
    #[inline]
    pub(crate) fn spend_budget(&mut self) -> bool {
        // SAFETY: owner-only cell.
        self.owned.budget.with_mut(|p| unsafe {
            if *p == 0 {
                return false;
            }
            *p -= 1;
            true
        })
    }

    #[inline]
    pub(crate) fn set_budget(&mut self, units: u32) {
        // SAFETY: owner-only cell.
        self.owned.budget.with_mut(|p| unsafe { *p = units });
    }

    /// A fresh task id for a task made at `now_nanos`.
    #[inline]
    pub(crate) fn next_task_id(&mut self, now_nanos: u64) -> TaskId {
        self.local().ids.next(now_nanos)
    }

    /// A random index below `n`.
    pub(crate) fn random_below(&mut self, n: usize) -> usize {
        let r = self.local().rng.next_u32();
        ((u64::from(r) * n as u64) >> 32) as usize
    }
}

#[cfg(all(test, debug_assertions, not(echo_loom)))]
mod tests {
    use super::{Owned, Owner, Rings};
    use crate::config::Config;
    use crate::deque::Deque;
    use crate::metrics::Counters;
    use crate::runtime::local::Local;
    use crate::slab::Heap;

    fn state() -> (Owned, Rings, Counters) {
        let owned = Owned::new(Local::new(0, 1, &Config::new(1)), Heap::new(0));
        let rings = core::array::from_fn(|_| Deque::new());
        (owned, rings, Counters::default())
    }

    #[test]
    fn borrows_one_after_another_are_fine() {
        let (owned, rings, counters) = state();
        // SAFETY: this thread stands in for worker 0; nothing else runs it.
        let (mut a, mut b) = unsafe {
            (
                Owner::new(&owned, &rings, &counters, 0),
                Owner::new(&owned, &rings, &counters, 0),
            )
        };
        a.local().searching = true;
        assert!(b.local().searching);
        let _heap = a.heap();
        b.local().searching = false;
    }

    #[test]
    #[should_panic(expected = "borrowed twice")]
    fn a_reentrant_owner_cannot_alias_a_live_borrow() {
        let (owned, rings, counters) = state();
        // SAFETY: as above: two holders on one thread, as in re-entry.
        let (mut outer, mut inner) = unsafe {
            (
                Owner::new(&owned, &rings, &counters, 0),
                Owner::new(&owned, &rings, &counters, 0),
            )
        };
        let held = outer.local();
        // What a re-entrant spawn would do while `held` spans user code.
        let _second = inner.local();
        drop(held);
    }
}
