//! Echo on two RISC-V harts under QEMU's `virt` machine (`-smp 2 -bios
//! none`): one worker per hart, work stolen between them, and the
//! on-target suite. Output goes to the 16550 UART, the exit status to the
//! `sifive_test` device.
//!
//! Startup (`_start`, below): both harts enter at 0x8000_0000 with
//! interrupts off. Each takes its own stack; hart 0 zeroes `.bss` and
//! releases hart 1 through a flag in `.data`; both then install the trap
//! vector and enter Rust. Hart 0 runs the suite; hart 1 waits for a
//! scheduler to be handed to it (`Board::run`) and runs worker 1 on it.

#![no_std]
#![no_main]

mod clint;
mod csr;
mod hart;
mod platform;

use core::cell::RefCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering};
use critical_section::Mutex;
use echo_embedded_suite::heap::LimitedHeap;
use echo_embedded_suite::{Board, println};
use echo_sched_core::{Config, Scheduler};
use platform::Harts;

core::arch::global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    csrw mie, zero
    csrci mstatus, 8
    csrr a0, mhartid
    li t0, {harts}
    bgeu a0, t0, 9f              // a hart beyond ours: park forever
    la sp, _stack_top
    la t0, _hart_stack
    mul t1, a0, t0
    sub sp, sp, t1
    bnez a0, 2f
    la t0, _sbss                 // hart 0: zero .bss
    la t1, _ebss
1:  bgeu t0, t1, 3f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
3:  fence rw, rw
    la t0, _boot_flag
    li t1, 1
    sw t1, 0(t0)
    j 4f
2:  la t0, _boot_flag              // hart 1: wait for hart 0
    lw t1, 0(t0)
    beqz t1, 2b
    fence rw, rw
4:  la t0, _trap
    csrw mtvec, t0
    call {start}
9:  wfi
    j 9b

    .section .data
    .balign 4
_boot_flag:
    .word 0

    .section .text
    .balign 4
_trap:
    addi sp, sp, -64
    sw ra, 0(sp)
    sw t0, 4(sp)
    sw t1, 8(sp)
    sw t2, 12(sp)
    sw a0, 16(sp)
    sw a1, 20(sp)
    sw a2, 24(sp)
    sw a3, 28(sp)
    sw a4, 32(sp)
    sw a5, 36(sp)
    sw a6, 40(sp)
    sw a7, 44(sp)
    sw t3, 48(sp)
    sw t4, 52(sp)
    sw t5, 56(sp)
    sw t6, 60(sp)
    call {trap}
    lw ra, 0(sp)
    lw t0, 4(sp)
    lw t1, 8(sp)
    lw t2, 12(sp)
    lw a0, 16(sp)
    lw a1, 20(sp)
    lw a2, 24(sp)
    lw a3, 28(sp)
    lw a4, 32(sp)
    lw a5, 36(sp)
    lw a6, 40(sp)
    lw a7, 44(sp)
    lw t3, 48(sp)
    lw t4, 52(sp)
    lw t5, 56(sp)
    lw t6, 60(sp)
    addi sp, sp, 64
    mret
    "#,
    harts = const hart::HARTS,
    start = sym start,
    trap = sym trap,
);

const UART: usize = 0x1000_0000;
const TEST_DEVICE: usize = 0x10_0000;
const HEAP_BYTES: usize = 4 * 1024 * 1024;

#[global_allocator]
static HEAP: LimitedHeap = LimitedHeap::empty();

/// Writes to the 16550 UART (QEMU's is always ready).
fn write_uart(s: &str) {
    for b in s.bytes() {
        // SAFETY: the UART's transmit register.
        unsafe { core::ptr::write_volatile(UART as *mut u8, b) };
    }
}

/// Ends the QEMU run through the test device.
fn exit(passed: bool) -> ! {
    let code: u32 = if passed { 0x5555 } else { (1 << 16) | 0x3333 };
    // SAFETY: the sifive_test device's register.
    unsafe { core::ptr::write_volatile(TEST_DEVICE as *mut u32, code) };
    loop {
        csr::wfi();
    }
}

/// Hart 1's mailbox: the scheduler whose worker 1 it runs next.
static MAILBOX: Mutex<RefCell<Option<Scheduler<Harts>>>> = Mutex::new(RefCell::new(None));
/// Hart 1's state: idle, posted (a scheduler is in the mailbox), running,
/// done (it left the worker loop and dropped its handle).
static JOB: AtomicU32 = AtomicU32::new(IDLE);
const IDLE: u32 = 0;
const POSTED: u32 = 1;
const RUNNING: u32 = 2;
const DONE: u32 = 3;

/// Sleeps on the calling hart until `cond` holds; whoever makes it hold
/// raises this hart's MSIP.
fn wait_for(cond: impl Fn() -> bool) {
    while !csr::masked(|| {
        let met = cond();
        if !met {
            csr::wfi();
        }
        met
    }) {}
}

/// Hands `scheduler` to hart 1 for worker 1.
fn post_to_hart1(scheduler: &Scheduler<Harts>) {
    critical_section::with(|cs| *MAILBOX.borrow(cs).borrow_mut() = Some(scheduler.clone()));
    JOB.store(POSTED, Ordering::SeqCst);
    csr::fence_before_io();
    clint::set_msip(1, true);
}

/// Hart 1, forever: run worker 1 on each scheduler posted to it.
fn hart1_loop() -> ! {
    loop {
        wait_for(|| JOB.load(Ordering::SeqCst) == POSTED);
        JOB.store(RUNNING, Ordering::SeqCst);
        let scheduler = critical_section::with(|cs| MAILBOX.borrow(cs).borrow_mut().take());
        if let Some(scheduler) = scheduler {
            scheduler.run_worker(1);
        }
        JOB.store(DONE, Ordering::SeqCst);
        csr::fence_before_io();
        clint::set_msip(0, true);
    }
}

struct Virt;

impl Board for Virt {
    type Platform = Harts;
    const NAME: &'static str = "QEMU virt (riscv32imac, 2 harts, mtime 10 MHz)";
    const CORES: usize = hart::HARTS;
    const STORM_TASKS: usize = 2048;
    // Run without -icount (see run-suite.sh): periods of 20-42 us of real
    // time.
    const STORM_PERIOD_SCALE: u32 = 10;

    fn scheduler(config: Config) -> Scheduler<Harts> {
        Scheduler::new(Harts::new(), config).expect("the suite's configs are valid")
    }

    fn run(scheduler: &Scheduler<Harts>) {
        let both = scheduler.worker_count() > 1;
        if both {
            post_to_hart1(scheduler);
        }
        scheduler.run_worker(0);
        if both {
            wait_for(|| JOB.load(Ordering::SeqCst) == DONE);
            JOB.store(IDLE, Ordering::SeqCst);
        }
    }

    fn now_nanos() -> u64 {
        clint::mtime() * clint::NANOS_PER_TICK
    }

    fn core_id() -> usize {
        csr::hartid()
    }

    fn pend_interrupt() {
        hart::pend_soft();
    }

    fn start_periodic_interrupt(period_nanos: u32) {
        hart::set_periodic((period_nanos / clint::NANOS_PER_TICK as u32).max(1));
    }

    fn stop_periodic_interrupt() {
        hart::set_periodic(0);
    }

    fn heap() -> &'static LimitedHeap {
        &HEAP
    }

    fn parks_and_unparks() -> (usize, usize) {
        platform::parks_and_unparks()
    }
}

/// Both harts enter here from `_start`, on their own stacks.
extern "C" fn start(hartid: usize) -> ! {
    hart::init();
    if hartid != 0 {
        csr::enable_interrupts();
        hart1_loop();
    }
    static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
    // SAFETY: hart 0 runs this once, before any allocation; nothing else
    // names `HEAP_MEMORY`.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEMORY) as usize, HEAP_BYTES) };
    echo_embedded_suite::out::set_writer(write_uart);
    csr::enable_interrupts();
    exit(echo_embedded_suite::run::<Virt>())
}

/// Called by `_trap` with the caller-saved registers saved.
extern "C" fn trap() {
    hart::on_trap();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("hart {} panicked: {info}", csr::hartid());
    exit(false)
}
