//! QEMU's `microbit`: an nRF51822, Cortex-M0 at 16 MHz, 16 KiB of RAM.
//! TIMER0 (line 8) is the suite's periodic interrupt, TIMER1 (line 9) the
//! deadline, both 32-bit at 16 MHz; SWI0 (line 20) is the software
//! interrupt. The clock is SysTick, which QEMU models on this machine; a
//! real nRF51 has none (a port to it would count TIMER2 or the RTC), but
//! the Cortex-M0+ chips Echo aims at, such as the RP2040, do.

use super::{IRQ_PRIORITY, Irq};
use crate::clock;
use cortex_m::peripheral::NVIC;
use echo_embedded_suite::irq;

pub const NAME: &str = "QEMU microbit (nRF51822, Cortex-M0, 16 MHz, 16 KiB RAM)";
/// Tasks of the storm: with their slots they take about 4.5 KiB of the
/// 10 KiB heap (a scheduler takes 3.3 KiB).
pub const STORM_TASKS: usize = 48;
pub const HEAP_BYTES: usize = 10 * 1024;

/// 62.5 ns per cycle.
pub fn ticks_to_nanos(ticks: u64) -> u64 {
    ticks * 125 / 2
}

fn nanos_to_ticks(nanos: u64) -> u64 {
    (nanos * 2).div_ceil(125)
}

/// An nRF51 TIMER's registers.
struct Timer(usize);

const TASKS_START: usize = 0x000;
const TASKS_STOP: usize = 0x004;
const TASKS_CLEAR: usize = 0x00c;
const EVENTS_COMPARE0: usize = 0x140;
const SHORTS: usize = 0x200;
const INTENSET: usize = 0x304;
const MODE: usize = 0x504;
const BITMODE: usize = 0x508;
const PRESCALER: usize = 0x510;
const CC0: usize = 0x540;

const SHORT_COMPARE0_CLEAR: u32 = 1 << 0;
const SHORT_COMPARE0_STOP: u32 = 1 << 8;
const INT_COMPARE0: u32 = 1 << 16;

impl Timer {
    fn write(&self, offset: usize, value: u32) {
        // SAFETY: a register of a timer this module owns.
        unsafe { core::ptr::write_volatile((self.0 + offset) as *mut u32, value) }
    }

    /// Interrupts after `ticks`; then clears and goes on (`periodic`) or
    /// stops.
    fn run(&self, ticks: u32, periodic: bool) {
        self.write(TASKS_STOP, 1);
        self.write(MODE, 0);
        self.write(BITMODE, 3); // 32 bits
        self.write(PRESCALER, 0); // 16 MHz
        self.write(TASKS_CLEAR, 1);
        self.write(CC0, ticks);
        self.write(EVENTS_COMPARE0, 0);
        let short = if periodic {
            SHORT_COMPARE0_CLEAR
        } else {
            SHORT_COMPARE0_STOP
        };
        self.write(SHORTS, short);
        self.write(INTENSET, INT_COMPARE0);
        self.write(TASKS_START, 1);
    }

    fn stop(&self) {
        self.write(TASKS_STOP, 1);
        self.write(EVENTS_COMPARE0, 0);
    }

    fn clear(&self) {
        self.write(EVENTS_COMPARE0, 0);
    }
}

const PERIODIC: Timer = Timer(0x4000_8000);
const PERIODIC_IRQ: Irq = Irq(8);
const DEADLINE: Timer = Timer(0x4000_9000);
const DEADLINE_IRQ: Irq = Irq(9);
const SOFT_IRQ: Irq = Irq(20);

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
    let ticks = nanos_to_ticks(deadline_nanos.saturating_sub(clock::now_nanos()));
    DEADLINE.run(ticks.clamp(1, 160_000_000) as u32, false);
}

pub fn disarm_deadline() {
    DEADLINE.stop();
    NVIC::unpend(DEADLINE_IRQ);
}

pub fn start_periodic(period_nanos: u32) {
    let ticks = nanos_to_ticks(u64::from(period_nanos)).max(1);
    PERIODIC.run(ticks as u32, true);
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
        9 => DEADLINE.stop(),
        20 => irq::dispatch(),
        _ => return false,
    }
    true
}
