//! `scheduler_ops`: submit, abort, wake, yield, panic, set_priority, join
//! and shutdown on the real scheduler, driven by one thread through a
//! deterministic custom `Platform` with `Scheduler::run_until_idle`.
//!
//! Every task's future and output count their drops. Checked:
//!
//! - every handle resolves at most once, and to what its task did: a
//!   value (with the task's own id) only from a task that returns one, a
//!   panic only from a task that panics, a cancellation only after an
//!   abort or a shutdown;
//! - when the input ends, opening every gate and running the workers until
//!   none finds work finishes every task (no lost wake-up), unless a
//!   shutdown came first;
//! - after shutdown every handle left resolves, every future was dropped
//!   exactly once (refused ones included), every output exactly once;
//! - the metrics add up: submitted == completed + panicked + cancelled and
//!   no task is live.

use crate::Input;
use crate::gate::{Gate, GateWait};
use echo_sched_core::{Config, JoinError, JoinHandle, PanicPayload, Platform, Priority, Scheduler};
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Waker};

/// The payload of the panics the target asks for.
pub const DELIBERATE: &str = "echo fuzz: a deliberate panic in a task";

const MAX_TASKS: usize = 160;
const GATES: usize = 4;

/// Keeps the deliberate panics quiet, and leaves every other panic to the
/// hook that was there (libFuzzer's aborts, which is how it sees a crash).
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                previous(info);
            }
        }));
    });
}

/// A single-threaded host.
struct Host {
    worker: Cell<Option<usize>>,
    ticks: Cell<u64>,
    unparks: Cell<usize>,
    seed: u64,
}

// SAFETY: the target uses a host, its scheduler and everything in it from
// one thread only.
unsafe impl Send for Host {}
// SAFETY: as above.
unsafe impl Sync for Host {}

// SAFETY: one thread, so the cell's answer is always the calling thread's.
unsafe impl Platform for Host {
    fn park(&self, _worker: usize) {
        unreachable!("a run_until_idle host never parks")
    }
    fn unpark(&self, _worker: usize) {
        self.unparks.set(self.unparks.get() + 1);
    }
    fn now_nanos(&self) -> u64 {
        self.ticks.set(self.ticks.get() + 1);
        self.ticks.get()
    }
    fn random_seed(&self) -> u64 {
        self.seed
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.get()
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker.set(worker);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        std::panic::catch_unwind(AssertUnwindSafe(f))
    }
}

/// Per-task counters, by task id.
struct Log {
    next_id: AtomicUsize,
    future_drops: Vec<AtomicUsize>,
    outputs_made: Vec<AtomicUsize>,
    output_drops: Vec<AtomicUsize>,
    resolved: Vec<AtomicUsize>,
    aborted: Vec<AtomicBool>,
    shutdown: AtomicBool,
}

impl Log {
    fn new() -> Arc<Log> {
        let n = 2 * MAX_TASKS + 8;
        Arc::new(Log {
            next_id: AtomicUsize::new(0),
            future_drops: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            outputs_made: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            output_drops: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            resolved: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            aborted: (0..n).map(|_| AtomicBool::new(false)).collect(),
            shutdown: AtomicBool::new(false),
        })
    }

    fn new_id(&self) -> usize {
        self.next_id.fetch_add(1, SeqCst)
    }

    /// Records that task `id`'s handle produced `result`, checking it.
    fn resolve(&self, id: usize, kind: KindTag, result: Result<Out, JoinError>) {
        let prev = self.resolved[id].fetch_add(1, SeqCst);
        assert_eq!(prev, 0, "task {id}'s handle resolved twice");
        match result {
            Ok(out) => {
                assert_eq!(out.id, id, "a handle gave another task's output");
                assert!(kind != KindTag::Panic, "a panicking task returned a value");
            }
            Err(e) if e.is_panic() => {
                assert!(
                    kind == KindTag::Panic,
                    "task {id} ({kind:?}) reported a panic"
                );
                let payload = e.into_panic();
                assert_eq!(payload.downcast_ref::<&str>(), Some(&DELIBERATE));
            }
            Err(e) => {
                assert!(e.is_cancelled());
                assert!(
                    self.aborted[id].load(SeqCst) || self.shutdown.load(SeqCst),
                    "task {id} ({kind:?}) cancelled without abort or shutdown"
                );
            }
        }
    }
}

/// A task's output: counts its drop.
struct Out {
    id: usize,
    log: Arc<Log>,
}

impl Drop for Out {
    fn drop(&mut self) {
        self.log.output_drops[self.id].fetch_add(1, SeqCst);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KindTag {
    Ready,
    Yield,
    Gate,
    Panic,
    Spawn,
    Join,
}

enum Kind {
    Ready,
    Yield(u32),
    Gate(GateWait),
    Panic,
    Spawn {
        priority: Priority,
        sched: Scheduler<Host>,
        child: Option<(usize, JoinHandle<Out>)>,
    },
    Join {
        id: usize,
        tag: KindTag,
        handle: JoinHandle<Out>,
    },
}

/// A task's future: counts its drop.
struct Job {
    id: usize,
    kind: Kind,
    polls: u32,
    log: Arc<Log>,
}

impl Job {
    fn done(&self) -> Poll<Out> {
        self.log.outputs_made[self.id].fetch_add(1, SeqCst);
        Poll::Ready(Out {
            id: self.id,
            log: self.log.clone(),
        })
    }
}

impl Future for Job {
    type Output = Out;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let this = self.get_mut();
        this.polls += 1;
        let log = this.log.clone();
        match &mut this.kind {
            Kind::Ready => this.done(),
            Kind::Yield(n) => {
                if *n == 0 {
                    this.done()
                } else {
                    *n -= 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
            Kind::Gate(wait) => match Pin::new(wait).poll(cx) {
                Poll::Ready(()) => this.done(),
                Poll::Pending => Poll::Pending,
            },
            Kind::Panic => std::panic::panic_any(DELIBERATE),
            Kind::Spawn {
                priority,
                sched,
                child,
            } => {
                let (cid, handle) = child.get_or_insert_with(|| {
                    let cid = log.new_id();
                    let job = Job {
                        id: cid,
                        kind: Kind::Ready,
                        polls: 0,
                        log: log.clone(),
                    };
                    (cid, sched.spawn(job, *priority))
                });
                match Pin::new(handle).poll(cx) {
                    Poll::Ready(result) => {
                        log.resolve(*cid, KindTag::Ready, result);
                        this.done()
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Kind::Join { id, tag, handle } => match Pin::new(handle).poll(cx) {
                Poll::Ready(result) => {
                    log.resolve(*id, *tag, result);
                    this.done()
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.log.future_drops[self.id].fetch_add(1, SeqCst);
    }
}

struct Sim {
    sched: Scheduler<Host>,
    workers: usize,
    log: Arc<Log>,
    gates: Vec<Gate>,
    /// Handles the host holds: (task id, kind, handle).
    handles: Vec<(usize, KindTag, JoinHandle<Out>)>,
    shut_down: bool,
}

impl Sim {
    fn submit(&mut self, tag: KindTag, priority: Priority, input: &mut Input<'_>) {
        if self.log.next_id.load(SeqCst) >= MAX_TASKS {
            return;
        }
        let kind = match tag {
            KindTag::Ready => Kind::Ready,
            KindTag::Yield => Kind::Yield(1 + input.below(4) as u32),
            KindTag::Gate => Kind::Gate(self.gates[input.below(GATES)].wait()),
            KindTag::Panic => Kind::Panic,
            KindTag::Spawn => Kind::Spawn {
                priority: Priority::ALL[input.below(3)],
                sched: self.sched.clone(),
                child: None,
            },
            KindTag::Join => {
                if self.handles.is_empty() {
                    return;
                }
                let (id, tag, handle) = self.handles.swap_remove(input.below(self.handles.len()));
                Kind::Join { id, tag, handle }
            }
        };
        let id = self.log.new_id();
        let job = Job {
            id,
            kind,
            polls: 0,
            log: self.log.clone(),
        };
        match self.sched.try_spawn(job, priority) {
            Ok(handle) => self.handles.push((id, tag, handle)),
            Err(refused) => {
                if refused.is_shutdown() {
                    assert!(self.shut_down, "refused as shut down before shutdown");
                } else {
                    assert!(refused.is_full() && self.sched.config().max_tasks.is_some());
                }
                // The future comes back undropped; dropping it counts once.
                drop(refused.into_inner());
            }
        }
    }

    fn run(&mut self, w: usize) -> usize {
        self.sched.run_until_idle(w)
    }

    /// Polls a handle once from the host; drops it once it resolves.
    fn poll_handle(&mut self, i: usize) {
        if self.handles.is_empty() {
            return;
        }
        let i = i % self.handles.len();
        let (id, tag, handle) = &mut self.handles[i];
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(result) = Pin::new(handle).poll(&mut cx) {
            self.log.resolve(*id, *tag, result);
            self.handles.swap_remove(i);
        }
    }

    fn abort(&mut self, i: usize) {
        if let Some((id, _, handle)) = self.handles.get(i % self.handles.len().max(1)) {
            if !handle.is_finished() {
                self.log.aborted[*id].store(true, SeqCst);
            }
            handle.abort();
        }
    }

    fn shutdown(&mut self) {
        self.shut_down = true;
        self.log.shutdown.store(true, SeqCst);
        self.sched.shutdown();
        assert!(
            self.sched.is_terminated(),
            "no worker runs: shutdown finishes"
        );
    }

    /// Runs every worker until a whole round finds nothing to do.
    fn run_to_quiet(&mut self) {
        for _ in 0..10_000 {
            let ran: usize = (0..self.workers).map(|w| self.run(w)).sum();
            if ran == 0 {
                return;
            }
        }
        panic!("the scheduler never went quiet");
    }

    fn finish(mut self) {
        if !self.shut_down {
            for g in &self.gates {
                g.open();
            }
            self.run_to_quiet();
            for (id, tag, h) in &self.handles {
                assert!(h.is_finished(), "task {id} ({tag:?}) never finished");
            }
            let m = self.sched.metrics();
            assert_eq!(m.live, 0, "quiet, yet tasks are live: {m:?}");
            self.shutdown();
        }
        while !self.handles.is_empty() {
            let before = self.handles.len();
            self.poll_handle(0);
            assert!(
                self.handles.len() < before,
                "a handle did not resolve after shutdown"
            );
        }
        let m = self.sched.metrics();
        let t = m.total();
        assert_eq!(
            t.submitted,
            t.completed + t.panicked + t.cancelled,
            "metrics do not add up: {m:?}"
        );
        assert_eq!(m.live, 0);
        // Wakers parked in gates hold task references: let them go.
        self.gates.clear();
        drop(self.sched);
        let log = &self.log;
        for id in 0..log.next_id.load(SeqCst) {
            assert_eq!(
                log.future_drops[id].load(SeqCst),
                1,
                "task {id}'s future drops"
            );
            assert_eq!(
                log.output_drops[id].load(SeqCst),
                log.outputs_made[id].load(SeqCst),
                "task {id}'s output drops"
            );
            assert!(log.resolved[id].load(SeqCst) <= 1);
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    quiet_deliberate_panics();
    let mut input = Input::new(data);
    let workers = 1 + input.below(3);
    let mut config = Config::new(workers);
    config.normal_interval = 2 + input.below(7) as u32;
    config.low_interval = 3 + input.below(30) as u32;
    config.global_queue_interval = 1 + input.below(31) as u32;
    if input.below(4) == 0 {
        // A bound on live tasks: submissions from the host may be refused.
        config.max_tasks = Some(1 + input.below(16));
    }
    let host = Host {
        worker: Cell::new(None),
        ticks: Cell::new(0),
        unparks: Cell::new(0),
        seed: u64::from(input.byte()),
    };
    let sched = Scheduler::new(host, config).expect("a valid configuration");
    let mut sim = Sim {
        sched,
        workers,
        log: Log::new(),
        gates: (0..GATES).map(|_| Gate::new()).collect(),
        handles: Vec::new(),
        shut_down: false,
    };
    while !input.done() {
        match input.below(12) {
            0..=2 => {
                let tag = match input.below(6) {
                    0 => KindTag::Ready,
                    1 => KindTag::Yield,
                    2 => KindTag::Gate,
                    3 => KindTag::Panic,
                    4 => KindTag::Spawn,
                    _ => KindTag::Join,
                };
                let p = Priority::ALL[input.below(3)];
                sim.submit(tag, p, &mut input);
            }
            3 | 4 => {
                let w = input.below(workers);
                sim.run(w);
            }
            5 => sim.gates[input.below(GATES)].open(),
            6 => sim.gates[input.below(GATES)].pulse(),
            7 => {
                let i = input.byte();
                sim.abort(usize::from(i));
            }
            8 => {
                let (i, p) = (usize::from(input.byte()), input.below(3));
                if !sim.handles.is_empty() {
                    let n = sim.handles.len();
                    sim.handles[i % n].2.set_priority(Priority::ALL[p]);
                }
            }
            9 => {
                let i = input.byte();
                sim.poll_handle(usize::from(i));
            }
            10 => {
                // Detach: drop the handle; the task runs on.
                if !sim.handles.is_empty() {
                    let i = usize::from(input.byte()) % sim.handles.len();
                    sim.handles.swap_remove(i);
                }
            }
            _ => {
                if input.below(4) == 0 && !sim.shut_down {
                    sim.shutdown();
                }
            }
        }
    }
    sim.finish();
}
