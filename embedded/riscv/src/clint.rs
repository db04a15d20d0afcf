//! QEMU virt's CLINT at 0x0200_0000: per-hart software-interrupt bits
//! (MSIP), per-hart timer compares (mtimecmp) and the shared 10 MHz
//! counter (mtime).

const BASE: usize = 0x0200_0000;
const MTIMECMP: usize = BASE + 0x4000;
const MTIME: usize = BASE + 0xbff8;

/// Nanoseconds per mtime tick (10 MHz).
pub const NANOS_PER_TICK: u64 = 100;

fn read(addr: usize) -> u32 {
    // SAFETY: a CLINT register.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: a CLINT register.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Raises (or clears) hart `hart`'s software interrupt.
pub fn set_msip(hart: usize, raised: bool) {
    write(BASE + 4 * hart, u32::from(raised));
}

/// mtime, read as two halves until the high half is stable.
pub fn mtime() -> u64 {
    loop {
        let hi = read(MTIME + 4);
        let lo = read(MTIME);
        if read(MTIME + 4) == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Sets hart `hart`'s compare: its timer interrupt is pending while
/// mtime >= `at`. Call with that hart's interrupts masked (or from its
/// trap handler): the low half goes to all ones first, so no mix of old
/// and new halves is ever due early.
pub fn set_mtimecmp(hart: usize, at: u64) {
    let reg = MTIMECMP + 8 * hart;
    write(reg, u32::MAX);
    write(reg + 4, (at >> 32) as u32);
    write(reg, at as u32);
}
