//! Echo on one Cortex-M core, under QEMU: the `Platform` (`platform.rs`),
//! the clock (`clock.rs`), the chip's timers (`chip/`), and the on-target
//! suite. Output and the exit status go through semihosting.
//!
//! Contexts: thread mode runs the suite and the scheduler's one worker;
//! SysTick (highest priority) counts clock wraps;
//! the chip's lines (lower priority) are the deadline, the suite's
//! periodic interrupt and its software interrupt.

#![no_std]
#![no_main]

#[cfg(not(any(chip = "mps2_an385", chip = "microbit")))]
compile_error!("build for thumbv7m-none-eabi (mps2-an385) or thumbv6m-none-eabi (microbit)");

mod chip;
mod clock;
mod platform;

use core::cell::RefCell;
use core::mem::MaybeUninit;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
use critical_section::Mutex;
use echo_embedded_suite::heap::LimitedHeap;
use echo_embedded_suite::{Board, println};
use echo_sched_core::{Config, Scheduler};
use platform::CortexM;

#[global_allocator]
static HEAP: LimitedHeap = LimitedHeap::empty();

static STDOUT: Mutex<RefCell<Option<hio::HostStream>>> = Mutex::new(RefCell::new(None));

/// Writes to the host's stdout through semihosting.
fn write_stdout(s: &str) {
    critical_section::with(|cs| {
        if let Some(out) = STDOUT.borrow(cs).borrow_mut().as_mut() {
            let _ = out.write_all(s.as_bytes());
        }
    });
}

/// Ends the QEMU run with the suite's status.
fn exit(passed: bool) -> ! {
    debug::exit(if passed {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

struct Chip;

impl Board for Chip {
    type Platform = CortexM;
    const NAME: &'static str = chip::NAME;
    const CORES: usize = 1;
    const STORM_TASKS: usize = chip::STORM_TASKS;

    fn scheduler(config: Config) -> Scheduler<CortexM> {
        Scheduler::new(CortexM::new(), config).expect("the suite's configs are valid")
    }

    fn run(scheduler: &Scheduler<CortexM>) {
        scheduler.run_worker(0);
    }

    fn now_nanos() -> u64 {
        clock::now_nanos()
    }

    fn core_id() -> usize {
        0
    }

    fn pend_interrupt() {
        chip::pend_soft();
    }

    fn start_periodic_interrupt(period_nanos: u32) {
        chip::start_periodic(period_nanos);
    }

    fn stop_periodic_interrupt() {
        chip::stop_periodic();
    }

    fn heap() -> &'static LimitedHeap {
        &HEAP
    }

    fn parks_and_unparks() -> (usize, usize) {
        platform::parks_and_unparks()
    }
}

#[entry]
fn main() -> ! {
    static mut HEAP_MEMORY: [MaybeUninit<u8>; chip::HEAP_BYTES] =
        [MaybeUninit::uninit(); chip::HEAP_BYTES];
    // SAFETY: `entry` makes `HEAP_MEMORY` a `&'static mut` that nothing
    // else sees; it is handed to the allocator once, before any allocation.
    unsafe { HEAP.init(HEAP_MEMORY.as_mut_ptr() as usize, chip::HEAP_BYTES) };
    if let Ok(out) = hio::hstdout() {
        critical_section::with(|cs| *STDOUT.borrow(cs).borrow_mut() = Some(out));
    }
    echo_embedded_suite::out::set_writer(write_stdout);

    let mut p = cortex_m::Peripherals::take().expect("taken once");
    // SAFETY: SysTick gets the highest priority before any interrupt is
    // enabled; no priority-based critical section exists.
    unsafe {
        p.SCB
            .set_priority(cortex_m::peripheral::scb::SystemHandler::SysTick, 0)
    };
    clock::start(&mut p.SYST);
    chip::init(&mut p.NVIC);

    exit(echo_embedded_suite::run::<Chip>())
}

#[exception]
fn SysTick() {
    clock::on_wrap();
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if !chip::on_interrupt(irqn) {
        panic!("unexpected interrupt {irqn}");
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    println!("hard fault: {frame:?}");
    exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panicked: {info}");
    exit(false)
}
