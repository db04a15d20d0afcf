//! QEMU's `mps2-an385`: a Cortex-M3 at 25 MHz with two CMSDK APB timers
//! (32-bit down counters at the core clock) on lines 8 and 9. Timer 0 is
//! the suite's periodic interrupt, timer 1 the deadline; line 31 has no
//! device and serves as the software interrupt.

use super::{IRQ_PRIORITY, Irq};
use crate::clock;
use cortex_m::peripheral::NVIC;
use echo_embedded_suite::irq;

pub const NAME: &str = "QEMU mps2-an385 (Cortex-M3, 25 MHz)";
pub const STORM_TASKS: usize = 2048;
pub const HEAP_BYTES: usize = 1024 * 1024;

const NANOS_PER_TICK: u64 = 40;

pub fn ticks_to_nanos(ticks: u64) -> u64 {
    ticks * NANOS_PER_TICK
}

/// A CMSDK APB timer's registers.
struct ApbTimer(usize);

const CTRL_ENABLE: u32 = 1 << 0;
const CTRL_IRQ: u32 = 1 << 3;

impl ApbTimer {
    fn write(&self, offset: usize, value: u32) {
        // SAFETY: a register of a timer this module owns.
        unsafe { core::ptr::write_volatile((self.0 + offset) as *mut u32, value) }
    }

    /// Counts `ticks` down, interrupts at zero, reloads `ticks` again.
    fn run(&self, ticks: u32) {
        self.write(0x0, 0);
        self.write(0x8, ticks);
        self.write(0x4, ticks);
        self.write(0xc, 1);
        self.write(0x0, CTRL_ENABLE | CTRL_IRQ);
    }

    fn stop(&self) {
        self.write(0x0, 0);
        self.write(0xc, 1);
    }

    fn clear(&self) {
        self.write(0xc, 1);
    }
}

const PERIODIC: ApbTimer = ApbTimer(0x4000_0000);
const PERIODIC_IRQ: Irq = Irq(8);
const DEADLINE: ApbTimer = ApbTimer(0x4000_1000);
const DEADLINE_IRQ: Irq = Irq(9);
const SOFT_IRQ: Irq = Irq(31);

pub fn init(nvic: &mut NVIC) {
    for line in [PERIODIC_IRQ, DEADLINE_IRQ, SOFT_IRQ] {
        // SAFETY: priorities are set before the lines are unmasked; no
        // priority-based critical section exists.
        unsafe {
            nvic.set_priority(line, IRQ_PRIORITY);
            NVIC::unmask(line);
        }
    }
}

pub fn arm_deadline(deadline_nanos: u64) {
    let now = clock::now_nanos();
    // At most about 10 s ahead; the park loop re-arms for the rest.
    let ticks = deadline_nanos
        .saturating_sub(now)
        .div_ceil(NANOS_PER_TICK)
        .clamp(1, 250_000_000);
    DEADLINE.run(ticks as u32);
}

pub fn disarm_deadline() {
    DEADLINE.stop();
    NVIC::unpend(DEADLINE_IRQ);
}

pub fn start_periodic(period_nanos: u32) {
    let ticks = (u64::from(period_nanos) / NANOS_PER_TICK).max(1);
    PERIODIC.run(ticks as u32);
}

pub fn stop_periodic() {
    PERIODIC.stop();
    NVIC::unpend(PERIODIC_IRQ);
}

pub fn pend_soft() {
    NVIC::pend(SOFT_IRQ);
}

pub fn on_interrupt(irqn: i16) -> bool {
    match irqn {
        8 => {
            PERIODIC.clear();
            irq::dispatch();
        }
        9 => DEADLINE.stop(), // the WFI it ended re-checks the clock
        31 => irq::dispatch(),
        _ => return false,
    }
    true
}
