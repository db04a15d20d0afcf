//! Per-hart state: whether the hart is in its trap handler, its timer
//! compare shared between `park_until`'s deadline and the suite's
//! periodic interrupt, and the software-interrupt requests other harts
//! leave for it.
//!
//! Invariants:
//! - A hart's `Timer` is touched only by that hart, with its interrupts
//!   masked or from its trap handler (traps do not nest), so it needs no
//!   lock; its mtimecmp is always the earlier of its two times.
//! - Another hart asks for a change through a flag and the hart's MSIP:
//!   `retime` (the periodic interrupt started or stopped) and `soft` (the
//!   suite's software interrupt). The trap handler clears MSIP, then reads
//!   the flags, so a request set before the MSIP write is always seen.
//! - `in_trap` is set for the whole of the trap handler: `current_worker`
//!   answers `None` there.

use crate::{clint, csr};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use echo_embedded_suite::irq;

/// Harts this host runs (QEMU `-smp 2`).
pub const HARTS: usize = 2;

/// A hart's timer times, in mtime ticks (`u64::MAX`: none).
struct Timer {
    deadline: u64,
    next_tick: u64,
}

/// What one hart keeps.
pub struct Hart {
    in_trap: AtomicBool,
    retime: AtomicBool,
    soft: AtomicBool,
    timer: UnsafeCell<Timer>,
}

// SAFETY: the atomics are shared; `timer` is only touched by its own
// hart with interrupts masked (see the module's invariants).
unsafe impl Sync for Hart {}

static HART: [Hart; HARTS] = [const {
    Hart {
        in_trap: AtomicBool::new(false),
        retime: AtomicBool::new(false),
        soft: AtomicBool::new(false),
        timer: UnsafeCell::new(Timer {
            deadline: u64::MAX,
            next_tick: u64::MAX,
        }),
    }
}; HARTS];

/// The suite's periodic interrupt, in mtime ticks (0: off).
static PERIOD: AtomicU32 = AtomicU32::new(0);

/// Whether the calling hart is in its trap handler.
pub fn in_trap() -> bool {
    HART[csr::hartid()].in_trap.load(Ordering::Relaxed)
}

/// Runs `f` on the calling hart's timer, masked, then re-arms mtimecmp.
fn with_timer<R>(f: impl FnOnce(&mut Timer) -> R) -> R {
    csr::masked(|| {
        let hart = csr::hartid();
        // SAFETY: our own hart's timer, with interrupts masked (nothing
        // else on this hart can run, and no other hart touches it).
        let timer = unsafe { &mut *HART[hart].timer.get() };
        let r = f(timer);
        clint::set_mtimecmp(hart, timer.deadline.min(timer.next_tick));
        r
    })
}

/// Arms (or with `u64::MAX` disarms) the calling hart's deadline.
pub fn set_deadline(at_tick: u64) {
    with_timer(|t| t.deadline = at_tick);
}

/// Sets up the calling hart: both interrupt sources on, nothing armed.
pub fn init() {
    with_timer(|t| {
        t.deadline = u64::MAX;
        t.next_tick = u64::MAX;
    });
    csr::enable_sources(csr::MIE_MSIE | csr::MIE_MTIE);
}

/// Raises the suite's software interrupt on the calling hart; taken as
/// soon as interrupts are enabled.
pub fn pend_soft() {
    let hart = csr::hartid();
    HART[hart].soft.store(true, Ordering::SeqCst);
    csr::fence_before_io();
    clint::set_msip(hart, true);
}

/// Starts (`period_ticks > 0`) or stops the periodic interrupt on every
/// hart; returns once each hart has taken the change.
pub fn set_periodic(period_ticks: u32) {
    PERIOD.store(period_ticks, Ordering::SeqCst);
    for (hart, state) in HART.iter().enumerate() {
        state.retime.store(true, Ordering::SeqCst);
        csr::fence_before_io();
        clint::set_msip(hart, true);
    }
    for state in &HART {
        while state.retime.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
    }
}

/// The trap handler's work, after the assembly entry saved registers.
pub fn on_trap() {
    let hart = csr::hartid();
    let state = &HART[hart];
    state.in_trap.store(true, Ordering::Relaxed);
    let cause = csr::mcause();
    match (cause >> 31, cause & 0x7fff_ffff) {
        (1, 3) => on_software(hart, state),
        (1, 7) => on_timer(),
        _ => {
            let (epc, tval) = csr::mepc_mtval();
            panic!("hart {hart}: exception {cause} at {epc:#x} (mtval {tval:#x})");
        }
    }
    state.in_trap.store(false, Ordering::Relaxed);
}

fn on_software(hart: usize, state: &Hart) {
    // Clear first: a request flagged after this raises MSIP again.
    clint::set_msip(hart, false);
    if state.retime.load(Ordering::SeqCst) {
        let period = u64::from(PERIOD.load(Ordering::SeqCst));
        with_timer(|t| {
            t.next_tick = match period {
                0 => u64::MAX,
                p => clint::mtime() + p,
            }
        });
        state.retime.store(false, Ordering::SeqCst);
    }
    if state.soft.swap(false, Ordering::SeqCst) {
        irq::dispatch();
    }
    // An unpark needs nothing here: its token was set before MSIP, and the
    // WFI it ended is followed by a check of the token.
}

fn on_timer() {
    let now = clint::mtime();
    let tick = with_timer(|t| {
        if now >= t.deadline {
            // The parked worker re-checks the clock; nothing to do but
            // stop the interrupt.
            t.deadline = u64::MAX;
        }
        if now >= t.next_tick {
            let period = u64::from(PERIOD.load(Ordering::SeqCst));
            t.next_tick = match period {
                0 => u64::MAX,
                p => (t.next_tick + p).max(now + 1),
            };
            return true;
        }
        false
    });
    if tick {
        irq::dispatch();
    }
}

/// The critical section for both harts: this hart's interrupts masked
/// and a lock the other hart respects. Re-entrant on the holding hart
/// (nested sections, or a handler inside one, see it as held by
/// themselves and do not take it again).
struct BothHarts;

const NOBODY: usize = usize::MAX;
static HOLDER: AtomicUsize = AtomicUsize::new(NOBODY);
const WAS_ENABLED: u8 = 1;
const NESTED: u8 = 2;

critical_section::set_impl!(BothHarts);

// SAFETY: while a hart holds the section, its interrupts are masked and
// the other hart spins on `HOLDER`; release restores both exactly.
unsafe impl critical_section::Impl for BothHarts {
    unsafe fn acquire() -> u8 {
        let was = if csr::disable_interrupts() {
            WAS_ENABLED
        } else {
            0
        };
        let hart = csr::hartid();
        if HOLDER.load(Ordering::Relaxed) == hart {
            return was | NESTED;
        }
        while HOLDER
            .compare_exchange_weak(NOBODY, hart, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        was
    }

    unsafe fn release(state: u8) {
        if state & NESTED == 0 {
            HOLDER.store(NOBODY, Ordering::Release);
        }
        if state & WAS_ENABLED != 0 {
            csr::enable_interrupts();
        }
    }
}
