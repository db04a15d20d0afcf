//! The per-worker, per-tier bounded work-stealing ring.
//!
//! One owner thread pushes at the tail and pops at the head; any number of
//! thieves steal the older half of the ring at the head. Both ends take in
//! FIFO order. (The design first said the owner pops LIFO; a LIFO owner
//! lets a task that keeps waking itself, or two tasks waking each other,
//! starve the rest of the ring, and a batch steal cannot be made safe
//! against LIFO pops without a CAS per stolen item. FIFO with a
//! two-phase head gives one CAS per steal batch.)
//!
//! Layout: `head` packs two 16-bit positions, `steal` and `real`.
//! `real` is the next position to take. `steal` trails it while a thief is
//! copying out the range `steal..real` it has claimed; when no steal is in
//! progress the two are equal. `tail` is the next position to fill and is
//! written only by the owner.
//!
//! Invariants:
//! - Positions wrap at 2^16; the ring holds `CAPACITY` (256) slots, so
//!   `tail - steal <= CAPACITY` always and the slots `steal..tail` are
//!   initialized.
//! - The owner never writes a slot in `steal..real` (a thief is reading it):
//!   it measures fullness from `steal`, not `real`.
//! - At most one thief steals at a time; a second sees `steal != real` and
//!   gives up rather than wait.
//! - A value is taken exactly once: every take advances `real` with a CAS.

use crate::inject::Injector;
use crate::sync::{AtomicU16, AtomicU32, Ordering, UnsafeCell};
use alloc::boxed::Box;
use core::mem::MaybeUninit;

/// Slots per ring. Loom models use a tiny ring so that they reach the
/// full-ring and overflow paths in a few operations.
#[cfg(not(echo_loom))]
pub const CAPACITY: usize = 256;
/// Slots per ring (loom models).
#[cfg(echo_loom)]
pub const CAPACITY: usize = 4;
const MASK: usize = CAPACITY - 1;

#[inline]
fn pack(steal: u16, real: u16) -> u32 {
    (u32::from(steal) << 16) | u32::from(real)
}

#[inline]
fn unpack(head: u32) -> (u16, u16) {
    ((head >> 16) as u16, head as u16)
}

/// A bounded single-owner, multi-thief ring of `T`.
pub struct Deque<T> {
    head: AtomicU32,
    tail: AtomicU16,
    buffer: Box<[UnsafeCell<MaybeUninit<T>>; CAPACITY]>,
}

// SAFETY: values move between threads through the ring (so `T: Send`), and
// every slot access is ordered by the head/tail protocol described at the
// top of the module.
unsafe impl<T: Send> Send for Deque<T> {}
// SAFETY: as above; shared access is what the protocol is for.
unsafe impl<T: Send> Sync for Deque<T> {}

impl<T> Default for Deque<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deque<T> {
    /// An empty ring.
    pub fn new() -> Self {
        let buffer = Box::new(core::array::from_fn(|_| {
            UnsafeCell::new(MaybeUninit::uninit())
        }));
        Self {
            head: AtomicU32::new(0),
            tail: AtomicU16::new(0),
            buffer,
        }
    }

    /// Values in the ring, as of some recent moment (thieves' claimed
    /// ranges included).
    pub fn len(&self) -> usize {
        let (steal, _) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        usize::from(tail.wrapping_sub(steal))
    }

    /// Whether the ring looks empty to a thief.
    pub fn is_empty(&self) -> bool {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        real == self.tail.load(Ordering::Acquire)
    }

    #[inline]
    fn write(&self, pos: u16, value: T) {
        self.buffer[usize::from(pos) & MASK].with_mut(|p| {
            // SAFETY: the caller owns slot `pos` (see each call site).
            unsafe { p.write(MaybeUninit::new(value)) }
        });
    }

    #[inline]
    fn read(&self, pos: u16) -> T {
        self.buffer[usize::from(pos) & MASK].with(|p| {
            // SAFETY: the caller has claimed slot `pos`, which holds an
            // initialized value that nobody else will read.
            unsafe { (*p).assume_init_read() }
        })
    }

    /// Pushes `value` at the tail. When the ring is full, moves the older
    /// half of it and `value` to `overflow`, in order.
    ///
    /// # Safety
    ///
    /// Only the ring's owner thread may call this (or `pop`).
    pub unsafe fn push(&self, mut value: T, overflow: &Injector<T>) {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let (steal, real) = unpack(head);
            // Only the owner writes `tail`.
            let tail = self.tail.load(Ordering::Relaxed);
            if usize::from(tail.wrapping_sub(steal)) < CAPACITY {
                // Slot `tail` is outside `steal..tail`: no thief reads it.
                self.write(tail, value);
                self.tail.store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if steal != real {
                // A thief is copying out; it will free room. Not worth the
                // wait: this one value goes to the injector.
                overflow.push(value);
                return;
            }
            match self.spill_half(head, real, tail, value, overflow) {
                Ok(()) => return,
                Err(v) => value = v,
            }
        }
    }

    /// Claims the older half with a CAS and moves it, then `value`, to
    /// `overflow`. Fails (handing `value` back) if a thief moved `head`.
    fn spill_half(
        &self,
        head: u32,
        real: u16,
        tail: u16,
        value: T,
        overflow: &Injector<T>,
    ) -> Result<(), T> {
        const HALF: u16 = (CAPACITY / 2) as u16;
        debug_assert_eq!(usize::from(tail.wrapping_sub(real)), CAPACITY);
        let to = real.wrapping_add(HALF);
        if self
            .head
            .compare_exchange(head, pack(to, to), Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // The CAS made `real..to` ours; thieves start at `to` from now on.
        let mut pos = real;
        while pos != to {
            overflow.push(self.read(pos));
            pos = pos.wrapping_add(1);
        }
        overflow.push(value);
        Ok(())
    }

    /// Takes the oldest value.
    ///
    /// # Safety
    ///
    /// Only the ring's owner thread may call this (or `push`).
    pub unsafe fn pop(&self) -> Option<T> {
        let mut head = self.head.load(Ordering::Acquire);
        let pos = loop {
            let (steal, real) = unpack(head);
            let tail = self.tail.load(Ordering::Relaxed);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // Keep a thief's `steal` mark; otherwise move both together.
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        Some(self.read(pos))
    }

    /// Steals the older half (rounded up) of this ring into `dst`, and
    /// returns one of the stolen values for the caller to run now, with how
    /// many values moved in all. Returns `None` if there was nothing to
    /// steal, another thief was busy, or `dst` is more than half full.
    ///
    /// # Safety
    ///
    /// The caller must be `dst`'s owner thread, and `dst` must not be
    /// `self`.
    pub unsafe fn steal_half_into(&self, dst: &Deque<T>) -> Option<(T, usize)> {
        let dst_tail = dst.tail.load(Ordering::Relaxed);
        let (dst_steal, _) = unpack(dst.head.load(Ordering::Acquire));
        if usize::from(dst_tail.wrapping_sub(dst_steal)) > CAPACITY / 2 {
            return None;
        }
        let n = self.steal_into_at(dst, dst_tail);
        if n == 0 {
            return None;
        }
        // The last stolen value is returned rather than published.
        let n = n - 1;
        let ret = dst.read(dst_tail.wrapping_add(n));
        if n > 0 {
            dst.tail.store(dst_tail.wrapping_add(n), Ordering::Release);
        }
        Some((ret, usize::from(n) + 1))
    }

    /// Claims up to half the values, copies them to `dst` from `dst_tail`
    /// on (not yet published), and returns how many.
    fn steal_into_at(&self, dst: &Deque<T>, dst_tail: u16) -> u16 {
        let mut head = self.head.load(Ordering::Acquire);
        let (from, n) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return 0; // another thief is mid-steal
            }
            let tail = self.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return 0;
            }
            // Phase one: move `real` forward, leaving `steal` behind as the
            // mark that `steal..real` is being copied out.
            let next = pack(steal, real.wrapping_add(n));
            match self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (real, n),
                Err(actual) => head = actual,
            }
        };
        debug_assert!(usize::from(n) <= CAPACITY / 2);
        for i in 0..n {
            let value = self.read(from.wrapping_add(i));
            // `dst` is at most half full, so `dst_tail + i` is free, and
            // only its owner (the caller) writes there.
            dst.write(dst_tail.wrapping_add(i), value);
        }
        // Phase two: release the claim so the owner may reuse the slots.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (_, real) = unpack(head);
            match self.head.compare_exchange(
                head,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return n,
                Err(actual) => head = actual,
            }
        }
    }
}

impl<T> Drop for Deque<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` makes this thread the only one with access,
        // so it may act as the owner.
        while unsafe { self.pop() }.is_some() {}
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn owner_takes_in_fifo_order() {
        let d = Deque::new();
        let inj = Injector::new();
        for i in 0..10 {
            // SAFETY: single-threaded test; this thread is the owner.
            unsafe { d.push(i, &inj) };
        }
        assert_eq!(d.len(), 10);
        // SAFETY: owner.
        let got: Vec<_> = core::iter::from_fn(|| unsafe { d.pop() }).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(inj.is_empty());
    }

    #[test]
    fn overflow_moves_the_older_half_to_the_injector() {
        let d = Deque::new();
        let inj = Injector::new();
        for i in 0..=CAPACITY {
            // SAFETY: owner.
            unsafe { d.push(i, &inj) };
        }
        assert_eq!(inj.len(), CAPACITY / 2 + 1);
        assert_eq!(d.len(), CAPACITY / 2);
        let spilled: Vec<_> = core::iter::from_fn(|| inj.pop()).collect();
        let mut expect: Vec<_> = (0..CAPACITY / 2).collect();
        expect.push(CAPACITY);
        assert_eq!(spilled, expect);
        // SAFETY: owner.
        assert_eq!(unsafe { d.pop() }, Some(CAPACITY / 2));
    }

    #[test]
    fn steal_takes_the_older_half_rounded_up() {
        let a = Deque::new();
        let b = Deque::new();
        let inj = Injector::new();
        for i in 0..7 {
            // SAFETY: owner of `a`.
            unsafe { a.push(i, &inj) };
        }
        // SAFETY: this thread owns `b`, which is not `a`.
        let first = unsafe { a.steal_half_into(&b) };
        assert_eq!(first, Some((3, 4)));
        assert_eq!(b.len(), 3);
        // SAFETY: owner of both.
        let rest_b: Vec<_> = core::iter::from_fn(|| unsafe { b.pop() }).collect();
        assert_eq!(rest_b, [0, 1, 2]);
        // SAFETY: owner.
        let rest_a: Vec<_> = core::iter::from_fn(|| unsafe { a.pop() }).collect();
        assert_eq!(rest_a, [4, 5, 6]);
    }

    #[test]
    fn positions_wrap_around_many_times() {
        let d = Deque::new();
        let inj = Injector::new();
        let mut next_out = 0u32;
        // Past 2^16 pushes the positions wrap; miri needs only one wrap.
        let n = if cfg!(miri) { 68_000 } else { 200_000u32 };
        for i in 0..n {
            // SAFETY: owner.
            unsafe { d.push(i, &inj) };
            if i % 2 == 1 {
                for _ in 0..2 {
                    // SAFETY: owner.
                    assert_eq!(unsafe { d.pop() }, Some(next_out));
                    next_out += 1;
                }
            }
        }
        assert!(inj.is_empty(), "never more than two in the ring");
    }
}
