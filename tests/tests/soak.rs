//! A randomized, bounded soak of the whole scheduler (echo-std, real
//! threads).
//!
//! Round after round, a scheduler with a random worker count and random
//! anti-starvation intervals gets a random mix of tasks at all three
//! priorities: ready ones, ones that yield, ones that wait on a gate that
//! may never open, ones that panic, parents that spawn children and await
//! them, and tasks that await other tasks' handles. The host meanwhile
//! aborts, reprioritizes and detaches handles and opens gates, and shuts the
//! scheduler down at a random point (sometimes draining first).
//!
//! Invariants, every round:
//! - every handle resolves at most once, and every handle still held after
//!   shutdown resolves; a value comes only from a task that returns one
//!   (with its own id), a panic only from a task that panics, a
//!   cancellation only after an abort or the shutdown;
//! - every future is dropped exactly once, and every output exactly once;
//! - the metrics add up once quiet: submitted == completed + panicked +
//!   cancelled, and no task is live.
//!
//! `ECHO_SOAK_SECS` sets the duration (default 3 s; CI runs 60 s);
//! `ECHO_SOAK_SEED` replays a seed. The seed is printed first, so a failure
//! shows it.

use echo_std::{JoinError, JoinHandle, Priority, Scheduler};
use echo_tests::Gate;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const DELIBERATE: &str = "echo soak: a deliberate panic in a task";
const MAX_TASKS: usize = 600;

/// xorshift64*: small, seeded, good enough for choosing operations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn priority(&mut self) -> Priority {
        Priority::ALL[self.below(3)]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ready,
    Yield,
    Gate,
    Panic,
    Parent,
    Join,
}

/// Counters per task id, shared by the host and the tasks.
struct Log {
    next_id: AtomicUsize,
    kinds: Mutex<Vec<Kind>>,
    future_drops: Vec<AtomicUsize>,
    outputs_made: Vec<AtomicUsize>,
    output_drops: Vec<AtomicUsize>,
    resolved: Vec<AtomicUsize>,
    aborted: Vec<AtomicBool>,
    shutdown: AtomicBool,
    seed: u64,
}

impl Log {
    fn new(seed: u64) -> Arc<Log> {
        let n = MAX_TASKS * 4;
        let counters = || (0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
        Arc::new(Log {
            next_id: AtomicUsize::new(0),
            kinds: Mutex::new(Vec::new()),
            future_drops: counters(),
            outputs_made: counters(),
            output_drops: counters(),
            resolved: counters(),
            aborted: (0..n).map(|_| AtomicBool::new(false)).collect(),
            shutdown: AtomicBool::new(false),
            seed,
        })
    }

    /// A new id, or `None` past the round's budget.
    fn new_id(&self, kind: Kind) -> Option<usize> {
        let mut kinds = self.kinds.lock().unwrap();
        let id = kinds.len();
        if id >= self.future_drops.len() {
            return None;
        }
        kinds.push(kind);
        self.next_id.store(id + 1, SeqCst);
        Some(id)
    }

    fn kind(&self, id: usize) -> Kind {
        self.kinds.lock().unwrap()[id]
    }

    fn resolve(&self, id: usize, result: Result<Out, JoinError>) {
        let seed = self.seed;
        let kind = self.kind(id);
        let prev = self.resolved[id].fetch_add(1, SeqCst);
        assert_eq!(prev, 0, "seed {seed}: task {id}'s handle resolved twice");
        match result {
            Ok(out) => {
                assert_eq!(out.id, id, "seed {seed}: task {id} got another's output");
                assert_ne!(
                    kind,
                    Kind::Panic,
                    "seed {seed}: task {id} panicked yet returned"
                );
            }
            Err(e) if e.is_panic() => {
                assert_eq!(kind, Kind::Panic, "seed {seed}: task {id} reported a panic");
                let payload = e.into_panic();
                assert_eq!(payload.downcast_ref::<&str>(), Some(&DELIBERATE));
            }
            Err(e) => {
                assert!(e.is_cancelled());
                assert!(
                    self.aborted[id].load(SeqCst) || self.shutdown.load(SeqCst),
                    "seed {seed}: task {id} ({kind:?}) cancelled without abort or shutdown"
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

/// Handles that tasks may take and await (joins across tasks).
type Shelf = Arc<Mutex<Vec<(usize, JoinHandle<Out>)>>>;

/// A task's future: counts its drop.
struct Job {
    id: usize,
    log: Arc<Log>,
    state: JobState,
}

enum JobState {
    Ready,
    Yield(u32),
    Gate(echo_tests::GateWait),
    Panic,
    Parent {
        rng: Rng,
        shelf: Shelf,
        gates: Arc<Vec<Gate>>,
        children: Vec<(usize, JoinHandle<Out>)>,
        spawned: bool,
    },
    Join {
        shelf: Shelf,
        target: Option<(usize, JoinHandle<Out>)>,
        looked: bool,
    },
}

impl Job {
    fn output(&self) -> Poll<Out> {
        self.log.outputs_made[self.id].fetch_add(1, SeqCst);
        Poll::Ready(Out {
            id: self.id,
            log: self.log.clone(),
        })
    }
}

/// Makes a task of a random kind (or `None` past the id budget).
fn make_job(
    rng: &mut Rng,
    log: &Arc<Log>,
    shelf: &Shelf,
    gates: &Arc<Vec<Gate>>,
    depth: u32,
) -> Option<Job> {
    let kind = match rng.below(if depth > 1 { 4 } else { 6 }) {
        0 => Kind::Ready,
        1 => Kind::Yield,
        2 => Kind::Gate,
        3 => Kind::Panic,
        4 => Kind::Parent,
        _ => Kind::Join,
    };
    let id = log.new_id(kind)?;
    let state = match kind {
        Kind::Ready => JobState::Ready,
        Kind::Yield => JobState::Yield(1 + rng.below(5) as u32),
        Kind::Gate => JobState::Gate(gates[rng.below(gates.len())].wait()),
        Kind::Panic => JobState::Panic,
        Kind::Parent => JobState::Parent {
            rng: Rng(rng.next() | 1),
            shelf: shelf.clone(),
            gates: gates.clone(),
            children: Vec::new(),
            spawned: false,
        },
        Kind::Join => JobState::Join {
            shelf: shelf.clone(),
            target: None,
            looked: false,
        },
    };
    Some(Job {
        id,
        log: log.clone(),
        state,
    })
}

impl Future for Job {
    type Output = Out;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let this = self.get_mut();
        let log = this.log.clone();
        match &mut this.state {
            JobState::Ready => this.output(),
            JobState::Yield(n) => {
                if *n == 0 {
                    return this.output();
                }
                *n -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            JobState::Gate(wait) => match Pin::new(wait).poll(cx) {
                Poll::Ready(()) => this.output(),
                Poll::Pending => Poll::Pending,
            },
            JobState::Panic => std::panic::panic_any(DELIBERATE),
            JobState::Parent {
                rng,
                shelf,
                gates,
                children,
                spawned,
            } => {
                if !*spawned {
                    *spawned = true;
                    // Nested spawns onto the current scheduler, at random
                    // tiers; some handles go on the shelf for others.
                    for _ in 0..1 + rng.below(4) {
                        let Some(job) = make_job(rng, &log, shelf, gates, 2) else {
                            break;
                        };
                        let id = job.id;
                        let handle = echo_std::spawn(job, rng.priority());
                        if rng.below(3) == 0 {
                            shelf.lock().unwrap().push((id, handle));
                        } else {
                            children.push((id, handle));
                        }
                    }
                }
                while let Some((id, handle)) = children.last_mut() {
                    match Pin::new(handle).poll(cx) {
                        Poll::Ready(result) => {
                            log.resolve(*id, result);
                            children.pop();
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                this.output()
            }
            JobState::Join {
                shelf,
                target,
                looked,
            } => {
                if !*looked {
                    *looked = true;
                    *target = shelf.lock().unwrap().pop();
                }
                if let Some((id, handle)) = target {
                    match Pin::new(handle).poll(cx) {
                        Poll::Ready(result) => {
                            log.resolve(*id, result);
                            *target = None;
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                this.output()
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.log.future_drops[self.id].fetch_add(1, SeqCst);
    }
}

fn quiet_deliberate_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
            previous(info);
        }
    }));
}

/// Resolves a handle that must be finished (after shutdown).
fn resolve_finished(log: &Log, id: usize, mut handle: JoinHandle<Out>) {
    assert!(
        handle.is_finished(),
        "seed {}: task {id} unfinished after shutdown",
        log.seed
    );
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(result) => log.resolve(id, result),
        Poll::Pending => panic!("seed {}: a finished handle is pending", log.seed),
    }
}

/// One scheduler's life: build, load, meddle, shut down, check.
fn round(rng: &mut Rng, seed: u64) {
    let log = Log::new(seed);
    let workers = 1 + rng.below(4);
    let scheduler = Arc::new(
        Scheduler::builder()
            .worker_count(workers)
            .normal_interval(2 + rng.below(10) as u32)
            .low_interval(3 + rng.below(40) as u32)
            .build()
            .expect("a valid configuration"),
    );
    let gates: Arc<Vec<Gate>> = Arc::new((0..3).map(|_| Gate::new()).collect());
    let shelf: Shelf = Arc::new(Mutex::new(Vec::new()));
    let mut held: Vec<(usize, JoinHandle<Out>)> = Vec::new();
    let steps = 20 + rng.below(200);
    let shutdown_at = rng.below(steps + 1);
    let graceful = rng.below(3) == 0;
    for step in 0..steps {
        if step == shutdown_at {
            break;
        }
        match rng.below(10) {
            0..=4 => {
                let Some(job) = make_job(rng, &log, &shelf, &gates, 0) else {
                    continue;
                };
                let id = job.id;
                let handle = scheduler.submit(job, rng.priority());
                if rng.below(4) == 0 {
                    shelf.lock().unwrap().push((id, handle));
                } else {
                    held.push((id, handle));
                }
            }
            5 if !held.is_empty() => {
                let (id, handle) = &held[rng.below(held.len())];
                if !handle.is_finished() {
                    log.aborted[*id].store(true, SeqCst);
                }
                handle.abort();
            }
            6 if !held.is_empty() => {
                let i = rng.below(held.len());
                held[i].1.set_priority(rng.priority());
            }
            7 if !held.is_empty() => {
                // Detach.
                let i = rng.below(held.len());
                drop(held.swap_remove(i));
            }
            8 => gates[rng.below(gates.len())].open(),
            _ => std::thread::sleep(Duration::from_micros(rng.below(300) as u64)),
        }
    }
    if graceful {
        for g in gates.iter() {
            g.open();
        }
        // Draining may or may not finish in time; what is left is
        // cancelled either way.
        log.shutdown.store(true, SeqCst);
        let drained = scheduler.shutdown_timeout(Duration::from_millis(rng.below(50) as u64));
        let aborted = (0..log.next_id.load(SeqCst)).any(|id| log.aborted[id].load(SeqCst));
        if drained && !aborted {
            // Every task finished before the shutdown: nothing to cancel.
            let m = scheduler.metrics();
            assert_eq!(
                m.total().cancelled,
                0,
                "seed {seed}: drained, yet cancelled: {m:?}"
            );
        }
    } else {
        log.shutdown.store(true, SeqCst);
        scheduler.shutdown();
    }
    // Every handle still held resolves, and so does every shelved one.
    for (id, handle) in held.drain(..) {
        resolve_finished(&log, id, handle);
    }
    let shelved = std::mem::take(&mut *shelf.lock().unwrap());
    for (id, handle) in shelved {
        resolve_finished(&log, id, handle);
    }
    let m = scheduler.metrics();
    let t = m.total();
    assert_eq!(
        t.submitted,
        t.completed + t.panicked + t.cancelled,
        "seed {seed}: metrics do not add up: {m:?}"
    );
    assert_eq!(m.live, 0, "seed {seed}: live tasks after shutdown: {m:?}");
    // Wakers parked in the gates hold task references; drop them, then the
    // scheduler, and count.
    drop(gates);
    drop(scheduler);
    let n = log.next_id.load(SeqCst);
    for id in 0..n {
        assert_eq!(
            log.future_drops[id].load(SeqCst),
            1,
            "seed {seed}: task {id} ({:?}) future dropped other than once",
            log.kind(id)
        );
        assert_eq!(
            log.output_drops[id].load(SeqCst),
            log.outputs_made[id].load(SeqCst),
            "seed {seed}: task {id} output drops"
        );
        assert!(log.resolved[id].load(SeqCst) <= 1);
    }
}

#[test]
fn soak() {
    let secs: f64 = std::env::var("ECHO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("ECHO_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            t.as_nanos() as u64 | 1
        });
    eprintln!("soak: seed {seed} (replay with ECHO_SOAK_SEED={seed}), {secs} s");
    quiet_deliberate_panics();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut rounds = 0;
    while Instant::now() < deadline {
        let round_seed = rng.next() | 1;
        let mut round_rng = Rng(round_seed);
        round(&mut round_rng, round_seed);
        rounds += 1;
    }
    eprintln!("soak: {rounds} rounds");
    assert!(rounds > 0);
}
