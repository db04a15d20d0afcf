//! Cortex-M3 under QEMU: `mps2-an385` for the run-time figures (4 MiB of
//! RAM) and `lm3s6965evb` for the size images (64 KiB of RAM).
//!
//! - Clock: the AN385's CMSDK timer 0 (0x4000_0000), a 32-bit down-counter
//!   on the 25 MHz peripheral clock, read as an up-counter. Under
//!   `-icount shift=0` one tick is 40 instructions (calibrated at run time).
//! - Interrupts: IRQ 31, pended by software through the NVIC, stands for a
//!   device interrupt that happens while the executor is busy; SysTick as
//!   a one-shot timer stands for one that arrives while it sleeps in WFI.
//! - Output and exit: ARM semihosting.

use core::sync::atomic::AtomicBool;
#[cfg(feature = "bench")]
use core::sync::atomic::{AtomicU32, Ordering};

/// Bytes kept for the stack below the top of RAM.
const STACK_RESERVE: usize = 16 * 1024;

/// The heap: from the end of the static data to the stack reserve.
pub fn heap_region() -> (usize, usize) {
    unsafe extern "C" {
        static mut __sheap: u32;
        static mut _stack_start: u32;
    }
    let start = (&raw mut __sheap) as usize;
    let end = (&raw mut _stack_start) as usize - STACK_RESERVE;
    (start, end - start)
}

/// Ends QEMU through semihosting with a success or failure status.
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Whether the caller runs in an exception handler (IPSR is not zero).
#[inline(always)]
pub fn in_interrupt() -> bool {
    let ipsr: u32;
    // SAFETY: reading IPSR has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags))
    };
    ipsr & 0x1ff != 0
}

/// Sleeps in WFI until an interrupt has run, unless `token` is already
/// set; clears the token. Race-free: interrupts are masked from the check
/// to the WFI (a pending interrupt still ends WFI), and the handler runs
/// when they are unmasked.
pub fn wait_for_token(token: &AtomicBool) {
    use core::sync::atomic::Ordering::SeqCst;
    cortex_m::interrupt::disable();
    if !token.load(SeqCst) {
        cortex_m::asm::wfi();
    }
    // SAFETY: interrupts were enabled when this was called (the host runs
    // its loop with interrupts on); this only restores that.
    unsafe { cortex_m::interrupt::enable() };
    token.store(false, SeqCst);
}

/// The interrupt table (32 lines), all to `DefaultHandler` but line 31,
/// the software-pended "device" interrupt of the run-time figures.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
pub static __INTERRUPTS: [unsafe extern "C" fn(); 32] = {
    unsafe extern "C" {
        fn DefaultHandler();
    }
    #[allow(unused_mut)]
    let mut table = [DefaultHandler as unsafe extern "C" fn(); 32];
    #[cfg(feature = "bench")]
    {
        table[SOFT_IRQ as usize] = soft_irq;
    }
    table
};

/// The NVIC line pended by software.
#[cfg(feature = "bench")]
pub const SOFT_IRQ: u32 = 31;

#[cfg(feature = "bench")]
mod regs {
    pub const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
    pub const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
    pub const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;
    pub const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
    pub const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
    pub const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;
    pub const NVIC_ISER0: *mut u32 = 0xE000_E100 as *mut u32;
    pub const NVIC_ISPR0: *mut u32 = 0xE000_E200 as *mut u32;
}

/// Instructions per clock tick expected under `-icount shift=0`: 1 ns per
/// instruction, a 25 MHz clock.
#[cfg(feature = "bench")]
pub const NOMINAL_TICK_INSNS: u32 = 40;

/// The machine, as printed in the reports.
#[cfg(feature = "bench")]
pub const MACHINE: &str = "qemu-system-arm -M mps2-an385 (Cortex-M3)";

/// Starts the free-running clock and unmasks the soft interrupt.
#[cfg(feature = "bench")]
pub fn init() {
    use core::ptr::write_volatile;
    // SAFETY: MMIO writes to the AN385's timer 0 and the NVIC, which
    // nothing else uses.
    unsafe {
        write_volatile(regs::TIMER0_CTRL, 0);
        write_volatile(regs::TIMER0_RELOAD, u32::MAX);
        write_volatile(regs::TIMER0_VALUE, u32::MAX);
        write_volatile(regs::TIMER0_CTRL, 1);
        write_volatile(regs::NVIC_ISER0, 1 << SOFT_IRQ);
    }
}

/// The clock: ticks since `init`, wrapping at 2^32.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn ticks() -> u32 {
    // SAFETY: an MMIO read of timer 0's counter.
    !unsafe { core::ptr::read_volatile(regs::TIMER0_VALUE) }
}

#[cfg(feature = "bench")]
static CLOCK_HIGH: AtomicU32 = AtomicU32::new(0);
#[cfg(feature = "bench")]
static CLOCK_LAST: AtomicU32 = AtomicU32::new(0);

/// Monotonic nanoseconds: the 32-bit clock extended with a wrap count,
/// under a critical section so that an interrupt handler may call it too.
#[cfg(feature = "bench")]
pub fn now_nanos() -> u64 {
    critical_section::with(|_| {
        let t = ticks();
        let mut high = CLOCK_HIGH.load(Ordering::Relaxed);
        if t < CLOCK_LAST.load(Ordering::Relaxed) {
            high += 1;
            CLOCK_HIGH.store(high, Ordering::Relaxed);
        }
        CLOCK_LAST.store(t, Ordering::Relaxed);
        ((u64::from(high) << 32) | u64::from(t)) * u64::from(NOMINAL_TICK_INSNS)
    })
}

/// Raises the soft interrupt; its handler has run when this returns.
#[cfg(feature = "bench")]
#[inline(always)]
pub fn pend_soft_irq() {
    // SAFETY: writing a set-pending bit of the NVIC; the barriers make the
    // interrupt taken before the next instruction.
    unsafe {
        core::ptr::write_volatile(regs::NVIC_ISPR0, 1 << SOFT_IRQ);
        core::arch::asm!("dsb", "isb", options(nostack, preserves_flags));
    }
}

/// Fires the one-shot interrupt (SysTick on the 25 MHz CPU clock) after
/// about `insns` instructions.
#[cfg(feature = "bench")]
pub fn arm_oneshot(insns: u32) {
    use core::ptr::write_volatile;
    // SAFETY: SysTick is used by nothing else.
    unsafe {
        write_volatile(regs::SYST_RVR, insns / NOMINAL_TICK_INSNS);
        write_volatile(regs::SYST_CVR, 0);
        write_volatile(regs::SYST_CSR, 0b111);
    }
}

#[cfg(feature = "bench")]
unsafe extern "C" fn soft_irq() {
    crate::measure::on_irq();
}

#[cfg(feature = "bench")]
#[cortex_m_rt::exception]
fn SysTick() {
    // SAFETY: stops the one-shot timer (SysTick is used by nothing else).
    unsafe { core::ptr::write_volatile(regs::SYST_CSR, 0) };
    crate::measure::on_irq();
}

/// Writes to the host's standard output through semihosting.
#[cfg(feature = "bench")]
pub fn write_bytes(bytes: &[u8]) {
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

/// Counts `3 * k + 2` instructions exactly (`k` below 2^31).
#[cfg(feature = "bench")]
#[inline(always)]
pub fn delay3(k: u32) {
    // SAFETY: a register-only loop.
    unsafe {
        core::arch::asm!(
            "cmp {k}, #0",
            "beq 2f",
            "1:",
            "subs {k}, {k}, #1",
            "nop",
            "bne 1b",
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

/// No exact instruction counter on this core (QEMU has no DWT CYCCNT).
#[cfg(feature = "bench")]
#[inline(always)]
pub fn retired() -> Option<u32> {
    None
}
