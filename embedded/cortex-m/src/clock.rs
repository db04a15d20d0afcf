//! The platform clock: SysTick counting core-clock cycles, extended to 64
//! bits by counting its wraps.
//!
//! Invariants:
//! - SysTick runs from the core clock, reloads at `RELOAD` and raises its
//!   exception at each wrap; nothing else reprograms it.
//! - Only the SysTick handler (`on_wrap`) writes `WRAPS`, so a load and a
//!   store are enough, also on cores with no read-modify-write.
//! - A reader masks interrupts and reads the counter; a wrap the handler
//!   has not counted yet shows as a pending SysTick, and is added. So the
//!   clock is right in any context, handlers of any priority included, as
//!   long as no handler runs for a whole wrap (0.67 s at 25 MHz).

use crate::chip;
use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};

/// SysTick's 24-bit reload value.
const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: AtomicU32 = AtomicU32::new(0);

/// Starts the clock at 0.
pub fn start(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Counts one wrap; the SysTick handler's work.
pub fn on_wrap() {
    WRAPS.store(
        WRAPS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Core-clock cycles since `start`.
pub fn ticks() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut wraps = WRAPS.load(Ordering::Relaxed);
        let mut left = SYST::get_current();
        if SCB::is_pendst_pending() {
            // A wrap not counted yet, before or after the read: read again,
            // now surely after it.
            left = SYST::get_current();
            wraps = wraps.wrapping_add(1);
        }
        u64::from(wraps) * u64::from(RELOAD + 1) + u64::from(RELOAD - left)
    })
}

/// Nanoseconds since `start`.
pub fn now_nanos() -> u64 {
    chip::ticks_to_nanos(ticks())
}
