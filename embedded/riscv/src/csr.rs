//! The few machine-mode CSRs and instructions the host uses.

/// mstatus.MIE: interrupts enabled on this hart.
const MSTATUS_MIE: usize = 1 << 3;
/// mie.MSIE and mie.MTIE: software and timer interrupts.
pub const MIE_MSIE: usize = 1 << 3;
pub const MIE_MTIE: usize = 1 << 7;

/// This hart's id.
#[inline]
pub fn hartid() -> usize {
    let id: usize;
    // SAFETY: reading mhartid has no side effect.
    unsafe { core::arch::asm!("csrr {}, mhartid", out(reg) id, options(nomem, nostack)) };
    id
}

/// The trap cause.
pub fn mcause() -> usize {
    let v: usize;
    // SAFETY: reading mcause has no side effect.
    unsafe { core::arch::asm!("csrr {}, mcause", out(reg) v, options(nomem, nostack)) };
    v
}

/// The trapping instruction's address and the trap value.
pub fn mepc_mtval() -> (usize, usize) {
    let (epc, tval): (usize, usize);
    // SAFETY: reading these CSRs has no side effect.
    unsafe {
        core::arch::asm!("csrr {}, mepc", "csrr {}, mtval", out(reg) epc, out(reg) tval, options(nomem, nostack))
    };
    (epc, tval)
}

/// Enables the given interrupt sources (mie bits).
pub fn enable_sources(bits: usize) {
    // SAFETY: setting mie bits only lets those interrupts be taken.
    unsafe { core::arch::asm!("csrs mie, {}", in(reg) bits, options(nomem, nostack)) };
}

/// Clears mstatus.MIE; returns whether it was set.
#[inline]
pub fn disable_interrupts() -> bool {
    let old: usize;
    // SAFETY: masking interrupts on this hart is always allowed.
    unsafe { core::arch::asm!("csrrci {}, mstatus, 8", out(reg) old, options(nostack)) };
    old & MSTATUS_MIE != 0
}

/// Sets mstatus.MIE: a pending enabled interrupt is taken at once.
#[inline]
pub fn enable_interrupts() {
    // SAFETY: the trap vector is installed before any hart enables
    // interrupts (see `main.rs`).
    unsafe { core::arch::asm!("csrsi mstatus, 8", options(nostack)) };
}

/// Runs `f` with this hart's interrupts masked, restoring them after.
#[inline]
pub fn masked<R>(f: impl FnOnce() -> R) -> R {
    let was = disable_interrupts();
    let r = f();
    if was {
        enable_interrupts();
    }
    r
}

/// Waits for an interrupt. It ends when one is pending and enabled in
/// mie, whether or not mstatus.MIE is set.
#[inline]
pub fn wfi() {
    // SAFETY: WFI only waits.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

/// Orders earlier memory accesses before later device writes (an MSIP
/// write must not overtake the token it announces).
#[inline]
pub fn fence_before_io() {
    // SAFETY: a fence has no other effect.
    unsafe { core::arch::asm!("fence rw, o", options(nostack)) };
}
