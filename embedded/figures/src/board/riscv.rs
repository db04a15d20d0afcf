//! RV32IMAC under QEMU's `virt` machine, one hart.
//!
//! - Clock: the CLINT's `mtime` at 10 MHz: one tick is 100 instructions
//!   under `-icount shift=0` (calibrated at run time). QEMU also counts
//!   `minstret` from the same virtual clock, which gives an exact
//!   cross-check of the tick method.
//! - Interrupts: the machine software interrupt (CLINT `msip`) stands for
//!   a device interrupt that happens while the executor is busy; the
//!   machine timer (`mtimecmp`) for one that arrives while it sleeps in
//!   WFI.
//! - Output: the 16550 UART at 0x1000_0000. Exit: the SiFive test device
//!   at 0x10_0000.

use core::sync::atomic::{AtomicBool, Ordering};

const TEST_DEVICE: *mut u32 = 0x0010_0000 as *mut u32;

/// The heap: riscv-rt's `.heap` section (`_heap_size` in memory.x).
pub fn heap_region() -> (usize, usize) {
    unsafe extern "C" {
        static mut __sheap: u8;
        static _heap_size: u8;
    }
    let start = (&raw mut __sheap) as usize;
    let size = (&raw const _heap_size) as usize;
    (start, size)
}

/// Ends QEMU through the test device with a success or failure status.
pub fn exit(ok: bool) -> ! {
    let code = if ok { 0x5555 } else { (1 << 16) | 0x3333 };
    // SAFETY: an MMIO write to the virt machine's test device.
    unsafe { core::ptr::write_volatile(TEST_DEVICE, code) };
    loop {
        riscv::asm::wfi();
    }
}

/// Set by this crate's interrupt handlers while they run.
static IN_HANDLER: AtomicBool = AtomicBool::new(false);

/// Whether the caller runs in one of this crate's interrupt handlers.
#[inline(always)]
pub fn in_interrupt() -> bool {
    IN_HANDLER.load(Ordering::Relaxed)
}

/// Sleeps in WFI until an interrupt has run, unless `token` is already
/// set; clears the token. Race-free: interrupts are masked (mstatus.MIE)
/// from the check to the WFI (a pending interrupt still ends WFI), and the
/// handler runs when they are unmasked.
pub fn wait_for_token(token: &AtomicBool) {
    use core::sync::atomic::Ordering::SeqCst;
    riscv::interrupt::disable();
    if !token.load(SeqCst) {
        riscv::asm::wfi();
    }
    // SAFETY: interrupts were enabled when this was called; this only
    // restores that.
    unsafe { riscv::interrupt::enable() };
    token.store(false, SeqCst);
}

#[cfg(feature = "bench")]
mod regs {
    pub const MSIP0: *mut u32 = 0x0200_0000 as *mut u32;
    pub const MTIMECMP0_LO: *mut u32 = 0x0200_4000 as *mut u32;
    pub const MTIMECMP0_HI: *mut u32 = 0x0200_4004 as *mut u32;
    pub const MTIME_LO: *mut u32 = 0x0200_BFF8 as *mut u32;
    pub const MTIME_HI: *mut u32 = 0x0200_BFFC as *mut u32;
    pub const UART_THR: *mut u8 = 0x1000_0000 as *mut u8;
}

/// Instructions per clock tick expected under `-icount shift=0`: 1 ns per
/// instruction, a 10 MHz `mtime`.
#[cfg(feature = "bench")]
pub const NOMINAL_TICK_INSNS: u32 = 100;

/// The machine, as printed in the reports.
#[cfg(feature = "bench")]
pub const MACHINE: &str = "qemu-system-riscv32 -M virt (RV32IMAC, 1 hart)";

/// Disarms the timer and enables the machine software and timer
/// interrupts.
#[cfg(feature = "bench")]
pub fn init() {
    // SAFETY: MMIO writes to the CLINT, and this hart's interrupt enables;
    // both handlers are defined below.
    unsafe {
        core::ptr::write_volatile(regs::MTIMECMP0_HI, u32::MAX);
        core::ptr::write_volatile(regs::MTIMECMP0_LO, u32::MAX);
        riscv::register::mie::set_msoft();
        riscv::register::mie::set_mtimer();
        riscv::interrupt::enable();
    }
}

/// The clock: `mtime` ticks, wrapping at 2^32.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn ticks() -> u32 {
    // SAFETY: an MMIO read of the CLINT's mtime.
    unsafe { core::ptr::read_volatile(regs::MTIME_LO) }
}

/// Monotonic nanoseconds from the 64-bit `mtime` (high, low, high again,
/// so a carry between the two reads is never seen).
#[cfg(feature = "bench")]
pub fn now_nanos() -> u64 {
    loop {
        // SAFETY: MMIO reads of the CLINT's mtime.
        let (hi, lo, hi2) = unsafe {
            (
                core::ptr::read_volatile(regs::MTIME_HI),
                core::ptr::read_volatile(regs::MTIME_LO),
                core::ptr::read_volatile(regs::MTIME_HI),
            )
        };
        if hi == hi2 {
            return ((u64::from(hi) << 32) | u64::from(lo)) * u64::from(NOMINAL_TICK_INSNS);
        }
    }
}

/// Raises the machine software interrupt; its handler has run when this
/// returns.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn pend_soft_irq() {
    // SAFETY: an MMIO write to this hart's msip.
    unsafe { core::ptr::write_volatile(regs::MSIP0, 1) };
}

/// Fires the machine timer interrupt after about `insns` instructions.
#[cfg(feature = "bench")]
pub fn arm_oneshot(insns: u32) {
    let at =
        now_nanos() / u64::from(NOMINAL_TICK_INSNS) + u64::from(insns / NOMINAL_TICK_INSNS) + 1;
    // SAFETY: MMIO writes to this hart's mtimecmp, high word first set to
    // the maximum so no intermediate value fires early.
    unsafe {
        core::ptr::write_volatile(regs::MTIMECMP0_HI, u32::MAX);
        core::ptr::write_volatile(regs::MTIMECMP0_LO, at as u32);
        core::ptr::write_volatile(regs::MTIMECMP0_HI, (at >> 32) as u32);
    }
}

#[cfg(feature = "bench")]
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineSoft)]
fn machine_soft() {
    IN_HANDLER.store(true, Ordering::Relaxed);
    // SAFETY: clears this hart's msip.
    unsafe { core::ptr::write_volatile(regs::MSIP0, 0) };
    crate::measure::on_irq();
    IN_HANDLER.store(false, Ordering::Relaxed);
}

#[cfg(feature = "bench")]
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
fn machine_timer() {
    IN_HANDLER.store(true, Ordering::Relaxed);
    // SAFETY: disarms this hart's timer.
    unsafe {
        core::ptr::write_volatile(regs::MTIMECMP0_HI, u32::MAX);
        core::ptr::write_volatile(regs::MTIMECMP0_LO, u32::MAX);
    }
    crate::measure::on_irq();
    IN_HANDLER.store(false, Ordering::Relaxed);
}

/// Writes to the UART.
#[cfg(feature = "bench")]
pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: QEMU's 16550 takes a byte at any time.
        unsafe { core::ptr::write_volatile(regs::UART_THR, b) };
    }
}

/// Counts `3 * k + 1` instructions exactly.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn delay3(k: u32) {
    // SAFETY: a register-only loop.
    unsafe {
        core::arch::asm!(
            "beqz {k}, 2f",
            "1:",
            "addi {k}, {k}, -1",
            "nop",
            "bnez {k}, 1b",
            "2:",
            k = inout(reg) k => _,
            options(nomem, nostack),
        );
    }
}

/// Exactly 1000 instructions.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn sled1000() {
    // SAFETY: no-operations.
    unsafe {
        core::arch::asm!(
            ".rept 1000",
            "nop",
            ".endr",
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// The low word of `minstret`, which QEMU derives from the virtual clock
/// under `-icount`.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn retired() -> Option<u32> {
    let v: u32;
    // SAFETY: reading a counter CSR in machine mode.
    // Not `nomem`: the read must stay in order with the clock's MMIO read.
    unsafe { core::arch::asm!("csrr {}, minstret", out(reg) v, options(nostack)) };
    Some(v)
}
