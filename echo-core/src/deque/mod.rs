//! The per-worker, per-tier bounded work-stealing ring.
//!
//! One owner thread pushes at the tail and pops at the head; any number of
//! thieves steal the older half of the ring at the head. Both ends take in
//! FIFO order: a task that keeps waking itself cannot starve the rest of
//! the ring, and a whole steal batch costs one CAS (why not LIFO:
//! `docs/DESIGN.md`, "The ring").
//!
//! Layout: `head` packs two positions, `steal` and `real`. `real` is the
//! next position to take. `steal` trails it while a thief is copying out
//! the range `steal..real` it has claimed; when no steal is in progress
//! the two are equal. `tail` is the next position to fill and is written
//! only by the owner.
//!
//! Position width: where the target has 64-bit atomics a position is a
//! `u32` and `head` a `u64`; elsewhere (e.g. `thumbv7em`) a position is a
//! `u16` and `head` a `u32`. The width is what stops an ABA: a thief reads
//! `head`, is preempted, and then claims with a compare-and-swap from what
//! it read. If in between the owner moved the positions on by a whole
//! multiple of their range, `head` holds the same bits again, the CAS
//! succeeds on a stale view and the thief takes slots that were already
//! taken. With 16-bit positions that takes 65,536 owner operations, about
//! a millisecond of a busy owner's work; with 32-bit ones it takes over
//! four billion. (Tokio's run queue had this bug and was widened the same
//! way.)
//!
//! Invariants:
//! - Positions wrap at `Pos::MAX + 1`; the ring holds `CAPACITY` slots
//!   (256, 64 on 32-bit targets; fewer under loom and cargo-fuzz), so `tail - steal <= CAPACITY`
//!   always and the slots `real..tail` are initialized.
//! - The owner never writes a slot in `steal..real` (a thief is reading it):
//!   it measures fullness from `steal`, not `real`. Owner pops during a
//!   steal move `real` only, so the slots they free stay unusable until
//!   the thief's release.
//! - At most one thief steals at a time; a second sees `steal != real` and
//!   gives up rather than wait.
//! - A value is taken exactly once: every take advances `real` with a CAS
//!   from the `head` the taker read, and a `head` cannot come back to the
//!   same bits while a thief still holds an old reading (the width above).
//!
//! A steal runs in phases, each its own function so that the fuzz target
//! can interleave them one step at a time with the owner's operations:
//! [`Deque::steal_snapshot`] (read `head` and `tail`),
//! [`Deque::steal_claim`] (the CAS that moves `real` past the claimed
//! range), [`Deque::steal_copy`] (copy the claimed values into the thief's
//! own ring), [`Deque::steal_release`] (the CAS that brings `steal` up to
//! `real`, giving the slots back to the owner) and
//! [`Deque::steal_publish`] (the thief's own tail store).
//! [`Deque::steal_half_into`] is those phases in a row.

mod view;

pub use view::{OwnerRing, Stealer};

use crate::inject::Injector;
use crate::sync::{Ordering, UnsafeCell};
use alloc::boxed::Box;
use core::mem::MaybeUninit;
use core::ops::Range;

/// Slots per ring: 256 on 64-bit hosts; 64 on smaller targets
/// (microcontrollers), where each worker's two rings would otherwise take
/// 2 KiB of a heap of a few tens of KiB. Loom models and fuzz builds use a
/// small ring so that they reach the full-ring and overflow paths in a few
/// operations.
#[cfg(all(not(any(echo_loom, fuzzing)), target_pointer_width = "64"))]
pub const CAPACITY: usize = 256;
/// Slots per ring (targets with pointers narrower than 64 bits).
#[cfg(all(not(any(echo_loom, fuzzing)), not(target_pointer_width = "64")))]
pub const CAPACITY: usize = 64;
/// Slots per ring (loom models).
#[cfg(echo_loom)]
pub const CAPACITY: usize = 4;
/// Slots per ring (cargo-fuzz builds, which set `--cfg fuzzing`: their
/// instrumentation makes every memory access cost a call, so filling a
/// 256-slot ring would dominate each input).
#[cfg(all(fuzzing, not(echo_loom)))]
pub const CAPACITY: usize = 16;
const MASK: usize = CAPACITY - 1;

#[cfg(target_has_atomic = "64")]
mod width {
    /// A position in a ring: counts every push since the ring was made,
    /// wrapping at 2^32.
    pub type Pos = u32;
    pub(super) type Head = u64;
    pub(super) use crate::sync::{AtomicU32 as AtomicPos, AtomicU64 as AtomicHead};
}

#[cfg(not(target_has_atomic = "64"))]
mod width {
    /// A position in a ring: counts every push since the ring was made,
    /// wrapping at 2^16 (this target has no 64-bit atomics to pack two
    /// wider positions in).
    pub type Pos = u16;
    pub(super) type Head = u32;
    pub(super) use crate::sync::{AtomicU16 as AtomicPos, AtomicU32 as AtomicHead};
}

pub use width::Pos;
use width::{AtomicHead, AtomicPos, Head};

/// `CAPACITY` as a position difference.
const CAP: Pos = CAPACITY as Pos;
/// What an overflowing push moves to the injector, besides its own value.
const HALF: Pos = CAP / 2;

#[inline]
fn pack(steal: Pos, real: Pos) -> Head {
    (Head::from(steal) << Pos::BITS) | Head::from(real)
}

#[inline]
fn unpack(head: Head) -> (Pos, Pos) {
    ((head >> Pos::BITS) as Pos, head as Pos)
}

/// Where a push onto a full ring sends values: the tier's [`Injector`] in
/// the scheduler. The fuzz target passes a plain queue, to see exactly
/// what moved without paying for a concurrent queue.
pub trait Overflow<T> {
    /// Appends `value` at the back.
    fn push(&self, value: T);
}

impl<T> Overflow<T> for Injector<T> {
    fn push(&self, value: T) {
        Injector::push(self, value);
    }
}

/// What a thief read of a ring before claiming from it: `head` and `tail`.
/// A fuzz and test hook; see [`Deque::steal_snapshot`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StealSnapshot {
    head: Head,
    tail: Pos,
}

/// A range of a ring that a thief has claimed: it must copy the values out
/// ([`Deque::steal_copy`]) and then give the slots back
/// ([`Deque::steal_release`]). A fuzz and test hook.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a claim blocks the owner's spill until it is released"]
pub struct StealClaim {
    from: Pos,
    n: Pos,
}

impl StealClaim {
    /// How many values were claimed (at least one).
    pub fn count(&self) -> usize {
        self.n as usize
    }
}

/// Why [`Deque::steal_claim`] claimed nothing.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The snapshot showed an empty ring.
    Empty,
    /// The snapshot showed another thief mid-steal.
    Busy,
    /// `head` changed since the snapshot (an owner pop or spill, or another
    /// thief): take a new snapshot and try again.
    Moved,
}

/// A bounded single-owner, multi-thief ring of `T`.
///
/// The owner pushes at the tail ([`push`](Deque::push)) and takes the
/// oldest value at the head ([`pop`](Deque::pop)); other workers take the
/// older half with [`steal_half_into`](Deque::steal_half_into).
///
/// Order, and how this compares with tokio's local run queue (the same
/// two-position head and the same overflow and steal rules):
/// - A steal takes the older half rounded up (`n - n / 2` of `n` values),
///   so a lone value can be stolen; tokio rounds the same way.
/// - Owner pops are FIFO, and nothing sits in front of the ring: tokio's
///   worker keeps a LIFO slot ahead of its queue for the task woken last,
///   Echo does not (a task that keeps waking itself would starve the
///   ring; see the module docs).
/// - Order across an overflowing ring is not FIFO: a push onto a full ring
///   moves the older half, then the new value, to the injector, while the
///   newer half stays in the ring and usually runs first. Tokio's overflow
///   does the same.
///
/// The example of the module `tests` (`owner_and_thief_views`) shows a
/// push, a steal and pops through the views.
pub struct Deque<T> {
    head: AtomicHead,
    tail: AtomicPos,
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
        Self::starting_at(0)
    }

    /// An empty ring whose positions start at `pos` instead of 0, so that
    /// tests and fuzz inputs reach the wrap of the positions in a few
    /// operations.
    #[doc(hidden)]
    pub fn starting_at(pos: Pos) -> Self {
        let buffer = Box::new(core::array::from_fn(|_| {
            UnsafeCell::new(MaybeUninit::uninit())
        }));
        Self {
            head: AtomicHead::new(pack(pos, pos)),
            tail: AtomicPos::new(pos),
            buffer,
        }
    }

    /// Values in the ring, as of some recent moment (thieves' claimed
    /// ranges included).
    pub fn len(&self) -> usize {
        let (steal, _) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(steal) as usize
    }

    /// Whether the ring looks empty to a thief.
    pub fn is_empty(&self) -> bool {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        real == self.tail.load(Ordering::Acquire)
    }

    #[inline]
    fn slot(&self, pos: Pos) -> &UnsafeCell<MaybeUninit<T>> {
        &self.buffer[pos as usize & MASK]
    }

    #[inline]
    fn write(&self, pos: Pos, value: T) {
        self.slot(pos).with_mut(|p| {
            // SAFETY: the caller owns slot `pos` (see each call site).
            unsafe { p.write(MaybeUninit::new(value)) }
        });
    }

    #[inline]
    fn read(&self, pos: Pos) -> T {
        self.slot(pos).with(|p| {
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
    pub unsafe fn push(&self, mut value: T, overflow: &impl Overflow<T>) {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let (steal, real) = unpack(head);
            // Only the owner writes `tail`.
            let tail = self.tail.load(Ordering::Relaxed);
            if tail.wrapping_sub(steal) < CAP {
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
        head: Head,
        real: Pos,
        tail: Pos,
        value: T,
        overflow: &impl Overflow<T>,
    ) -> Result<(), T> {
        debug_assert_eq!(tail.wrapping_sub(real), CAP);
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
        // SAFETY: the caller owns `dst`.
        let dst_tail = unsafe { dst.steal_room() }?;
        let claim = loop {
            // SAFETY: the snapshot is of this ring.
            match unsafe { self.steal_claim(self.steal_snapshot()) } {
                Ok(claim) => break claim,
                Err(ClaimError::Moved) => {}
                Err(ClaimError::Empty | ClaimError::Busy) => return None,
            }
        };
        let n = claim.count();
        // SAFETY: the claim is this ring's and unreleased, each value is
        // copied once, the caller owns `dst`, which is not `self`, and
        // `dst_tail` is from `steal_room` with no push to `dst` since.
        unsafe { self.steal_copy(&claim, 0..n, dst, dst_tail) };
        self.steal_release(claim);
        // SAFETY: the caller owns `dst`; `steal_copy` wrote all `n` values.
        let last = unsafe { dst.steal_publish(dst_tail, n) };
        Some((last, n))
    }

    /// Steal phase 0, on the thief's own ring: where stolen values go (its
    /// tail), or `None` when it is more than half full and a steal might
    /// not fit.
    ///
    /// # Safety
    ///
    /// The caller must be this ring's owner thread.
    #[doc(hidden)]
    pub unsafe fn steal_room(&self) -> Option<Pos> {
        // Only the owner writes `tail`.
        let tail = self.tail.load(Ordering::Relaxed);
        let (steal, _) = unpack(self.head.load(Ordering::Acquire));
        (tail.wrapping_sub(steal) <= HALF).then_some(tail)
    }

    /// Steal phase 1: reads `head` and `tail`.
    #[doc(hidden)]
    pub fn steal_snapshot(&self) -> StealSnapshot {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        StealSnapshot { head, tail }
    }

    /// Steal phase 2: claims the older half (rounded up) of what `snapshot`
    /// saw, with a CAS from `snapshot`'s `head` that moves `real` past the
    /// claimed range and leaves `steal` behind as the mark that a thief is
    /// copying. Fails with [`ClaimError::Moved`] if `head` changed since.
    ///
    /// # Safety
    ///
    /// `snapshot` must come from this ring's
    /// [`steal_snapshot`](Deque::steal_snapshot).
    #[doc(hidden)]
    pub unsafe fn steal_claim(&self, snapshot: StealSnapshot) -> Result<StealClaim, ClaimError> {
        let (steal, real) = unpack(snapshot.head);
        if steal != real {
            return Err(ClaimError::Busy);
        }
        let available = snapshot.tail.wrapping_sub(real);
        let n = available - available / 2;
        if n == 0 {
            return Err(ClaimError::Empty);
        }
        let next = pack(steal, real.wrapping_add(n));
        self.head
            .compare_exchange(snapshot.head, next, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| ClaimError::Moved)?;
        // `head` was unchanged, so `tail - real <= CAPACITY` held when
        // `tail` was read.
        debug_assert!(n <= HALF);
        Ok(StealClaim { from: real, n })
    }

    /// Steal phase 3: copies the claimed values `values` (indices into the
    /// claim, oldest first) into `dst`, from `dst_tail + values.start` on,
    /// without publishing them.
    ///
    /// # Safety
    ///
    /// `claim` must be this ring's and not yet released, and each index is
    /// copied at most once. The caller must be `dst`'s owner thread, `dst`
    /// must not be `self`, and `dst_tail` must come from `dst.steal_room()`
    /// with no push to `dst` since.
    #[doc(hidden)]
    pub unsafe fn steal_copy(
        &self,
        claim: &StealClaim,
        values: Range<usize>,
        dst: &Deque<T>,
        dst_tail: Pos,
    ) {
        assert!(values.end <= claim.count(), "beyond the claim");
        for i in values {
            let i = i as Pos;
            // The claim made slot `from + i` ours until the release.
            let value = self.read(claim.from.wrapping_add(i));
            // `dst` was at most half full, so `dst_tail + i` is free, and
            // only its owner (the caller) writes there.
            dst.write(dst_tail.wrapping_add(i), value);
        }
    }

    /// Steal phase 4: gives the claimed slots back to the owner by bringing
    /// `steal` up to `real` (which an owner pop may have moved meanwhile).
    #[doc(hidden)]
    pub fn steal_release(&self, claim: StealClaim) {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (steal, real) = unpack(head);
            debug_assert_eq!(steal, claim.from, "another claim in the way");
            match self.head.compare_exchange(
                head,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Steal phase 5, on the thief's own ring: publishes the first `n - 1`
    /// copied values and returns the last, for the thief to run now.
    ///
    /// # Safety
    ///
    /// The caller must be this ring's owner thread, and `steal_copy` must
    /// have written `n` (at least one) values from `dst_tail` on.
    #[doc(hidden)]
    pub unsafe fn steal_publish(&self, dst_tail: Pos, n: usize) -> T {
        let kept = (n - 1) as Pos;
        // Slot `dst_tail + kept` is past the tail, so no thief reads it.
        let last = self.read(dst_tail.wrapping_add(kept));
        if kept > 0 {
            self.tail
                .store(dst_tail.wrapping_add(kept), Ordering::Release);
        }
        last
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
mod tests;
