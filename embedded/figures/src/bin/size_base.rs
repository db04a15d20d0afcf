//! The baseline size image: the same runtime, allocator and panic handler
//! as `size_echo` and `size_embassy`, and no scheduler. It allocates, grows
//! and frees memory (as they all do) so that the allocator's code is
//! linked as it is there.
#![no_std]
#![no_main]

use echo_figures::{baseline_work, board};

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    let ok = baseline_work();
    board::exit(ok)
}
