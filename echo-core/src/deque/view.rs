//! The two ends of a ring as types: the owner's (push, pop, steal into it)
//! and a thief's (look, and be stolen from). The owner reads its ring's
//! length through a `Stealer` like anyone else.
//!
//! An [`OwnerRing`] is made with an `unsafe` promise that the calling
//! thread is the ring's owner, and it cannot leave that thread (it is
//! neither `Send` nor `Sync`), so its methods are safe. A [`Stealer`] is
//! what every other thread gets: it can only read the length and be the
//! victim of [`OwnerRing::steal_half_from`].

use super::{Deque, Overflow};
use core::marker::PhantomData;

/// The owner's end of a ring (see the module docs).
pub struct OwnerRing<'a, T> {
    ring: &'a Deque<T>,
    _this_thread: PhantomData<*const ()>,
}

impl<'a, T> OwnerRing<'a, T> {
    /// # Safety
    ///
    /// The calling thread is `ring`'s owner, the one thread that pushes to
    /// and pops from it, for as long as the view lives.
    #[inline]
    pub unsafe fn new(ring: &'a Deque<T>) -> OwnerRing<'a, T> {
        OwnerRing {
            ring,
            _this_thread: PhantomData,
        }
    }

    /// Pushes `value` at the tail; when the ring is full, moves the older
    /// half and `value` to `overflow` (see [`Deque::push`]).
    #[inline]
    pub fn push(&self, value: T, overflow: &impl Overflow<T>) {
        // SAFETY: this thread is the owner (the view's contract).
        unsafe { self.ring.push(value, overflow) }
    }

    /// Takes the oldest value.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        // SAFETY: this thread is the owner (the view's contract).
        unsafe { self.ring.pop() }
    }

    /// Steals the older half of `victim` into this ring and returns one
    /// stolen value to run now, with how many moved (see
    /// [`Deque::steal_half_into`]). `None` if there was nothing to take,
    /// another thief was busy, this ring is too full, or `victim` is this
    /// ring.
    #[inline]
    pub fn steal_half_from(&self, victim: Stealer<'_, T>) -> Option<(T, usize)> {
        if core::ptr::eq(victim.ring, self.ring) {
            return None;
        }
        // SAFETY: this thread owns `self.ring` (the view's contract), which
        // is not the victim's.
        unsafe { victim.ring.steal_half_into(self.ring) }
    }
}

/// Anyone's view of a ring: how full it is, and a victim to steal from.
pub struct Stealer<'a, T> {
    ring: &'a Deque<T>,
}

impl<T> Clone for Stealer<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Stealer<'_, T> {}

impl<T> Stealer<'_, T> {
    /// Values in the ring, as of some recent moment.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring looks empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

impl<T> Deque<T> {
    /// Anyone's view of this ring.
    #[inline]
    pub fn stealer(&self) -> Stealer<'_, T> {
        Stealer { ring: self }
    }
}
