//! The one-shot slot between a pool thread and the relay task that
//! stands for its closure: the thread leaves the closure's outcome there,
//! the relay returns it (or resumes its panic) as the task's output.
//!
//! Invariants:
//! - The slot is closed once the job is dropped, run or not; no outcome
//!   comes after that, and the relay's waker is woken then.
//! - Once the relay is gone, an outcome is dropped by the pool thread
//!   outside the lock, and a closure not started yet is skipped.

use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;

/// Where a pool thread leaves a closure's outcome for its relay task.
pub(super) struct Slot<R> {
    state: Mutex<SlotState<R>>,
}

struct SlotState<R> {
    outcome: Option<thread::Result<R>>,
    waker: Option<Waker>,
    /// The job was dropped, run or not; no outcome will come after this.
    closed: bool,
    /// The relay is gone (finished, aborted or cancelled).
    receiver_gone: bool,
}

impl<R> Default for Slot<R> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                waker: None,
                closed: false,
                receiver_gone: false,
            }),
        }
    }
}

impl<R> Slot<R> {
    fn lock(&self) -> MutexGuard<'_, SlotState<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pool thread's end of a slot.
pub(super) struct Sender<R>(Arc<Slot<R>>);

impl<R> Sender<R> {
    pub(super) fn new(slot: Arc<Slot<R>>) -> Sender<R> {
        Sender(slot)
    }

    pub(super) fn receiver_gone(&self) -> bool {
        self.0.lock().receiver_gone
    }

    pub(super) fn send(self, outcome: thread::Result<R>) {
        let mut state = self.0.lock();
        if state.receiver_gone {
            drop(state);
            // Dropped here, on the pool thread, outside the lock.
            drop(outcome);
            return;
        }
        state.outcome = Some(outcome);
        // `drop(self)` below closes the slot and wakes the relay.
    }
}

impl<R> Drop for Sender<R> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The relay task's future: the closure's value, or its panic resumed.
pub(crate) struct Relay<R> {
    slot: Arc<Slot<R>>,
}

impl<R> Relay<R> {
    pub(super) fn new(slot: Arc<Slot<R>>) -> Relay<R> {
        Relay { slot }
    }
}

impl<R> Future for Relay<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut state = self.slot.lock();
        match state.outcome.take() {
            Some(Ok(value)) => Poll::Ready(value),
            // The core catches this and reports the closure's own payload.
            Some(Err(payload)) => {
                drop(state);
                panic::resume_unwind(payload)
            }
            // Dropped unrun: at shutdown (which cancels this task before it
            // can be polled again) or because no pool thread could start.
            None if state.closed => {
                drop(state);
                panic!("echo: the blocking closure was dropped without running")
            }
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for Relay<R> {
    fn drop(&mut self) {
        let mut state = self.slot.lock();
        state.receiver_gone = true;
        state.waker = None;
        // An outcome nobody will read is dropped with the slot, by
        // whichever side lets go last.
    }
}
