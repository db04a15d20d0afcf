//! The only module that chooses between real atomics and loom's.
//!
//! Everything in the crate that takes part in a concurrent protocol imports
//! its atomics, cells and spin hints from here, so `--cfg echo_loom` swaps
//! the whole crate onto loom's model checker at once. The cfg is
//! deliberately not `loom`: a global `--cfg loom` changes other crates in
//! the dependency tree as well.

#[cfg(not(echo_loom))]
mod imp {
    // Targets with compare-and-swap use core's atomics and alloc's `Arc`.
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) use alloc::sync::Arc;
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) use core::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence,
    };
    // The ring packs its head into an `AtomicU64` where the target has one,
    // and into an `AtomicU32` of two `u16` positions where it does not.
    #[cfg(all(target_has_atomic = "ptr", not(target_has_atomic = "64")))]
    pub(crate) use core::sync::atomic::AtomicU16;
    #[cfg(target_has_atomic = "64")]
    pub(crate) use core::sync::atomic::AtomicU64;
    // With compare-and-swap but no 64-bit atomics (thumbv7m, riscv32imac),
    // the timers' deadlines use a locked stand-in, which no interrupt
    // handler ever touches (see `lock_u64`).
    #[cfg(all(target_has_atomic = "ptr", not(target_has_atomic = "64")))]
    pub(crate) use super::lock_u64::AtomicU64;

    // Without compare-and-swap (thumbv6m: Cortex-M0/M0+), portable-atomic
    // emulates every read-modify-write inside a critical section, which
    // the firmware provides through the `critical-section` crate; loads
    // and stores stay plain instructions. portable-atomic-util's `Arc`
    // counts with those atomics.
    #[cfg(not(target_has_atomic = "ptr"))]
    pub(crate) use portable_atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        fence,
    };
    #[cfg(not(target_has_atomic = "ptr"))]
    pub(crate) use portable_atomic_util::Arc;

    /// Tells the CPU (or loom) that this thread is waiting on another.
    #[inline]
    pub(crate) fn spin_loop() {
        core::hint::spin_loop();
    }

    /// An `UnsafeCell` with loom's closure-based API, so the same code can
    /// be checked by loom's access tracker.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline]
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(echo_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };

    /// Under loom a spin must yield, or the model never lets the other
    /// thread make the progress this one waits for.
    #[inline]
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }
}

pub(crate) use imp::*;

/// An `Arc` that takes part in no protocol (a task's name), so loom need
/// not model it: alloc's where the target has compare-and-swap (loom
/// builds included), portable-atomic-util's elsewhere.
#[cfg(any(echo_loom, target_has_atomic = "ptr"))]
pub(crate) use alloc::sync::Arc as PlainArc;
#[cfg(all(not(echo_loom), not(target_has_atomic = "ptr")))]
pub(crate) use portable_atomic_util::Arc as PlainArc;

/// A 64-bit atomic for targets with compare-and-swap but without 64-bit
/// atomic instructions (such as `thumbv7em`): the timers' deadlines are
/// nanoseconds in a `u64`. A flag guards the value; the few operations the
/// core needs take it SeqCst.
///
/// A spin flag is not interrupt-safe: a handler that spun on it while the
/// code it interrupted held it would never return. None does: only
/// workers read and write timer deadlines, and nothing on the wake path
/// (`Waker::wake`, the inbox, the idle protocol, `Platform::unpark`) uses
/// a 64-bit atomic. Keep it that way.
#[cfg(all(
    not(echo_loom),
    target_has_atomic = "ptr",
    not(target_has_atomic = "64")
))]
mod lock_u64 {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicBool, Ordering};

    /// `load` and `store` of a `u64` under a spin flag.
    pub struct AtomicU64 {
        locked: AtomicBool,
        value: UnsafeCell<u64>,
    }

    // SAFETY: the value is only read or written while the flag is held.
    unsafe impl Sync for AtomicU64 {}

    impl AtomicU64 {
        pub const fn new(value: u64) -> Self {
            AtomicU64 {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        fn with<R>(&self, f: impl FnOnce(*mut u64) -> R) -> R {
            while self
                .locked
                .compare_exchange_weak(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                core::hint::spin_loop();
            }
            let r = f(self.value.get());
            self.locked.store(false, Ordering::SeqCst);
            r
        }

        // Only the timers read a 64-bit word back.
        #[cfg_attr(not(feature = "timers"), allow(dead_code))]
        pub fn load(&self, _order: Ordering) -> u64 {
            // SAFETY: the flag is held.
            self.with(|p| unsafe { *p })
        }

        pub fn store(&self, value: u64, _order: Ordering) {
            // SAFETY: the flag is held.
            self.with(|p| unsafe { *p = value })
        }
    }
}
