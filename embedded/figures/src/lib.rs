//! Shared pieces of the figure firmwares: the boards (timers, interrupts,
//! output, exit), the heap, the measurement method and the workloads that
//! Echo and embassy-executor both run.
//!
//! Nothing here is a scheduler: `src/bin/` holds one firmware per
//! scheduler and figure. See `README.md` for the method.
#![no_std]

extern crate alloc;

pub mod board;
pub mod heap;
#[cfg(feature = "bench")]
pub mod measure;
#[cfg(feature = "bench")]
pub mod out;
#[cfg(feature = "bench")]
pub mod work;

#[cfg(all(feature = "bench", feature = "echo"))]
pub mod echo_host;

/// The work every size image does besides its scheduler: allocate, grow
/// and free memory, so that the allocator's code is linked in all of them
/// (the baseline has nothing else).
pub fn baseline_work() -> bool {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::hint::black_box;
    heap::init();
    let boxed = black_box(Box::new(black_box(7u32)));
    let mut v: Vec<u32> = Vec::new();
    for i in 0..black_box(40) {
        v.push(i);
    }
    let ok = *boxed == 7 && v.len() == 40;
    drop(black_box(v));
    drop(boxed);
    ok
}

/// Without the `bench` feature (the size images) a panic exits with a
/// failure status and formats nothing, so that no `core::fmt` code is
/// linked on its account.
#[cfg(not(feature = "bench"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    board::exit(false)
}

/// With `bench`, a panic prints its message first.
#[cfg(feature = "bench")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let _ = writeln!(out::Out, "PANIC: {info}");
    board::exit(false)
}
