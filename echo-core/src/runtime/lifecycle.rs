//! A scheduler's life, as one atomic phase that only moves forward:
//!
//! - `Running`: tasks are admitted and run.
//! - `Closed`: `shutdown` was called. Submissions are refused; each worker
//!   leaves its loop after its current poll.
//! - `Finishing`: the last worker out (or `shutdown` itself, with no worker
//!   running) claimed the shutdown walk (`shutdown.rs`): it cancels every
//!   task it finds in the slab and drains the queues. Exactly one thread
//!   moves the phase here.
//! - `Finished`: the walk has run. A wake that pushes an entry into an
//!   injector or the inbox from now on drains them itself: the pusher
//!   pushes, fences, then reads the phase, and the walk stores `Finished`,
//!   fences, then drains, so one of the two sees the entry.

use crate::sync::{AtomicU8, Ordering};

/// The phases, in the only order they are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    Running = 0,
    Closed = 1,
    Finishing = 2,
    Finished = 3,
}

impl Phase {
    /// The phase stored as `bits` (only `Lifecycle` stores, always a
    /// phase).
    fn from_bits(bits: u8) -> Phase {
        match bits {
            0 => Phase::Running,
            1 => Phase::Closed,
            2 => Phase::Finishing,
            _ => Phase::Finished,
        }
    }
}

/// The phase of one scheduler (see the module docs).
pub(crate) struct Lifecycle(AtomicU8);

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle(AtomicU8::new(Phase::Running as u8))
    }

    /// The phase now.
    #[inline]
    fn load(&self, order: Ordering) -> Phase {
        Phase::from_bits(self.0.load(order))
    }

    /// Moves `from` to `to`; true for the one caller that did.
    fn advance(&self, from: Phase, to: Phase, success: Ordering, failure: Ordering) -> bool {
        debug_assert!(from < to, "the phase only moves forward");
        self.0
            .compare_exchange(from as u8, to as u8, success, failure)
            .is_ok()
    }

    /// Moves `Running` to `Closed`. True for the one call that did.
    pub(crate) fn close(&self) -> bool {
        self.advance(
            Phase::Running,
            Phase::Closed,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
    }

    /// Whether `shutdown` was called (any phase after `Running`).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.load(Ordering::Acquire) >= Phase::Closed
    }

    /// [`is_closed`](Lifecycle::is_closed), sequentially consistent: for
    /// the last worker out, whose decrement of the active count must be
    /// ordered with `shutdown`'s close.
    pub(crate) fn is_closed_seqcst(&self) -> bool {
        self.load(Ordering::SeqCst) >= Phase::Closed
    }

    /// Moves `Closed` to `Finishing`. True for the one caller that runs the
    /// shutdown walk.
    pub(crate) fn begin_finishing(&self) -> bool {
        self.advance(
            Phase::Closed,
            Phase::Finishing,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
    }

    /// The walk has run (only its runner calls this).
    pub(crate) fn set_finished(&self) {
        debug_assert_eq!(self.load(Ordering::Relaxed), Phase::Finishing);
        self.0.store(Phase::Finished as u8, Ordering::SeqCst);
    }

    /// Whether the shutdown walk has run. Sequentially consistent: a
    /// pusher's read after its fence (see the module docs).
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.load(Ordering::SeqCst) == Phase::Finished
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_phase_only_moves_forward_and_each_step_is_taken_once() {
        let life = Lifecycle::new();
        assert!(!life.is_closed());
        assert!(!life.begin_finishing(), "not closed yet");
        assert!(life.close());
        assert!(!life.close(), "closed once");
        assert!(life.is_closed() && !life.is_finished());
        assert!(life.begin_finishing());
        assert!(!life.begin_finishing(), "one walker");
        life.set_finished();
        assert!(life.is_closed() && life.is_finished());
        assert!(!life.close());
    }
}
