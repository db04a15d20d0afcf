//! Allocation failure is a refusal, not an abort: when there is no memory
//! for a task, the spawn is refused like a full bound (`Refusal::NoMemory`),
//! the future comes back intact, nothing of the submission is kept (room
//! under `max_tasks`, counters, memory), and the scheduler goes on.
//!
//! The host is one thread driving echo-core with `run_until_idle`, whose
//! `Platform::alloc_chunk` gives only as many chunks as the test allows
//! (then gives again once allowed). Large pages come from the global
//! allocator; this binary's allocator fails them on demand.

use echo_sched_core::{
    Config, JoinHandle, PanicPayload, Platform, Priority, Refusal, Scheduler, SubmitError,
    TaskOptions,
};
use echo_tests::{DropCount, Gate};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Fails allocations of large, 128-aligned blocks (a large task page) on
/// the threads that ask it to; everything else goes to the system.
struct FailLargePages;

thread_local! {
    static FAIL_LARGE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator, or returns null (allowed).
unsafe impl GlobalAlloc for FailLargePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let fail = layout.align() >= 128
            && layout.size() >= 2048
            && FAIL_LARGE.try_with(Cell::get).unwrap_or(false);
        if fail {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: FailLargePages = FailLargePages;

/// A one-thread host whose chunk memory runs out on demand.
struct Host {
    worker: AtomicUsize, // 0: none; i + 1: worker i
    ticks: AtomicU64,
    /// Chunks `alloc_chunk` will still give.
    budget: AtomicUsize,
    /// Chunks given and not yet taken back.
    live: AtomicUsize,
    /// Chunk requests refused.
    refused: AtomicUsize,
}

impl Host {
    fn new(budget: usize) -> Host {
        Host {
            worker: AtomicUsize::new(0),
            ticks: AtomicU64::new(0),
            budget: AtomicUsize::new(budget),
            live: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        }
    }
    fn set_budget(&self, chunks: usize) {
        self.budget.store(chunks, Ordering::SeqCst);
    }
}

// SAFETY: one thread drives each scheduler, so the worker value is that
// thread's.
unsafe impl Platform for Host {
    fn park(&self, _worker: usize) {
        unreachable!("driven with run_until_idle")
    }
    fn unpark(&self, _worker: usize) {}
    fn now_nanos(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::SeqCst)
    }
    fn random_seed(&self) -> u64 {
        1
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.load(Ordering::SeqCst).checked_sub(1)
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker
            .store(worker.map_or(0, |w| w + 1), Ordering::SeqCst);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
    fn alloc_chunk(&self, layout: Layout) -> Option<NonNull<u8>> {
        assert_eq!(
            layout.size(),
            layout.align(),
            "a chunk is aligned to its size"
        );
        let granted = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if granted.is_err() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        // SAFETY: a chunk has a non-zero size.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
    unsafe fn free_chunk(&self, chunk: NonNull<u8>, layout: Layout) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: from `alloc_chunk`, with this layout.
        unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) }
    }
}

const UNLIMITED: usize = usize::MAX;

fn scheduler(budget: usize, max_tasks: Option<usize>) -> Scheduler<Host> {
    let mut config = Config::new(1);
    config.max_tasks = max_tasks;
    Scheduler::new(Host::new(budget), config).unwrap()
}

/// A job: waits for the gate, then returns its id. Counted when dropped.
fn job(id: u64, gate: &Gate, drops: &DropCount) -> impl Future<Output = u64> + Send + 'static {
    let wait = gate.wait();
    drops.wrap(async move {
        wait.await;
        id
    })
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs a handed-back future to its end on this thread (its gate is open).
fn run_here<F: Future>(fut: F) -> F::Output {
    let mut fut = Box::pin(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a handed-back future did not finish"),
    }
}

/// Submits jobs from outside until one is refused; the handles and the
/// refusal.
fn spawn_until_refused<F>(
    sched: &Scheduler<Host>,
    mut make: impl FnMut(u64) -> F,
) -> (Vec<JoinHandle<F::Output>>, SubmitError<F>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut handles = Vec::new();
    for id in 0.. {
        match sched.try_spawn(make(id), Priority::Normal) {
            Ok(h) => handles.push(h),
            Err(e) => return (handles, e),
        }
        assert!(id < 1_000_000, "never refused");
    }
    unreachable!()
}

/// Shuts down and checks that every chunk went back to the host (the
/// caller has dropped or read every handle: a handle keeps its task).
fn shut_down(sched: Scheduler<Host>) {
    sched.shutdown();
    assert!(sched.is_terminated());
    let host = sched.platform();
    assert_eq!(host.live.load(Ordering::SeqCst), 0, "chunks not given back");
}

#[test]
fn outside_spawns_are_refused_then_served_again() {
    const BOUND: usize = 30_000;
    const REFUSALS: usize = 100;
    let sched = scheduler(1, Some(BOUND));
    let (gate, drops) = (Gate::new(), DropCount::new());
    // Submit until 100 are refused. (Outside submitters take a shard by
    // their stack address, which can move, e.g. under AddressSanitizer: a
    // shard whose current page still has room admits after another shard
    // was refused, so refusals and admissions may interleave.)
    let (mut handles, mut admitted_ids) = (Vec::new(), Vec::new());
    let (mut back, mut refused_ids) = (Vec::new(), Vec::new());
    for id in 0.. {
        match sched.try_spawn(job(id, &gate, &drops), Priority::Normal) {
            Ok(h) => {
                handles.push(h);
                admitted_ids.push(id);
            }
            Err(e) => {
                assert_eq!(e.reason(), Refusal::NoMemory);
                assert!(e.is_no_memory() && !e.is_full() && !e.is_shutdown());
                assert_eq!(e.to_string(), "submission refused: no memory for the task");
                back.push(e.into_inner());
                refused_ids.push(id);
                if back.len() == REFUSALS {
                    break;
                }
            }
        }
        assert!(id < 1_000_000, "never refused");
    }
    let admitted = handles.len();
    assert!(admitted > 1000, "one chunk holds many small tasks");
    let m = sched.metrics();
    assert_eq!(m.total().submitted, admitted, "refusals are not counted");
    assert_eq!(m.live, admitted);
    assert_eq!(sched.live_tasks(), admitted);
    assert_eq!(drops.get(), 0, "the refused futures are not dropped");
    assert_eq!(sched.platform().live.load(Ordering::SeqCst), 1, "one chunk");
    assert!(m.slab_bytes > 0);

    // Memory again: the room the refusals were admitted to came back, so
    // the bound admits exactly BOUND tasks in all.
    sched.platform().set_budget(UNLIMITED);
    let first = 2_000_000;
    let (more, full) = spawn_until_refused(&sched, |id| job(first + id, &gate, &drops));
    assert!(full.is_full(), "{full:?}");
    assert_eq!(admitted + more.len(), BOUND, "room leaked by a refusal");
    drop(full);
    assert_eq!(drops.get(), 1, "the future refused as full, dropped here");
    admitted_ids.extend((0..more.len() as u64).map(|i| first + i));
    handles.extend(more);

    // The scheduler runs them all, and the handed-back futures are intact.
    gate.open();
    sched.run_until_idle(0);
    let ids: Vec<u64> = handles
        .iter_mut()
        .map(|h| match poll_once(h) {
            Poll::Ready(Ok(id)) => id,
            other => panic!("not finished: {other:?}"),
        })
        .collect();
    assert_eq!(ids, admitted_ids);
    let back_ids: Vec<u64> = back.into_iter().map(run_here).collect();
    assert_eq!(back_ids, refused_ids, "each refused job, intact");
    assert_eq!(
        drops.get(),
        1 + BOUND + REFUSALS,
        "every future dropped once"
    );
    let m = sched.metrics();
    assert_eq!((m.total().submitted, m.total().completed), (BOUND, BOUND));
    assert_eq!(m.live, 0);
    shut_down(sched);
}

#[test]
fn spawns_from_a_task_are_refused_on_the_workers_heap() {
    // The one chunk the parent's submission takes: its other pages serve
    // the worker's heap until they are full. Spawns from a task are
    // admitted past the bound; a refused one must still give its room back.
    const BOUND: usize = 40_000;
    let sched = scheduler(1, Some(BOUND));
    let (gate, drops) = (Gate::new(), DropCount::new());
    let report = Arc::new(Mutex::new(Vec::<String>::new()));
    let (inner, g, d, r) = (sched.clone(), gate.clone(), drops.clone(), report.clone());
    let parent = sched.spawn(
        async move {
            let mut children = Vec::new();
            let refusal = loop {
                let id = children.len() as u64;
                match inner.try_spawn_with(
                    job(id, &g, &d),
                    TaskOptions::new(Priority::Normal).name("child"),
                ) {
                    Ok(h) => children.push(h),
                    Err(e) => break e,
                }
                assert!(children.len() < 1_000_000, "never refused");
            };
            let note = |s: String| r.lock().unwrap().push(s);
            note(format!(
                "refused after {}: {:?}",
                children.len(),
                refusal.reason()
            ));
            // A batch from inside: nothing fits, all of it comes back.
            let batch: Vec<_> = (0..10).map(|i| job(2_000_000 + i, &g, &d)).collect();
            let (admitted, rest) = inner.spawn_batch(batch, Priority::Low);
            note(format!(
                "batch {} admitted, {} back",
                admitted.len(),
                rest.len()
            ));
            // `spawn` (no `try`): a handle that resolves to a cancelled error.
            let lost = inner.spawn(job(3_000_000, &g, &d), Priority::High);
            let lost = lost.await;
            note(format!(
                "spawn: cancelled {}",
                lost.unwrap_err().is_cancelled()
            ));
            // Memory again (the host's "free memory" arrives): spawning works.
            inner.platform().set_budget(UNLIMITED);
            let late = inner
                .try_spawn(job(4_000_000, &g, &d), Priority::Normal)
                .expect("served again");
            // The handed-back future is intact: await it here, once the
            // gate opens.
            let refused_id = refusal.into_inner().await;
            let mut ids = Vec::new();
            for h in children {
                ids.push(h.await.unwrap());
            }
            let rest_ids: Vec<u64> = futures_join(rest).await;
            note(format!(
                "refused {refused_id}, late {}, rest {rest_ids:?}",
                late.await.unwrap()
            ));
            ids
        },
        Priority::Normal,
    );
    sched.run_until_idle(0);
    assert!(!parent.is_finished(), "waits for the gate");
    let admitted = sched.metrics().total().submitted - 2; // parent, late
    assert!(admitted > 1000);
    gate.open();
    sched.run_until_idle(0);
    let mut parent = parent;
    let ids = match poll_once(&mut parent) {
        Poll::Ready(Ok(ids)) => ids,
        other => panic!("parent not done: {other:?}"),
    };
    assert_eq!(ids, (0..admitted as u64).collect::<Vec<_>>());
    assert_eq!(
        *report.lock().unwrap(),
        [
            format!("refused after {admitted}: NoMemory"),
            "batch 0 admitted, 10 back".to_string(),
            "spawn: cancelled true".to_string(),
            format!(
                "refused {admitted}, late 4000000, rest {:?}",
                (2_000_000..2_000_010).collect::<Vec<u64>>()
            ),
        ]
    );
    // Children, the refused one, the batch, the lost `spawn`, the late one.
    assert_eq!(drops.get(), admitted + 1 + 10 + 1 + 1);
    let m = sched.metrics();
    assert_eq!(m.total().submitted, admitted + 2);
    assert_eq!(m.total().completed, admitted + 2);
    assert_eq!(m.live, 0);
    assert!(sched.platform().refused.load(Ordering::SeqCst) >= 3);
    // No room was kept by the three refusals: the bound admits BOUND.
    assert_room(&sched, BOUND);
    shut_down(sched);
}

/// Checks that the idle scheduler admits exactly `bound` tasks from
/// outside (no room was kept by a refusal), then runs them.
fn assert_room(sched: &Scheduler<Host>, bound: usize) {
    assert_eq!(sched.live_tasks(), 0);
    let (fill, full) = spawn_until_refused(sched, |_| async {});
    assert!(full.is_full(), "{full:?}");
    assert_eq!(fill.len(), bound, "room leaked by a refusal");
    sched.run_until_idle(0);
    drop(fill);
}

/// Awaits each future in turn (they are ready once the gate is open).
async fn futures_join<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

#[test]
fn a_batch_hands_back_the_rest_in_order() {
    const BOUND: usize = 50_000;
    let sched = scheduler(1, Some(BOUND));
    let (gate, drops) = (Gate::new(), DropCount::new());
    let all: Vec<_> = (0..40_000).map(|id| job(id, &gate, &drops)).collect();
    let (mut handles, rest) = sched.spawn_batch(all, Priority::Normal);
    let admitted = handles.len();
    assert!(admitted > 1000 && !rest.is_empty(), "{admitted} admitted");
    assert_eq!(admitted + rest.len(), 40_000);
    assert_eq!(sched.metrics().total().submitted, admitted);
    assert_eq!(drops.get(), 0);

    // The rest, resubmitted once there is memory, runs after the first part.
    sched.platform().set_budget(UNLIMITED);
    let (more, none) = sched.spawn_batch(rest, Priority::Normal);
    assert!(none.is_empty());
    handles.extend(more);
    gate.open();
    sched.run_until_idle(0);
    let ids: Vec<u64> = handles
        .iter_mut()
        .map(|h| match poll_once(h) {
            Poll::Ready(Ok(id)) => id,
            other => panic!("not finished: {other:?}"),
        })
        .collect();
    assert_eq!(ids, (0..40_000).collect::<Vec<_>>(), "in order, each once");
    assert_eq!(drops.get(), 40_000);
    assert_room(&sched, BOUND);
    shut_down(sched);
}

#[test]
fn spawn_when_room_resolves_to_the_refusal() {
    let sched = scheduler(0, Some(1));
    let (gate, drops) = (Gate::new(), DropCount::new());
    let mut waiting = sched.spawn_when_room(job(7, &gate, &drops), TaskOptions::new(Priority::Low));
    let refused = match poll_once(&mut waiting) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected a refusal: {other:?}"),
    };
    assert!(refused.is_no_memory());
    // The one place under the bound is free again.
    sched.platform().set_budget(UNLIMITED);
    let mut again = sched.spawn_when_room(refused.into_inner(), TaskOptions::new(Priority::Low));
    let mut handle = match poll_once(&mut again) {
        Poll::Ready(Ok(h)) => h,
        other => panic!("expected a handle: {other:?}"),
    };
    gate.open();
    sched.run_until_idle(0);
    assert!(matches!(poll_once(&mut handle), Poll::Ready(Ok(7))));
    assert_eq!(drops.get(), 1);
    shut_down(sched);
}

/// A future too large for the slab's classes: it gets a large page.
struct Big {
    pad: [u8; 4096],
    id: u64,
}

impl Future for Big {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u64> {
        Poll::Ready(self.id + u64::from(self.pad[4095]))
    }
}

#[test]
fn large_tasks_are_refused_when_the_allocator_fails() {
    for pooled in [true, false] {
        let mut config = Config::new(1);
        config.max_tasks = Some(1);
        config.pooled_slab = pooled;
        let sched = Scheduler::new(Host::new(UNLIMITED), config).unwrap();
        FAIL_LARGE.with(|f| f.set(true));
        let refused = sched.try_spawn(
            Big {
                pad: [1; 4096],
                id: 5,
            },
            Priority::High,
        );
        FAIL_LARGE.with(|f| f.set(false));
        let refused = refused.unwrap_err();
        assert!(refused.is_no_memory());
        assert_eq!(sched.metrics().total().submitted, 0);
        // The room is back and the future intact: it runs now.
        let mut handle = sched
            .try_spawn(refused.into_inner(), Priority::High)
            .expect("room and memory");
        sched.run_until_idle(0);
        assert!(matches!(poll_once(&mut handle), Poll::Ready(Ok(6))));
        shut_down(sched);
    }
}
