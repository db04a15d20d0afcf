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
//!   injector from now on drains the injectors itself: the pusher pushes,
//!   fences, then reads the phase, and the walk stores `Finished`, then
//!   drains, so one of the two sees the entry.

use crate::sync::{AtomicU8, Ordering};

const RUNNING: u8 = 0;
const CLOSED: u8 = 1;
const FINISHING: u8 = 2;
const FINISHED: u8 = 3;

/// The phase of one scheduler (see the module docs).
pub(crate) struct Lifecycle(AtomicU8);

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle(AtomicU8::new(RUNNING))
    }

    /// Moves `Running` to `Closed`. True for the one call that did.
    pub(crate) fn close(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, CLOSED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Whether `shutdown` was called (any phase after `Running`).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) >= CLOSED
    }

    /// [`is_closed`](Lifecycle::is_closed), sequentially consistent: for
    /// the last worker out, whose decrement of the active count must be
    /// ordered with `shutdown`'s close.
    pub(crate) fn is_closed_seqcst(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= CLOSED
    }

    /// Moves `Closed` to `Finishing`. True for the one caller that runs the
    /// shutdown walk.
    pub(crate) fn begin_finishing(&self) -> bool {
        self.0
            .compare_exchange(CLOSED, FINISHING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The walk has run (only its runner calls this).
    pub(crate) fn set_finished(&self) {
        self.0.store(FINISHED, Ordering::SeqCst);
    }

    /// Whether the shutdown walk has run. Sequentially consistent: a
    /// pusher's read after its fence (see the module docs).
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.0.load(Ordering::SeqCst) == FINISHED
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
