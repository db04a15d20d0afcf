//! The chip: its timers and interrupt lines. One module per QEMU machine,
//! chosen by the target (see `build.rs`); each provides the same items:
//!
//! - `NAME`, `STORM_TASKS`, `HEAP_BYTES`;
//! - `ticks_to_nanos`: the core clock's cycles in nanoseconds;
//! - `init`: interrupt priorities (below SysTick's, so the clock's wrap
//!   count preempts them) and unmasking;
//! - `arm_deadline(nanos)` / `disarm_deadline()`: a one-shot interrupt at
//!   a clock time, so that `park_until`'s `WFI` ends by it;
//! - `start_periodic(period)` / `stop_periodic()`: the suite's periodic
//!   interrupt;
//! - `pend_soft()`: the suite's software interrupt;
//! - `on_interrupt(irqn)`: the handler of those lines; false for others.

#[cfg(chip = "microbit")]
mod microbit;
#[cfg(chip = "microbit")]
pub use microbit::*;

#[cfg(chip = "mps2_an385")]
mod mps2_an385;
#[cfg(chip = "mps2_an385")]
pub use mps2_an385::*;

use cortex_m::interrupt::InterruptNumber;

/// A device interrupt line, by number.
#[derive(Clone, Copy)]
pub struct Irq(pub u16);

// SAFETY: the chip modules only name lines their NVIC implements.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Priority of the chip's interrupts: below SysTick (0, the highest).
pub const IRQ_PRIORITY: u8 = 0x80;
