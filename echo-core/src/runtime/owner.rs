//! The owner proof: a value that only the thread running worker `w` can
//! hold, which every owner-only operation requires.
//!
//! A worker's private state (`Local`: its counters of turns, its random
//! generator, its search and sleep flags), its slab heap, the task it
//! polls and that task's budget, and the owner end of its rings may be
//! touched only by the thread running that worker. An [`Owner`] is made
//! where a thread becomes worker `w` (the worker loop), or found again by
//! re-entrant entry points (a spawn, a wake, a budget check from inside a
//! poll) through `Shared::current_owner`, which trusts the platform's
//! `current_worker` (an `unsafe trait` obligation). It is neither `Send`
//! nor `Sync`, so it cannot leave its thread.
//!
//! `&mut Owner` hands out `&mut Local` and `&mut Heap`, so within one
//! holder the borrow checker keeps those borrows apart. Across holders on
//! the same thread (the loop's, and a re-entrant one made during a poll)
//! one rule remains, written here once: a borrow of `Local` or `Heap`
//! never spans a call into user code (a poll, a waker, a drop of task
//! data), which is where a re-entrant holder could appear.

use crate::Priority;
use crate::deque::OwnerRing;
use crate::runtime::worker::{Local, Worker};
use crate::slab::Heap;
use crate::task::TaskId;
use crate::task::raw::{Entry, RawTask};
use core::marker::PhantomData;

/// Proof that the calling thread runs worker `index` (see the module docs).
pub(crate) struct Owner<'a> {
    worker: &'a Worker,
    index: usize,
    /// Not `Send`, not `Sync`: the proof stays on its thread.
    _this_thread: PhantomData<*const ()>,
}

impl<'a> Owner<'a> {
    /// # Safety
    ///
    /// The calling thread runs as worker `index`, whose state is `worker`,
    /// for as long as the proof lives: no other thread touches that
    /// worker's owner-only state meanwhile.
    #[inline]
    pub(crate) unsafe fn new(worker: &'a Worker, index: usize) -> Owner<'a> {
        Owner {
            worker,
            index,
            _this_thread: PhantomData,
        }
    }

    /// The worker's index.
    #[inline]
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker's shared state (counters, rings as others see them).
    #[inline]
    pub(crate) fn worker(&self) -> &'a Worker {
        self.worker
    }

    /// The worker's private state.
    #[inline]
    pub(crate) fn local(&mut self) -> &mut Local {
        // SAFETY: this thread is the owner (the proof), and `&mut self`
        // excludes another borrow through this holder; other holders on
        // this thread exist only inside user code, which no borrow spans
        // (module docs).
        unsafe { self.worker.local_mut() }
    }

    /// The worker's slab heap.
    #[inline]
    pub(crate) fn heap(&mut self) -> &mut Heap {
        // SAFETY: as for `local`.
        unsafe { self.worker.heap_mut() }
    }

    /// The owner's end of the ring of `tier` (a tier with rings).
    #[inline]
    pub(crate) fn ring(&self, tier: Priority) -> OwnerRing<'a, Entry> {
        // SAFETY: this thread owns the worker's rings (the proof), and the
        // view cannot leave it (it is not `Send`).
        unsafe { OwnerRing::new(self.worker.ring_cell(tier)) }
    }

    /// The task this worker is polling.
    #[inline]
    pub(crate) fn current(&self) -> Option<RawTask> {
        // SAFETY: owner-only cell, read on the owner's thread.
        self.worker.current.with(|p| unsafe { *p })
    }

    #[inline]
    pub(crate) fn set_current(&mut self, task: Option<RawTask>) {
        // SAFETY: owner-only cell, written on the owner's thread.
        self.worker.current.with_mut(|p| unsafe { *p = task });
    }

    /// Whether the task being polled woke itself.
    #[inline]
    pub(crate) fn self_woken(&self) -> bool {
        // SAFETY: owner-only cell.
        self.worker.self_woken.with(|p| unsafe { *p })
    }

    /// Records (or clears) a self-wake of the task being polled.
    #[inline]
    pub(crate) fn set_self_woken(&mut self, woken: bool) {
        // SAFETY: owner-only cell.
        self.worker.self_woken.with_mut(|p| unsafe { *p = woken });
    }

    /// The budget left to the task being polled.
    #[inline]
    pub(crate) fn budget(&self) -> u32 {
        // SAFETY: owner-only cell.
        self.worker.budget.with(|p| unsafe { *p })
    }

    /// Spends one unit of budget; false if none was left.
    #[inline]
    pub(crate) fn spend_budget(&mut self) -> bool {
        // SAFETY: owner-only cell.
        self.worker.budget.with_mut(|p| unsafe {
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
        self.worker.budget.with_mut(|p| unsafe { *p = units });
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
