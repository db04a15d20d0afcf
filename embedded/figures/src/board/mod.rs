//! The board under test: QEMU `mps2-an385` / `lm3s6965evb` (Cortex-M3) or
//! the RISC-V `virt` machine.

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
pub use arm::*;

#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
pub use riscv::*;
