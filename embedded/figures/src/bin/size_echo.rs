//! The minimal Echo embedding for the size figures: one worker driven by
//! `run_until_idle`, two spawns, a trivial `Platform` (a counter for a
//! clock, a flag for `unpark`, no panic catching).
//!
//! With the `no-shutdown` feature it exits with the scheduler still alive,
//! as a firmware whose scheduler runs until reset does (and as the embassy
//! image does: embassy's executor has no shutdown): neither `shutdown` nor
//! the scheduler's drop is then in the image.
#![no_std]
#![no_main]

extern crate alloc;

use core::cell::Cell;
use echo_figures::{baseline_work, board};
use echo_sched_core::{Config, PanicPayload, Platform, Priority, Scheduler};

struct Tiny {
    worker: Cell<Option<usize>>,
    run_again: Cell<bool>,
    ticks: Cell<u64>,
}

// SAFETY: the firmware has one thread and no interrupt handler touches the
// host, so the value is never shared between contexts.
unsafe impl Send for Tiny {}
// SAFETY: as above.
unsafe impl Sync for Tiny {}

// SAFETY: one thread, so the cell answers for the calling thread.
unsafe impl Platform for Tiny {
    fn park(&self, _worker: usize) {}
    fn unpark(&self, _worker: usize) {
        self.run_again.set(true);
    }
    fn now_nanos(&self) -> u64 {
        let t = self.ticks.get() + 1;
        self.ticks.set(t);
        t
    }
    fn random_seed(&self) -> u64 {
        0x5eed
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.get()
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker.set(worker);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    if !baseline_work() {
        board::exit(false)
    }
    let host = Tiny {
        worker: Cell::new(None),
        run_again: Cell::new(false),
        ticks: Cell::new(0),
    };
    #[allow(unused_mut)]
    let mut config = Config::new(1);
    // Metrics "off" as far as echo-core allows today: counters only.
    #[cfg(feature = "no-detail")]
    {
        config.detailed_metrics = false;
    }
    let Ok(scheduler) = Scheduler::new(host, config) else {
        board::exit(false)
    };
    let a = scheduler.spawn(async { 6u32 * 7 }, Priority::High);
    let b = scheduler.spawn(async { 1u32 }, Priority::Normal);
    loop {
        scheduler.platform().run_again.set(false);
        scheduler.run_until_idle(0);
        if !scheduler.platform().run_again.get() {
            break;
        }
    }
    let ok = a.is_finished() && b.is_finished();
    #[cfg(not(feature = "no-shutdown"))]
    scheduler.shutdown();
    board::exit(ok)
}
