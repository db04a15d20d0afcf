//! A worker's state: its rings, its counters, its `running` flag, and its
//! owner-only state (`owner.rs`). Its loop is `run.rs`.
//!
//! Each worker owns a ring per tier below the most urgent (Normal, Low;
//! High has only its injector), a slab heap, a random-number generator
//! for victim choice, its anti-starvation counters, its metrics, and the
//! cooperative budget of the task it polls (128 units, reset before each
//! poll). Everything but the rings' thief ends, the counters and the flag
//! is reached only through an `Owner` proof.

use crate::Priority;
use crate::config::Config;
use crate::deque::{Deque, OwnerRing, Stealer};
use crate::metrics::Counters;
use crate::padded::CachePadded;
use crate::runtime::local::Local;
use crate::runtime::owner::{Owned, Owner, Rings};
use crate::slab::Heap;
use crate::sync::AtomicBool;
use crate::task::raw::Entry;

/// One worker's state.
pub(crate) struct Worker {
    /// The rings thieves read; padded so that the owner's writes to the
    /// fields below (counters every poll) do not share their lines.
    rings: CachePadded<Rings>,
    pub(crate) counters: Counters,
    /// A thread runs this worker (the loop or the High responder).
    pub(super) running: AtomicBool,
    owned: Owned,
}

impl Worker {
    pub(crate) fn new(index: usize, seed: u64, config: &Config) -> Worker {
        let seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Worker {
            rings: CachePadded(core::array::from_fn(|_| Deque::new())),
            counters: Counters::default(),
            running: AtomicBool::new(false),
            owned: Owned::new(Local::new(index, seed, config), Heap::new(index as u32)),
        }
    }

    /// The owner proof of this worker, which is worker `index`.
    ///
    /// # Safety
    ///
    /// As [`Owner::new`]: the calling thread runs this worker for as long
    /// as the proof lives.
    #[inline]
    pub(crate) unsafe fn owner(&self, index: usize) -> Owner<'_> {
        // SAFETY: per the contract.
        unsafe { Owner::new(&self.owned, &self.rings, &self.counters, index) }
    }

    /// Anyone's view of the ring for `tier` (one with rings:
    /// `Priority::has_ring`). Its owner gets the owner end through
    /// `Owner::ring`.
    #[inline]
    pub(crate) fn ring(&self, tier: Priority) -> Stealer<'_, Entry> {
        self.rings[tier.ring_index()].stealer()
    }

    /// Entries in this worker's rings, all tiers.
    pub(crate) fn queued(&self) -> usize {
        self.rings.iter().map(Deque::len).sum()
    }

    /// Takes the entries left in the ring of `tier`, for shutdown.
    ///
    /// # Safety
    ///
    /// No thread runs this worker, and none will again.
    pub(crate) unsafe fn pop_when_stopped(&self, tier: Priority) -> Option<Entry> {
        // SAFETY: with no worker thread, the caller is the ring's only
        // user for the length of the call.
        unsafe { OwnerRing::new(&self.rings[tier.ring_index()]) }.pop()
    }

    /// The heap, for shutdown.
    ///
    /// # Safety
    ///
    /// As [`Owned::heap_when_stopped`].
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn heap_when_stopped(&self) -> &mut Heap {
        // SAFETY: per the contract.
        unsafe { self.owned.heap_when_stopped() }
    }
}
