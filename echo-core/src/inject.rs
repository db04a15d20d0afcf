//! The per-tier global injector: an unbounded MPMC FIFO that every worker
//! and every outside thread can push to and pop from.
//!
//! In normal builds it is crossbeam-queue's lock-free `SegQueue`. Under
//! loom it is a locked `VecDeque`: `SegQueue`'s atomics are not loom's, so
//! a model running through it could spin forever or miss interleavings.
//! The injector is not the protocol under test in any model; the queue's
//! own correctness is crossbeam's.

#[cfg(not(echo_loom))]
use crossbeam_queue::SegQueue;
#[cfg(echo_loom)]
use {alloc::collections::VecDeque, loom::sync::Mutex};

/// An unbounded multi-producer multi-consumer FIFO.
pub struct Injector<T> {
    #[cfg(not(echo_loom))]
    queue: SegQueue<T>,
    #[cfg(echo_loom)]
    queue: Mutex<VecDeque<T>>,
}

impl<T> Default for Injector<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Injector<T> {
    /// An empty injector.
    pub fn new() -> Self {
        Self {
            #[cfg(not(echo_loom))]
            queue: SegQueue::new(),
            #[cfg(echo_loom)]
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Appends `value` at the back.
    #[inline]
    pub fn push(&self, value: T) {
        #[cfg(not(echo_loom))]
        self.queue.push(value);
        #[cfg(echo_loom)]
        self.queue.lock().unwrap().push_back(value);
    }

    /// Takes the value at the front.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        #[cfg(not(echo_loom))]
        return self.queue.pop();
        #[cfg(echo_loom)]
        return self.queue.lock().unwrap().pop_front();
    }

    /// Whether the injector looks empty. A racy hint: a concurrent push may
    /// not be seen yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        #[cfg(not(echo_loom))]
        return self.queue.is_empty();
        #[cfg(echo_loom)]
        return self.queue.lock().unwrap().is_empty();
    }

    /// The number of values, as of some recent moment.
    pub fn len(&self) -> usize {
        #[cfg(not(echo_loom))]
        return self.queue.len();
        #[cfg(echo_loom)]
        return self.queue.lock().unwrap().len();
    }
}
