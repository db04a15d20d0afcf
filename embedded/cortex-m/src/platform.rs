//! `CortexM`: echo-core's `Platform` for one Cortex-M core, with the single
//! worker in thread mode and interrupts as the only other contexts.
//!
//! Invariants:
//! - `token` is the unpark token: `unpark` sets it from any context;
//!   only the worker clears it, with interrupts masked.
//! - Parking is race-free: with interrupts masked the worker checks the
//!   token (and the deadline), then executes `WFI`. An interrupt that
//!   became pending after the check still ends the `WFI` (pending wakes
//!   it even while masked), and its handler runs when the worker unmasks,
//!   after which the worker checks again. So a wake is never slept
//!   through.
//! - `current_worker` reads IPSR: in any exception handler it is `None`,
//!   so a wake from a handler takes the outside path and never touches
//!   the worker's own queues, which the code it interrupted may be in the
//!   middle of changing.

use crate::{chip, clock};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Parks and unparks so far, for the suite (`Board::parks_and_unparks`).
static PARKS: AtomicUsize = AtomicUsize::new(0);
static UNPARKS: AtomicUsize = AtomicUsize::new(0);

/// Adds one to `counter` from any context: masked, a load and a store
/// are atomic on a core without read-modify-write instructions.
fn count(counter: &AtomicUsize) {
    cortex_m::interrupt::free(|_| {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed)
    });
}

/// Parks and unparks since boot.
pub fn parks_and_unparks() -> (usize, usize) {
    (
        PARKS.load(Ordering::Relaxed),
        UNPARKS.load(Ordering::Relaxed),
    )
}
use echo_sched_core::{PanicPayload, Platform};

/// The host of a scheduler on this core.
pub struct CortexM {
    /// 0: thread mode is not a worker; `i + 1`: it runs worker `i`.
    worker: AtomicUsize,
    token: AtomicBool,
}

impl CortexM {
    /// A host with no worker running and no token.
    pub const fn new() -> CortexM {
        CortexM {
            worker: AtomicUsize::new(0),
            token: AtomicBool::new(false),
        }
    }

    /// Sleeps in `WFI` until the token is set or the clock reaches
    /// `deadline` (`u64::MAX`: no deadline), then takes the token.
    fn wait(&self, deadline: u64) {
        loop {
            if deadline != u64::MAX {
                // Re-armed each round: a far deadline is reached in steps.
                chip::arm_deadline(deadline);
            }
            let woke = cortex_m::interrupt::free(|_| {
                // Masked: a load and a store take the token atomically on
                // a core without swap.
                if self.token.load(Ordering::Acquire) {
                    self.token.store(false, Ordering::Relaxed);
                    return true;
                }
                if deadline != u64::MAX && clock::now_nanos() >= deadline {
                    return true;
                }
                cortex_m::asm::wfi();
                false
            });
            // Unmasked: the handler of whatever ended the WFI has run.
            if woke {
                break;
            }
        }
        if deadline != u64::MAX {
            chip::disarm_deadline();
        }
    }
}

/// Whether the caller runs in an exception handler (IPSR holds the
/// exception number; 0 in thread mode).
pub fn in_handler() -> bool {
    let ipsr: u32;
    // SAFETY: reading IPSR has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags))
    };
    ipsr & 0x1ff != 0
}

// SAFETY: there is one thread (thread mode); handlers see `None` from
// `current_worker`, so it answers `Some(i)` exactly in thread mode after
// `set_current_worker(Some(i))`, which only thread mode calls.
unsafe impl Platform for CortexM {
    fn park(&self, _worker: usize) {
        count(&PARKS);
        self.wait(u64::MAX);
    }

    /// Interrupt-safe: a store and `SEV`.
    fn unpark(&self, _worker: usize) {
        count(&UNPARKS);
        self.token.store(true, Ordering::Release);
        // WFI needs no event; SEV keeps a WFE-based park correct too.
        cortex_m::asm::sev();
    }

    fn park_until(&self, _worker: usize, deadline_nanos: u64) {
        count(&PARKS);
        self.wait(deadline_nanos);
    }

    /// Interrupt-safe (masks interrupts for a few instructions).
    fn now_nanos(&self) -> u64 {
        clock::now_nanos()
    }

    fn random_seed(&self) -> u64 {
        0x2545_f491_4f6c_dd1d ^ clock::ticks()
    }

    /// Interrupt-safe: `None` in every handler.
    fn current_worker(&self) -> Option<usize> {
        if in_handler() {
            return None;
        }
        self.worker.load(Ordering::Relaxed).checked_sub(1)
    }

    fn set_current_worker(&self, worker: Option<usize>) {
        debug_assert!(!in_handler(), "a handler cannot become a worker");
        self.worker
            .store(worker.map_or(0, |w| w + 1), Ordering::Relaxed);
    }

    /// Panics halt the chip (`panic = "abort"`), so there is nothing to
    /// catch.
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}
