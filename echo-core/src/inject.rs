//! The per-tier global injector: an unbounded MPMC FIFO that every worker
//! and every outside thread can push to and pop from.
//!
//! Where the target has compare-and-swap it is crossbeam-queue's
//! lock-free `SegQueue`. Under loom, and on targets without
//! compare-and-swap (Cortex-M0/M0+), it is a locked `VecDeque`: loom's
//! model checker cannot see `SegQueue`'s atomics, and `SegQueue` does not
//! build without compare-and-swap. The injector is not the protocol under
//! test in any model; the queue's own correctness is crossbeam's.
//!
//! No interrupt handler pushes here: wakes from outside the pool go
//! through the inbox (`inbox.rs`). `SegQueue::push` may allocate, and a
//! push that finds a block full spins until the pusher that took its last
//! slot installs the next block, so a handler that pushed while the code
//! it interrupted was mid-push would never return.

#[cfg(all(not(echo_loom), target_has_atomic = "ptr"))]
use crossbeam_queue::SegQueue;
#[cfg(all(not(echo_loom), not(target_has_atomic = "ptr")))]
use {crate::spin::SpinLock, alloc::collections::VecDeque};
#[cfg(echo_loom)]
use {alloc::collections::VecDeque, loom::sync::Mutex};

/// An unbounded multi-producer multi-consumer FIFO.
pub struct Injector<T> {
    #[cfg(all(not(echo_loom), target_has_atomic = "ptr"))]
    queue: SegQueue<T>,
    #[cfg(echo_loom)]
    queue: Mutex<VecDeque<T>>,
    #[cfg(all(not(echo_loom), not(target_has_atomic = "ptr")))]
    queue: SpinLock<VecDeque<T>>,
}

impl<T> Default for Injector<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(not(echo_loom), target_has_atomic = "ptr"))]
impl<T> Injector<T> {
    /// An empty injector.
    pub fn new() -> Self {
        Self {
            queue: SegQueue::new(),
        }
    }

    /// Appends `value` at the back.
    #[inline]
    pub fn push(&self, value: T) {
        self.queue.push(value);
    }

    /// Takes the value at the front.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Whether the injector looks empty. A racy hint: a concurrent push may
    /// not be seen yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The number of values, as of some recent moment.
    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(any(echo_loom, not(target_has_atomic = "ptr")))]
impl<T> Injector<T> {
    /// An empty injector.
    pub fn new() -> Self {
        Self {
            #[cfg(echo_loom)]
            queue: Mutex::new(VecDeque::new()),
            #[cfg(not(echo_loom))]
            queue: SpinLock::new(VecDeque::new()),
        }
    }

    #[cfg(echo_loom)]
    fn locked(&self) -> loom::sync::MutexGuard<'_, VecDeque<T>> {
        self.queue.lock().unwrap()
    }

    #[cfg(not(echo_loom))]
    fn locked(&self) -> crate::spin::SpinGuard<'_, VecDeque<T>> {
        self.queue.lock()
    }

    /// Appends `value` at the back.
    #[inline]
    pub fn push(&self, value: T) {
        self.locked().push_back(value);
    }

    /// Takes the value at the front.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.locked().pop_front()
    }

    /// Whether the injector looks empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.locked().is_empty()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.locked().len()
    }
}
