//! `Harts`: echo-core's `Platform` for RISC-V harts, worker `i` on hart
//! `i`.
//!
//! Invariants:
//! - `token[i]` is worker `i`'s unpark token: `unpark` sets it, then
//!   raises hart `i`'s software interrupt; only hart `i` clears it, with
//!   its interrupts masked.
//! - Parking is race-free: with mstatus.MIE clear, the hart checks its
//!   token and deadline, then executes `WFI`, which ends on any pending
//!   enabled interrupt even while MIE is clear; unmasking then takes the
//!   trap, and the loop checks again. A wake is never slept through.
//! - `worker[h]` is what hart `h` last passed to `set_current_worker`;
//!   `current_worker` answers from it for the calling hart, and `None`
//!   inside a trap handler, so a wake from a handler takes the outside
//!   path and never touches the worker queues of the code it interrupted.

use crate::hart::{self, HARTS};
use crate::{clint, csr};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use echo_sched_core::{PanicPayload, Platform};

/// Parks and unparks so far, for the suite (`Board::parks_and_unparks`).
static PARKS: AtomicUsize = AtomicUsize::new(0);
static UNPARKS: AtomicUsize = AtomicUsize::new(0);

/// Parks and unparks since boot, on every hart.
pub fn parks_and_unparks() -> (usize, usize) {
    (
        PARKS.load(Ordering::Relaxed),
        UNPARKS.load(Ordering::Relaxed),
    )
}

/// The host of a scheduler on these harts.
pub struct Harts {
    /// Per hart: 0, or `i + 1` while it runs worker `i`.
    worker: [AtomicUsize; HARTS],
    token: [AtomicBool; HARTS],
}

impl Harts {
    pub const fn new() -> Harts {
        Harts {
            worker: [const { AtomicUsize::new(0) }; HARTS],
            token: [const { AtomicBool::new(false) }; HARTS],
        }
    }

    /// Sleeps in `WFI` until worker `w`'s token is set or mtime reaches
    /// `deadline` ticks (`u64::MAX`: none), then takes the token.
    fn wait(&self, w: usize, deadline: u64) {
        debug_assert_eq!(w, csr::hartid(), "worker w parks on hart w");
        if deadline != u64::MAX {
            hart::set_deadline(deadline);
        }
        loop {
            let woke = csr::masked(|| {
                if self.token[w].load(Ordering::Acquire) {
                    self.token[w].store(false, Ordering::Relaxed);
                    return true;
                }
                if deadline != u64::MAX && clint::mtime() >= deadline {
                    return true;
                }
                csr::wfi();
                false
            });
            // Unmasked: the trap that ended the WFI has been handled.
            if woke {
                break;
            }
        }
        if deadline != u64::MAX {
            hart::set_deadline(u64::MAX);
        }
    }
}

// SAFETY: `worker` is indexed by the calling hart and written only by
// that hart; trap handlers see `None`. So `current_worker` answers for
// the calling context only.
unsafe impl Platform for Harts {
    fn park(&self, worker: usize) {
        PARKS.fetch_add(1, Ordering::Relaxed);
        self.wait(worker, u64::MAX);
    }

    /// Interrupt-safe: a store, a fence and an MMIO write.
    fn unpark(&self, worker: usize) {
        UNPARKS.fetch_add(1, Ordering::Relaxed);
        self.token[worker].store(true, Ordering::Release);
        if worker != csr::hartid() {
            // The hart running this code is not in WFI: only another
            // hart needs the interrupt.
            csr::fence_before_io();
            clint::set_msip(worker, true);
        }
    }

    fn park_until(&self, worker: usize, deadline_nanos: u64) {
        PARKS.fetch_add(1, Ordering::Relaxed);
        let ticks = match deadline_nanos {
            u64::MAX => u64::MAX,
            d => d.div_ceil(clint::NANOS_PER_TICK),
        };
        self.wait(worker, ticks);
    }

    /// Interrupt-safe: reads mtime.
    fn now_nanos(&self) -> u64 {
        clint::mtime() * clint::NANOS_PER_TICK
    }

    fn random_seed(&self) -> u64 {
        0x9e37_79b9_7f4a_7c15 ^ clint::mtime()
    }

    /// Interrupt-safe: `None` in a trap handler.
    fn current_worker(&self) -> Option<usize> {
        if hart::in_trap() {
            return None;
        }
        self.worker[csr::hartid()]
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }

    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker[csr::hartid()].store(worker.map_or(0, |w| w + 1), Ordering::Relaxed);
    }

    /// Panics stop the machine (`panic = "abort"`).
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}
