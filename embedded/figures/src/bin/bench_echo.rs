//! Echo's run-time figures: RAM per task, the spawn-run-complete cycle and
//! the wake-to-poll spans, each scenario on a fresh one-worker scheduler
//! driven by `run_worker` (parking in WFI), with detailed metrics on and
//! off. Prints `FIG` lines (see `run.sh`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;
use echo_figures::echo_host::BenchHost;
use echo_figures::measure::{self, Overhead};
use echo_figures::work::{
    self, Driver, Pender, Sixteen, SpawnTrivial, Spinner, Trigger, Trivial, Woken,
};
use echo_figures::{board, heap, out};
use echo_sched_core::{Config, Priority, Scheduler};

/// Wake-ups per wake-to-poll figure.
const WAKE_REPS: u32 = 8000;
/// Iterations per phase of the spawn cycle.
const CYCLE_ITERS: u32 = 4000;
/// Live tasks for the RAM figure.
const RAM_TASKS: usize = 100;

type Sched = Scheduler<BenchHost>;

fn new_scheduler(config: &Config) -> Sched {
    match Scheduler::new(BenchHost::new(), config.clone()) {
        Ok(s) => s,
        Err(_) => board::exit(false),
    }
}

/// Wake-to-poll: a High task woken `WAKE_REPS` times by `trigger`, with
/// `queued` Normal tasks that yield at every poll.
fn wake(config: &Config, key: &str, trigger: Trigger, queued: usize, overhead: &Overhead) {
    work::reset();
    let s = new_scheduler(config);
    let stop = s.clone();
    drop(s.spawn(
        Woken::new(WAKE_REPS, trigger, move || stop.shutdown()),
        Priority::High,
    ));
    if trigger == Trigger::Busy {
        drop(s.spawn(Pender, Priority::Normal));
    }
    for _ in 0..queued {
        drop(s.spawn(Spinner, Priority::Normal));
    }
    s.run_worker(0);
    if work::WAKE.count() != WAKE_REPS {
        board::exit(false);
    }
    measure::report(key, &work::WAKE, overhead);
}

struct EchoSpawn(Sched);

impl SpawnTrivial for EchoSpawn {
    fn spawn_trivial(&mut self) -> bool {
        self.0.try_spawn(Trivial, Priority::Normal).is_ok()
    }
}

/// The spawn-run-complete cycle: a Normal task that yields, then yields
/// and spawns a trivial Normal task (its handle dropped at once).
fn cycle(config: &Config, key: &str) {
    work::reset();
    work::TRIVIAL_RUNS.store(0, Relaxed);
    work::SPAWN_FAILURES.store(0, Relaxed);
    let s = new_scheduler(config);
    let stop = s.clone();
    let driver = Driver::new(EchoSpawn(s.clone()), CYCLE_ITERS, move || stop.shutdown());
    drop(s.spawn(driver, Priority::Normal));
    s.run_worker(0);
    report_cycle(key);
}

/// Prints the spawn cycle's figures (shared shape with embassy's).
fn report_cycle(key: &str) {
    let t = u64::from(board::NOMINAL_TICK_INSNS);
    let yield_ticks = u64::from(work::CYCLE_TICKS[0].load(Relaxed));
    let spawn_ticks = u64::from(work::CYCLE_TICKS[1].load(Relaxed));
    let iters = u64::from(CYCLE_ITERS);
    if work::TRIVIAL_RUNS.load(Relaxed) != CYCLE_ITERS || work::SPAWN_FAILURES.load(Relaxed) != 0 {
        out::line(format_args!("{key}: spawned tasks did not all run"));
        board::exit(false);
    }
    out::fig(
        &alloc::format!("{key}.yield"),
        yield_ticks * t * 100 / iters,
    );
    out::fig(
        &alloc::format!("{key}.cycle"),
        (spawn_ticks - yield_ticks) * t * 100 / iters,
    );
}

/// RAM per task: `RAM_TASKS` live tasks whose futures hold 16 bytes,
/// spawned from outside the pool and polled once, on a fresh scheduler.
fn ram(config: &Config, key: &str) {
    let mut handles = Vec::with_capacity(RAM_TASKS);
    let heap_before = heap::used();
    let s = new_scheduler(config);
    work::SIXTEEN_LOW.store(usize::MAX, Relaxed);
    work::SIXTEEN_HIGH.store(0, Relaxed);
    let heap0 = heap::used();
    for _ in 0..RAM_TASKS {
        handles.push(s.spawn(Sixteen::new(), Priority::Normal));
    }
    s.run_until_idle(0);
    let heap1 = heap::used();
    let slab = s.metrics().slab_bytes;
    let n = RAM_TASKS as u64;
    let stride =
        (work::SIXTEEN_HIGH.load(Relaxed) - work::SIXTEEN_LOW.load(Relaxed)) as u64 / (n - 1);
    out::fig_int(
        &alloc::format!("{key}.scheduler_heap"),
        (heap0 - heap_before) as u64,
    );
    out::fig(
        &alloc::format!("{key}.heap_per_task"),
        (heap1 - heap0) as u64 * 100 / n,
    );
    out::fig(
        &alloc::format!("{key}.slab_per_task"),
        slab as u64 * 100 / n,
    );
    out::fig_int(&alloc::format!("{key}.slab_bytes"), slab as u64);
    out::fig_int(&alloc::format!("{key}.stride"), stride);
    s.shutdown();
    drop(handles);
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    board::init();
    heap::init();
    out::line(format_args!("bench_echo on {}", board::MACHINE));
    let overhead = measure::calibrate(WAKE_REPS);

    let detailed = Config::new(1);
    let mut counters = Config::new(1);
    counters.detailed_metrics = false;
    let mut unpooled = Config::new(1);
    unpooled.pooled_slab = false;

    ram(&detailed, "echo.ram");
    ram(&unpooled, "echo.ram_unpooled");
    for (config, tag) in [(&detailed, "echo"), (&counters, "echo_nodetail")] {
        cycle(config, tag);
        wake(
            config,
            &alloc::format!("{tag}.wake_idle"),
            Trigger::Idle,
            0,
            &overhead,
        );
        wake(
            config,
            &alloc::format!("{tag}.wake_busy0"),
            Trigger::Busy,
            0,
            &overhead,
        );
        wake(
            config,
            &alloc::format!("{tag}.wake_busy3"),
            Trigger::Busy,
            3,
            &overhead,
        );
    }
    out::line(format_args!(
        "heap in use at the end: {} bytes",
        heap::used()
    ));
    out::line(format_args!("DONE"));
    board::exit(true)
}
