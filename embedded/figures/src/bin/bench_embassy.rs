//! embassy-executor's run-time figures, the same workloads as
//! `bench_echo`: the thread-mode executor (`Executor::run`, WFE on
//! Cortex-M, WFI on RISC-V), tasks from static `TaskPool`s. One
//! orchestrating task spawns each scenario's tasks and waits for the end;
//! it is not queued while a scenario runs. Prints `FIG` lines.
#![no_std]
#![no_main]

extern crate alloc;

use core::cell::UnsafeCell;
use core::future::poll_fn;
use core::mem::{MaybeUninit, align_of, size_of};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use core::task::{Poll, Waker};
use echo_figures::measure::{self, Overhead};
use echo_figures::work::{
    self, Driver, Pender, Sixteen, SpawnTrivial, Spinner, Trigger, Trivial, Woken,
};
use echo_figures::{board, heap, out};
use embassy_executor::raw::{TaskPool, TaskStorage};
use embassy_executor::{Executor, SpawnError, SpawnToken, Spawner};

const WAKE_REPS: u32 = 8000;
const CYCLE_ITERS: u32 = 4000;
const RAM_TASKS: usize = 100;

type Done = fn();

static WOKEN: TaskPool<Woken<Done>, 1> = TaskPool::new();
static PENDER: TaskPool<Pender, 1> = TaskPool::new();
static SPINNERS: TaskPool<Spinner, 3> = TaskPool::new();
static DRIVER: TaskPool<Driver<EmbassySpawn, Done>, 1> = TaskPool::new();
static TRIVIAL: TaskPool<Trivial, 1> = TaskPool::new();
static SIXTEENS: TaskPool<Sixteen, RAM_TASKS> = TaskPool::new();

/// The end of a scenario, and the orchestrator's waker.
static SCENARIO_DONE: AtomicBool = AtomicBool::new(false);

struct WakerCell(UnsafeCell<Option<Waker>>);
// SAFETY: touched only from thread mode (the executor's tasks), never
// from an interrupt handler.
unsafe impl Sync for WakerCell {}
static ORCHESTRATOR: WakerCell = WakerCell(UnsafeCell::new(None));

fn scenario_done() {
    SCENARIO_DONE.store(true, Relaxed);
    // SAFETY: see `WakerCell`; called from a task's poll.
    if let Some(w) = unsafe { &*ORCHESTRATOR.0.get() } {
        w.wake_by_ref();
    }
}

/// Waits for `scenario_done`, then yields a few times so that the
/// scenario's other tasks see `DONE` and end (freeing their pools).
async fn wait_scenario() {
    poll_fn(|cx| {
        if SCENARIO_DONE.swap(false, Relaxed) {
            return Poll::Ready(());
        }
        // SAFETY: see `WakerCell`.
        unsafe { *ORCHESTRATOR.0.get() = Some(cx.waker().clone()) };
        Poll::Pending
    })
    .await;
    for _ in 0..8 {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

fn spawn<S>(spawner: &Spawner, token: Result<SpawnToken<S>, SpawnError>) {
    match token {
        Ok(t) => spawner.spawn(t),
        Err(_) => {
            out::line(format_args!("spawn refused"));
            board::exit(false)
        }
    }
}

struct EmbassySpawn(Spawner);

impl SpawnTrivial for EmbassySpawn {
    fn spawn_trivial(&mut self) -> bool {
        match TRIVIAL.spawn(|| Trivial) {
            Ok(t) => {
                self.0.spawn(t);
                true
            }
            Err(_) => false,
        }
    }
}

async fn wake(spawner: &Spawner, key: &str, trigger: Trigger, queued: usize, overhead: &Overhead) {
    work::reset();
    spawn(
        spawner,
        WOKEN.spawn(|| Woken::new(WAKE_REPS, trigger, scenario_done as Done)),
    );
    if trigger == Trigger::Busy {
        spawn(spawner, PENDER.spawn(|| Pender));
    }
    for _ in 0..queued {
        spawn(spawner, SPINNERS.spawn(|| Spinner));
    }
    wait_scenario().await;
    if work::WAKE.count() != WAKE_REPS {
        board::exit(false);
    }
    measure::report(key, &work::WAKE, overhead);
}

async fn cycle(spawner: &Spawner, key: &str) {
    work::reset();
    work::TRIVIAL_RUNS.store(0, Relaxed);
    work::SPAWN_FAILURES.store(0, Relaxed);
    let s = *spawner;
    spawn(
        spawner,
        DRIVER.spawn(move || Driver::new(EmbassySpawn(s), CYCLE_ITERS, scenario_done as Done)),
    );
    wait_scenario().await;
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

async fn ram(spawner: &Spawner, key: &str) {
    work::SIXTEEN_LOW.store(usize::MAX, Relaxed);
    work::SIXTEEN_HIGH.store(0, Relaxed);
    work::SIXTEEN_POLLS.store(0, Relaxed);
    let heap0 = heap::used();
    for _ in 0..RAM_TASKS {
        spawn(spawner, SIXTEENS.spawn(Sixteen::new));
    }
    // Let each be polled once.
    wait_scenario_yields().await;
    let n = RAM_TASKS as u64;
    let stride =
        (work::SIXTEEN_HIGH.load(Relaxed) - work::SIXTEEN_LOW.load(Relaxed)) as u64 / (n - 1);
    out::fig_int(
        &alloc::format!("{key}.polled"),
        u64::from(work::SIXTEEN_POLLS.load(Relaxed)),
    );
    out::fig_int(
        &alloc::format!("{key}.heap_per_task"),
        (heap::used() - heap0) as u64 / n,
    );
    out::fig_int(&alloc::format!("{key}.stride"), stride);
    out::fig_int(
        &alloc::format!("{key}.storage_size"),
        size_of::<TaskStorage<Sixteen>>() as u64,
    );
    out::fig_int(
        &alloc::format!("{key}.storage_align"),
        align_of::<TaskStorage<Sixteen>>() as u64,
    );
    out::fig_int(
        &alloc::format!("{key}.executor_size"),
        size_of::<Executor>() as u64,
    );
    out::fig_int(
        &alloc::format!("{key}.pool_per_task"),
        (size_of::<TaskPool<Sixteen, RAM_TASKS>>() / RAM_TASKS) as u64,
    );
}

async fn wait_scenario_yields() {
    let mut left = 4;
    poll_fn(|cx| {
        if left == 0 {
            return Poll::Ready(());
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

static OVERHEAD: OverheadCell = OverheadCell(UnsafeCell::new(MaybeUninit::uninit()));
struct OverheadCell(UnsafeCell<MaybeUninit<Overhead>>);
// SAFETY: written once in `main` before the executor starts, read only
// after.
unsafe impl Sync for OverheadCell {}

#[embassy_executor::task]
async fn orchestrate(spawner: Spawner) {
    // SAFETY: written in `main` before the executor ran this task.
    let overhead = unsafe { (*OVERHEAD.0.get()).assume_init_ref() };
    cycle(&spawner, "embassy").await;
    wake(&spawner, "embassy.wake_idle", Trigger::Idle, 0, overhead).await;
    wake(&spawner, "embassy.wake_busy0", Trigger::Busy, 0, overhead).await;
    wake(&spawner, "embassy.wake_busy3", Trigger::Busy, 3, overhead).await;
    ram(&spawner, "embassy.ram").await;
    out::line(format_args!("DONE"));
    board::exit(true);
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    board::init();
    heap::init();
    out::line(format_args!("bench_embassy on {}", board::MACHINE));
    let overhead = measure::calibrate(WAKE_REPS);
    // SAFETY: the executor has not started; nothing reads this yet.
    unsafe { (*OVERHEAD.0.get()).write(overhead) };
    static mut EXECUTOR: MaybeUninit<Executor> = MaybeUninit::uninit();
    let slot = &raw mut EXECUTOR;
    // SAFETY: `main` runs once, so this is the only reference to the
    // executor, which lives for the rest of the program.
    let executor: &'static mut Executor = unsafe { (*slot).write(Executor::new()) };
    executor.run(|spawner| spawn(&spawner, orchestrate(spawner)))
}
