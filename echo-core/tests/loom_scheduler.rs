//! Loom models of the real scheduler: a `Scheduler` with two workers, each
//! running `run_worker` on a loom thread, on a host whose park, clock and
//! worker identity are loom's.
//!
//! The other models check one protocol each, with the rest of the
//! scheduler written out by hand. These drive the whole of it (spawn, the
//! rings and injectors, steals, the idle protocol, parks, completion,
//! shutdown, the slab's frees) through the public API, so a race between
//! two of those protocols shows here.
//!
//! What a model checks is on real outcomes: outputs received through
//! `JoinHandle`s, how often each future was polled and dropped, and that
//! the platform itself is dropped once the last handle goes (every task
//! holds its page and every page the scheduler, so a task that was never
//! freed keeps the platform alive). A lost wake-up shows as a deadlock,
//! which loom reports: every thread blocked, on a park or on a handle.
//!
//! The models are kept small: a task or two, and phases ordered by waits
//! that block (until a waker is left, until both workers are parked), so
//! that each explores one race. Even so a whole scheduler is large for
//! loom, and the models that run tasks explore one preemption per
//! execution whatever `LOOM_MAX_PREEMPTIONS` says (see `model`).
//!
//! What the core does differently under `--cfg echo_loom` for these
//! models: remote submitters all start at allocation shard 0 (the shard
//! is otherwise hashed from a stack address, which moves between loom
//! executions), and the metrics counters are plain atomics (see
//! `metrics.rs`). The scheduler runs with `detailed_metrics` off.
//!
//! Run (what CI runs, with the other loom files):
//!
//! ```sh
//! RUSTFLAGS="--cfg echo_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//!     CARGO_TARGET_DIR=target/loom cargo test -p echo-sched-core --release \
//!     --test loom_scheduler -- --nocapture --test-threads=1
//! ```
#![cfg(echo_loom)]

use echo_sched_core::{Config, JoinHandle, PanicPayload, Platform, Priority, Scheduler};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::sync::atomic::{
    AtomicU64 as StdAtomicU64, AtomicUsize as StdAtomicUsize, Ordering as StdOrdering,
};
use std::task::{Poll, Waker};
use std::time::Instant;

const WORKERS: usize = 2;

loom::thread_local! {
    /// The worker the calling loom thread runs as (`Platform::current_worker`).
    static WORKER: Cell<Option<usize>> = Cell::new(None);
}

/// The worker the calling thread runs as, for a task's own records.
fn worker_here() -> Option<usize> {
    WORKER.with(Cell::get)
}

/// A host made of loom primitives.
///
/// - `park` waits on a condition variable for the worker's unpark token,
///   which `unpark` sets (a token left before the park makes it return at
///   once, as the trait asks). The host also counts the workers inside
///   `park`, so that a model can wait, without spinning, until the pool
///   has run dry.
/// - The clock is a counter that moves one tick per read. It is a plain
///   atomic, outside loom's view: no model arms a timer, so the time only
///   feeds metrics, and loom need not interleave its reads (it runs one
///   thread at a time, so the counter is still deterministic).
/// - The worker identity lives in a loom thread-local: one scheduler per
///   model execution, so "this thread, for this platform" is "this thread".
/// - A panic is not caught: no future in these models panics.
struct LoomHost {
    /// Readiness for `poll_events` to deliver: a waker it wakes.
    events: Mutex<Option<Waker>>,
    bell: Mutex<Bell>,
    rung: Condvar,
    ticks: StdAtomicU64,
    /// Counts the host's drop: the scheduler's shared state has gone.
    dropped: Arc<AtomicUsize>,
}

/// The host's park state.
#[derive(Default)]
struct Bell {
    /// An unpark token per worker.
    tokens: [bool; WORKERS],
    /// Workers inside `park` now.
    parked: usize,
}

impl LoomHost {
    fn new(dropped: Arc<AtomicUsize>) -> LoomHost {
        LoomHost {
            events: Mutex::new(None),
            bell: Mutex::new(Bell::default()),
            rung: Condvar::new(),
            ticks: StdAtomicU64::new(0),
            dropped,
        }
    }

    /// Leaves `waker` for the next `poll_events` to wake, as a reactor
    /// would on readiness.
    fn deliver(&self, waker: Waker) {
        *self.events.lock().unwrap() = Some(waker);
        // A sleeper parked in `park_until` sees it, as echo-std's sleeper
        // sees readiness in the reactor it waits in.
        let _bell = self.bell.lock().unwrap();
        self.rung.notify_all();
    }

    /// Blocks until every worker is inside `park`.
    fn wait_all_parked(&self) {
        let mut bell = self.bell.lock().unwrap();
        while bell.parked < WORKERS {
            bell = self.rung.wait(bell).unwrap();
        }
    }
}

impl Drop for LoomHost {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, SeqCst);
    }
}

// SAFETY: `current_worker` reads a thread-local that only
// `set_current_worker` on the same thread writes, and each model execution
// makes one scheduler, so the answer is for the calling thread and this
// platform.
unsafe impl Platform for LoomHost {
    fn park(&self, worker: usize) {
        let mut bell = self.bell.lock().unwrap();
        bell.parked += 1;
        self.rung.notify_all();
        while !bell.tokens[worker] {
            bell = self.rung.wait(bell).unwrap();
        }
        bell.tokens[worker] = false;
        bell.parked -= 1;
    }

    fn unpark(&self, worker: usize) {
        self.bell.lock().unwrap().tokens[worker] = true;
        self.rung.notify_all();
    }

    /// The sleeper's park: as `park`, but it also sees readiness that
    /// arrives meanwhile and runs its waker on this thread (echo-std's
    /// sleeper waits inside the reactor). The deadline is ignored: the
    /// models arm no timer.
    fn park_until(&self, worker: usize, _deadline_nanos: u64) {
        let mut bell = self.bell.lock().unwrap();
        bell.parked += 1;
        self.rung.notify_all();
        loop {
            if bell.tokens[worker] {
                bell.tokens[worker] = false;
                break;
            }
            let ready = self.events.lock().unwrap().take();
            if let Some(waker) = ready {
                bell.parked -= 1;
                drop(bell);
                waker.wake();
                return;
            }
            bell = self.rung.wait(bell).unwrap();
        }
        bell.parked -= 1;
    }

    fn poll_events(&self, _worker: usize) {
        let ready = self.events.lock().unwrap().take();
        if let Some(waker) = ready {
            waker.wake();
        }
    }

    fn now_nanos(&self) -> u64 {
        self.ticks.fetch_add(1, StdOrdering::Relaxed)
    }

    fn random_seed(&self) -> u64 {
        0x5eed
    }

    fn current_worker(&self) -> Option<usize> {
        worker_here()
    }

    fn set_current_worker(&self, worker: Option<usize>) {
        WORKER.with(|w| w.set(worker));
    }

    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}

/// A scheduler on a `LoomHost`, and its workers once started, each on a
/// loom thread of its own.
struct Pool {
    scheduler: Scheduler<LoomHost>,
    workers: Vec<thread::JoinHandle<()>>,
    host_dropped: Arc<AtomicUsize>,
}

impl Pool {
    /// A scheduler with default settings but for `detailed_metrics`: off,
    /// it reads no clock and samples no queue depth (each sample locks the
    /// injectors), which are statistics, not protocol, and would multiply
    /// the interleavings loom explores.
    fn new() -> Pool {
        Pool::with_responders(0)
    }

    /// The same, with `responders` High responders besides the workers.
    fn with_responders(responders: usize) -> Pool {
        let host_dropped = Arc::new(AtomicUsize::new(0));
        let mut config = Config::new(WORKERS);
        config.detailed_metrics = false;
        config.responders = responders;
        let scheduler = Scheduler::new(LoomHost::new(host_dropped.clone()), config).unwrap();
        Pool {
            scheduler,
            workers: Vec::new(),
            host_dropped,
        }
    }

    /// Starts both workers.
    fn start(&mut self) {
        for w in 0..WORKERS {
            let s = self.scheduler.clone();
            self.workers.push(spawn_big(move || s.run_worker(w)));
        }
    }

    /// Blocks until both workers have run dry and parked.
    fn wait_all_parked(&self) {
        self.scheduler.platform().wait_all_parked();
    }

    /// Shuts down, joins the workers and checks that shutdown completed
    /// with no task left. Returns what tells whether the host was dropped.
    fn shut_down(self) -> HostGone {
        self.scheduler.shutdown();
        for w in self.workers {
            w.join().unwrap();
        }
        assert!(
            self.scheduler.is_terminated(),
            "the last worker out finishes"
        );
        assert_eq!(self.scheduler.live_tasks(), 0, "every task finished");
        HostGone(self.host_dropped)
    }
}

/// Whether a pool's host was dropped, once its last scheduler handle went.
struct HostGone(Arc<AtomicUsize>);

impl HostGone {
    /// The host (owned by the scheduler's shared state, which every task
    /// page holds) must have been dropped once: nothing left holds a task.
    fn assert_gone(&self) {
        assert_eq!(
            self.0.load(SeqCst),
            1,
            "a task or page still holds the scheduler"
        );
    }
}

/// Blocks the calling (non-worker) thread on a task's handle.
fn wait<T>(handle: JoinHandle<T>) -> T {
    loom::future::block_on(handle).expect("the task ran to completion")
}

/// Counts a future's polls and its drop.
#[derive(Default)]
struct Probe {
    polls: AtomicUsize,
    drops: AtomicUsize,
}

/// Drops to count on the probe.
struct DropMark(Arc<Probe>);

impl Drop for DropMark {
    fn drop(&mut self) {
        self.0.drops.fetch_add(1, SeqCst);
    }
}

/// Where a parked task leaves its waker, for a thread to take.
#[derive(Default)]
struct WakerSlot {
    waker: Mutex<Option<Waker>>,
    filled: Condvar,
}

impl WakerSlot {
    fn put(&self, waker: Waker) {
        *self.waker.lock().unwrap() = Some(waker);
        self.filled.notify_all();
    }

    /// Blocks until a waker was left, and takes it.
    fn take(&self) -> Waker {
        let mut slot = self.waker.lock().unwrap();
        loop {
            if let Some(w) = slot.take() {
                return w;
            }
            slot = self.filled.wait(slot).unwrap();
        }
    }
}

/// Loom threads' stacks: the scheduler's frames are deeper than loom's
/// default (32 KiB) allows.
const STACK_SIZE: usize = 1 << 20;

/// A loom thread with a stack the scheduler fits in.
fn spawn_big<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(f)
        .expect("loom spawns")
}

/// The bound of the models too large for one preemption in CI: none by
/// default (every schedule that switches threads only where one blocks),
/// one with `ECHO_LOOM_DEEP=1`. The responder model took 2,946,192
/// executions and 798 s with one preemption (passed, 2026-12-06); the
/// High-child model did not finish in 18 minutes.
const HEAVY: usize = usize::MAX;

/// Runs `body` under loom on a loom thread of its own (the model's main
/// thread has a stack too small to set up a scheduler on), exploring at
/// most `max_preemptions` preemptions per execution, fewer if
/// `LOOM_MAX_PREEMPTIONS` says so; prints the executions and the time.
///
/// The cap is there because a whole scheduler is large for loom: one task
/// submitted, run, awaited and shut down is about 300 loom operations, so
/// each preemption allowed multiplies the executions by a few hundred.
/// The models that run tasks explore every schedule with one preemption
/// (from 3,000 to 300,000 executions, up to a minute on a loaded 2-core
/// machine); with two, the smallest of them took over 300,000 and the
/// others did not finish in minutes. The idle one explores two.
fn model(name: &str, max_preemptions: usize, body: fn()) {
    // See `heavy`.
    let max_preemptions = if max_preemptions == HEAVY {
        usize::from(std::env::var_os("ECHO_LOOM_DEEP").is_some())
    } else {
        max_preemptions
    };
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = runs.clone();
    let started = Instant::now();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(
        builder
            .preemption_bound
            .map_or(max_preemptions, |bound| bound.min(max_preemptions)),
    );
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        spawn_big(body).join().unwrap();
    });
    eprintln!(
        "loom model {name}: {} executions in {:.2?}",
        runs.load(StdOrdering::Relaxed),
        started.elapsed()
    );
}

/// Both workers run dry and park; then a task submitted from outside must
/// wake one (a lost wake-up leaves every thread blocked, which loom reports
/// as a deadlock), run once, and hand its output to the outside thread.
#[test]
fn a_submission_from_outside_wakes_a_parked_pool() {
    model("a_submission_from_outside_wakes_a_parked_pool", 1, || {
        let mut pool = Pool::new();
        pool.start();
        pool.wait_all_parked();
        let probe = Arc::new(Probe::default());
        let p = probe.clone();
        let handle = pool.scheduler.spawn(
            async move {
                let _mark = DropMark(p.clone());
                p.polls.fetch_add(1, SeqCst);
                assert!(worker_here().is_some(), "polled on a worker");
                7
            },
            Priority::Normal,
        );
        assert_eq!(wait(handle), 7);
        pool.wait_all_parked();
        assert_eq!(probe.polls.load(SeqCst), 1, "polled once");
        assert_eq!(probe.drops.load(SeqCst), 1, "dropped once");
        let m = pool.scheduler.metrics();
        let normal = m.tier(Priority::Normal);
        assert_eq!(
            (normal.submitted, normal.completed, normal.polls),
            (1, 1, 1)
        );
        assert!(m.unparks >= 1, "a parked worker was woken for the task");
        pool.shut_down().assert_gone();
    });
}

/// A task submitted from outside while both workers start, look for
/// work, and go to park: whichever way the submission's push and notify
/// fall between a worker's search, its joining the sleeper list and its
/// re-check, some worker runs the task (else every thread blocks, and
/// loom reports the deadlock).
#[test]
fn a_submission_races_the_workers_going_to_park() {
    model("a_submission_races_the_workers_going_to_park", 1, || {
        let mut pool = Pool::new();
        pool.start();
        let handle = pool.scheduler.spawn(async { 3 }, Priority::Low);
        assert_eq!(wait(handle), 3);
        pool.wait_all_parked();
        let low = *pool.scheduler.metrics().tier(Priority::Low);
        assert_eq!((low.submitted, low.completed, low.polls), (1, 1, 1));
        pool.shut_down().assert_gone();
    });
}

/// How many executions of `spawns_from_inside_a_task_and_a_steal` had the
/// child run on the other worker than its parent: the child was only ever
/// in the parent's ring, so the other worker stole it.
static STEALS_SEEN: StdAtomicUsize = StdAtomicUsize::new(0);

/// A task spawns a child from inside (to its worker's ring) and awaits it.
/// Either worker may run the child: the parent's own worker once the
/// parent waits, or the other one by a steal, which some execution must
/// show.
#[test]
fn spawns_from_inside_a_task_and_a_steal() {
    model("spawns_from_inside_a_task_and_a_steal", 1, || {
        let mut pool = Pool::new();
        let inner = pool.scheduler.clone();
        let child_probe = Arc::new(Probe::default());
        let c = child_probe.clone();
        let parent = pool.scheduler.spawn(
            async move {
                let parent_worker = worker_here().expect("polled on a worker");
                let child = inner.spawn(
                    async move {
                        let _mark = DropMark(c.clone());
                        c.polls.fetch_add(1, SeqCst);
                        (worker_here().expect("polled on a worker"), 5)
                    },
                    Priority::Normal,
                );
                let (child_worker, out) = child.await.expect("the child ran");
                (parent_worker, child_worker, out + 1)
            },
            Priority::Normal,
        );
        pool.start();
        let (parent_worker, child_worker, out) = wait(parent);
        assert_eq!(out, 6, "the child's output reached the parent");
        pool.wait_all_parked();
        assert_eq!(child_probe.polls.load(SeqCst), 1, "the child ran once");
        assert_eq!(child_probe.drops.load(SeqCst), 1, "and was dropped once");
        let m = pool.scheduler.metrics();
        assert_eq!(m.tier(Priority::Normal).completed, 2, "parent and child");
        if parent_worker != child_worker {
            assert!(m.steals >= 1, "a child run elsewhere was stolen");
            STEALS_SEEN.fetch_add(1, StdOrdering::Relaxed);
        }
        pool.shut_down().assert_gone();
    });
    assert!(
        STEALS_SEEN.load(StdOrdering::Relaxed) > 0,
        "no execution had the other worker steal the child"
    );
}

/// A task parks on its waker; once the pool has run dry, the outside
/// thread wakes it: the wake pushes to an injector and must unpark a
/// worker, which polls the task once more.
#[test]
fn a_wake_from_another_thread() {
    model("a_wake_from_another_thread", 1, || {
        let mut pool = Pool::new();
        let (probe, slot) = (Arc::new(Probe::default()), Arc::new(WakerSlot::default()));
        let handle = pool
            .scheduler
            .spawn(parks_once(probe.clone(), slot.clone()), Priority::Low);
        pool.start();
        let waker = slot.take();
        pool.wait_all_parked();
        waker.wake();
        assert_eq!(wait(handle), 2, "polled once more after the wake");
        pool.wait_all_parked();
        assert_eq!(probe.polls.load(SeqCst), 2, "one poll per wake");
        assert_eq!(probe.drops.load(SeqCst), 1, "dropped once");
        assert_eq!(pool.scheduler.metrics().tier(Priority::Low).polls, 2);
        pool.shut_down().assert_gone();
    });
}

/// A future that parks on its first poll, leaving its waker in a slot, and
/// completes on the next; it counts its polls and its drop.
fn parks_once(p: Arc<Probe>, slot: Arc<WakerSlot>) -> impl Future<Output = usize> + Send {
    let mark = DropMark(p.clone());
    poll_fn(move |cx| {
        let _keep = &mark;
        let n = p.polls.fetch_add(1, SeqCst) + 1;
        if n == 1 {
            slot.put(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(n)
        }
    })
}

/// A task parks on a waker; another thread wakes it while the pool shuts
/// down. The wake may run the task, or meet shutdown before or after the
/// shutdown walk (then the task is cancelled, or its entry drained): in
/// every case its future is dropped once and its memory freed. A second
/// task's waker is woken and dropped only after shutdown completed: that
/// task is freed, not run.
#[test]
fn shutdown_races_a_wake_and_a_wake_comes_after_it() {
    model("shutdown_races_a_wake_and_a_wake_comes_after_it", 1, || {
        let mut pool = Pool::new();
        let (racing, late) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
        let (racing_slot, late_slot) = (
            Arc::new(WakerSlot::default()),
            Arc::new(WakerSlot::default()),
        );
        let racing_handle = pool.scheduler.spawn(
            parks_once(racing.clone(), racing_slot.clone()),
            Priority::Normal,
        );
        let late_handle = pool.scheduler.spawn(
            parks_once(late.clone(), late_slot.clone()),
            Priority::Normal,
        );
        pool.start();
        let (racing_waker, late_waker) = (racing_slot.take(), late_slot.take());
        pool.wait_all_parked();
        let waker_thread = thread::spawn(move || racing_waker.wake());
        let gone = pool.shut_down();
        waker_thread.join().unwrap();

        // The racing task ran to completion or was cancelled, never both.
        match loom::future::block_on(racing_handle) {
            Ok(polls) => assert_eq!(polls, 2, "the wake ran it once more"),
            Err(e) => {
                assert!(e.is_cancelled());
                assert_eq!(racing.polls.load(SeqCst), 1, "cancelled, not run");
            }
        }
        assert_eq!(racing.drops.load(SeqCst), 1, "dropped once");
        // The late task was cancelled by shutdown; its wake runs nothing.
        assert_eq!(late.drops.load(SeqCst), 1, "cancelled by shutdown");
        late_waker.wake();
        assert_eq!(
            late.polls.load(SeqCst),
            1,
            "a wake after shutdown runs nothing"
        );
        assert!(
            loom::future::block_on(late_handle)
                .unwrap_err()
                .is_cancelled()
        );
        gone.assert_gone();
    });
}

/// Both workers start with nothing to do, park, and leave their loops at
/// shutdown, the last one out finishing it.
#[test]
fn an_idle_pool_parks_and_shuts_down() {
    model("an_idle_pool_parks_and_shuts_down", 2, || {
        let mut pool = Pool::new();
        pool.start();
        pool.wait_all_parked();
        pool.shut_down().assert_gone();
    });
}

/// A High task parks on a waker; once the pool has run dry, a High
/// responder (a host thread outside the idle protocol, `run_high`, here
/// the model's own thread) gets the task's readiness in its
/// `poll_events`. The wake queues the task at
/// High and may wake a parked worker: whichever of the two takes it polls
/// it, once. There it spawns a Normal child, which must reach a worker
/// even when the responder made it (its rings are never used, and a lost
/// wake-up would leave the outside thread blocked on the child's handle,
/// which loom reports as a deadlock).
#[test]
fn a_responder_runs_high_readiness_and_hands_normal_work_to_workers() {
    model(
        "a_responder_runs_high_readiness_and_hands_normal_work_to_workers",
        HEAVY,
        || {
            let mut pool = Pool::with_responders(1);
            let inner = pool.scheduler.clone();
            let (probe, slot) = (Arc::new(Probe::default()), Arc::new(WakerSlot::default()));
            let (p, s) = (probe.clone(), slot.clone());
            let handle = pool.scheduler.spawn(
                async move {
                    parks_once(p, s).await;
                    let ran_at = worker_here().expect("polled on a worker or responder");
                    // No await on the child: that would lend it High.
                    let child = inner.spawn(async { worker_here() }, Priority::Normal);
                    (ran_at, child)
                },
                Priority::High,
            );
            pool.start();
            let waker = slot.take();
            pool.wait_all_parked();
            pool.scheduler.platform().deliver(waker);
            // This thread is the responder.
            let ran = pool.scheduler.run_high(0);
            let (ran_at, child) = wait(handle);
            let child_at = wait(child).expect("the child ran on a thread of the pool");
            assert!(child_at < WORKERS, "the Normal child ran on a worker");
            assert_eq!(
                ran_at == WORKERS,
                ran == 1,
                "the responder ran what it took"
            );
            assert_eq!(probe.polls.load(SeqCst), 2, "one poll per wake");
            assert_eq!(probe.drops.load(SeqCst), 1, "dropped once");
            pool.wait_all_parked();
            pool.shut_down().assert_gone();
        },
    );
}

/// A High task waits in its injector while a High responder runs and the
/// scheduler (with no worker started) shuts down: the task runs on the
/// responder or is cancelled by the shutdown walk, which waits for the
/// responder to leave (the last one out finishes); never both, and
/// nothing is left.
#[test]
fn shutdown_races_a_responder() {
    model("shutdown_races_a_responder", 1, || {
        let pool = Pool::with_responders(1);
        let probe = Arc::new(Probe::default());
        let (p, mark) = (probe.clone(), DropMark(probe.clone()));
        let handle = pool.scheduler.spawn(
            async move {
                let _keep = &mark;
                p.polls.fetch_add(1, SeqCst);
                7
            },
            Priority::High,
        );
        let s = pool.scheduler.clone();
        let responder = spawn_big(move || s.run_high(0));
        pool.scheduler.shutdown();
        let ran = responder.join().unwrap();
        assert!(pool.scheduler.is_terminated(), "the last one out finishes");
        match loom::future::block_on(handle) {
            Ok(out) => {
                assert_eq!((out, ran), (7, 1), "run by the responder");
            }
            Err(e) => {
                assert!(e.is_cancelled());
                // The responder may have taken the entry and found it
                // cancelled: `ran` counts entries taken, not polls.
                assert_eq!(probe.polls.load(SeqCst), 0, "cancelled, not run");
            }
        }
        assert_eq!(probe.drops.load(SeqCst), 1, "dropped once");
        assert_eq!(pool.scheduler.live_tasks(), 0);
        pool.shut_down().assert_gone();
    });
}

/// A task polled on a worker spawns a High child while the other worker
/// is parked. A High entry made by a polled task wakes nobody until the
/// poll ends (`route.rs`), and then only if the worker will not take it
/// next: here it does, so no worker is woken and the child still runs,
/// once. Had the worker left it behind, the outside thread would block on
/// its handle, which loom reports as a deadlock.
#[test]
fn a_high_child_of_a_polled_task_runs_after_the_poll() {
    model(
        "a_high_child_of_a_polled_task_runs_after_the_poll",
        HEAVY,
        || {
            let mut pool = Pool::new();
            pool.start();
            pool.wait_all_parked();
            let inner = pool.scheduler.clone();
            let parent = pool.scheduler.spawn(
                async move { inner.spawn(async { 7 }, Priority::High) },
                Priority::Normal,
            );
            let child = wait(parent);
            assert_eq!(wait(child), 7, "the child ran");
            assert_eq!(pool.scheduler.metrics().tier(Priority::High).polls, 1);
            pool.shut_down().assert_gone();
        },
    );
}
