//! The test suite every bare-metal host of Echo runs on its target.
//!
//! A host implements [`Board`] for its chip (the scheduler's `Platform`,
//! its interrupts, its heap) and calls [`run`] from its main context. Each
//! test builds a scheduler of its own, drives it with [`Board::run`] until
//! a task of the test shuts it down, and checks what happened. `run`
//! prints one line per test and a closing `N passed, N failed` line, and
//! returns whether every test passed; the host turns that into its exit
//! status (semihosting, or a test device).
//!
//! Rules the tests rely on:
//! - Interrupt handlers reach the suite only through [`irq::dispatch`],
//!   which runs the hook the running test installed, and nothing between
//!   tests (the harness clears the hook and stops the periodic interrupt
//!   after each test, whatever its result).
//! - Every test gives back all the heap it used: the harness compares the
//!   heap in use before and after each test, so a leak fails the test.
//! - `ECHO_SUITE` at build time (a test name, or a comma-separated list)
//!   runs only those tests; unset, all of them run.

#![no_std]

extern crate alloc;

pub mod heap;
pub mod irq;
pub mod out;
mod tests;
mod util;

use alloc::string::String;
use echo_sched_core::{Config, Platform, Scheduler};

/// What a chip gives the suite. Everything is global to the chip, so the
/// methods take no `self`.
pub trait Board: Sized + 'static {
    /// The scheduler's host on this chip.
    type Platform: Platform;
    /// The machine, for the log.
    const NAME: &'static str;
    /// Cores, and so workers, the suite's schedulers get.
    const CORES: usize;
    /// Tasks the interrupt-storm test keeps alive at once (RAM-bound).
    const STORM_TASKS: usize;
    /// The storm's interrupt periods are multiplied by this: 1 where the
    /// clock counts instructions (`-icount`); more where it is the host's
    /// real time and a 2 us period would leave the main context no time.
    const STORM_PERIOD_SCALE: u32 = 1;

    /// A new scheduler on this chip.
    fn scheduler(config: Config) -> Scheduler<Self::Platform>;

    /// Runs every worker of `scheduler`, one per core, until it shuts
    /// down; returns once every worker has left and no core holds a
    /// handle to it any more.
    fn run(scheduler: &Scheduler<Self::Platform>);

    /// The platform clock, in nanoseconds; callable from interrupt
    /// handlers.
    fn now_nanos() -> u64;

    /// The core the caller runs on (0 on a single-core chip).
    fn core_id() -> usize;

    /// Raises one software interrupt on the calling core; its handler
    /// calls [`irq::dispatch`]. It is taken before this returns (or as
    /// soon as the caller unmasks interrupts).
    fn pend_interrupt();

    /// Starts a periodic timer interrupt on every core, each calling
    /// [`irq::dispatch`], every `period_nanos` of the platform clock.
    fn start_periodic_interrupt(period_nanos: u32);

    /// Stops it; once this returns no periodic handler runs or starts.
    fn stop_periodic_interrupt();

    /// The global allocator.
    fn heap() -> &'static heap::LimitedHeap;

    /// How many times the platform has parked a worker (`park` and
    /// `park_until`) and been asked to unpark one, since boot. The host
    /// counts them, so they hold where the core's statistics (its
    /// `metrics` feature) are left out.
    fn parks_and_unparks() -> (usize, usize);
}

/// What a failed test says.
pub type Failure = String;

/// One test of the suite.
pub(crate) struct Test<B> {
    pub(crate) name: &'static str,
    pub(crate) run: fn() -> Result<(), Failure>,
    _board: core::marker::PhantomData<B>,
}

impl<B: Board> Test<B> {
    pub(crate) const fn new(name: &'static str, run: fn() -> Result<(), Failure>) -> Self {
        Test {
            name,
            run,
            _board: core::marker::PhantomData,
        }
    }
}

/// Whether `name` is selected by the build-time `ECHO_SUITE` filter.
fn selected(name: &str) -> bool {
    match option_env!("ECHO_SUITE") {
        None | Some("") => true,
        Some(list) => list.split(',').any(|n| n.trim() == name),
    }
}

/// Runs the suite; returns whether every selected test passed.
pub fn run<B: Board>() -> bool {
    println!(
        "echo-sched-core suite on {} ({} core{})",
        B::NAME,
        B::CORES,
        if B::CORES == 1 { "" } else { "s" }
    );
    let (mut passed, mut failed) = (0, 0);
    for test in tests::all::<B>() {
        if !selected(test.name) {
            continue;
        }
        println!("test {} ...", test.name);
        let heap_before = B::heap().used();
        let result = (test.run)();
        irq::clear();
        B::stop_periodic_interrupt();
        B::heap().set_limit(None);
        let leaked = B::heap().used().saturating_sub(heap_before);
        let result = result.and_then(|()| {
            if leaked == 0 {
                Ok(())
            } else {
                Err(alloc::format!("{leaked} bytes of heap not given back"))
            }
        });
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok", test.name);
            }
            Err(why) => {
                failed += 1;
                println!("test {} ... FAILED: {why}", test.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0 && passed > 0
}
