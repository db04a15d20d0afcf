//! The real task code racing itself: `RawTask` (poll, complete, cancel,
//! free), the task waker and `JoinHandle`, run by `internals::ModelHost`,
//! a host with one queue and no scheduler (see `task/model_host.rs`).
//!
//! The stage and the join-waker slot are loom cells, so loom reports any
//! access to them that the state word does not order; the model host
//! checks at every hook that the task is still alive (a loom-checked flag
//! that the free clears) and, when it drops, that no freed task's state
//! word changed after its free. At the end of every execution:
//!
//! - the future was dropped exactly once and the output, if any was made,
//!   exactly once (no task lost, run twice, leaked or dropped twice);
//! - the task was freed exactly once, with no entry left;
//! - every join waker the handle lent was dropped exactly once per copy
//!   and woken at most once, and a handle left waiting was woken.

use echo_sched_core::internals::{Claim, ModelHost};
use echo_sched_core::{JoinError, JoinHandle, Priority};
use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// Join wakers one execution may make.
const WAKERS: usize = 3;

/// What happened to a task's future, output and join wakers. Plain
/// counters: they take no part in the protocol, so they are not loom's.
#[derive(Default)]
struct Log {
    future_drops: AtomicUsize,
    outputs_made: AtomicUsize,
    output_drops: AtomicUsize,
    wakers_made: AtomicUsize,
    waker_clones: [AtomicUsize; WAKERS],
    waker_drops: [AtomicUsize; WAKERS],
    wakes: [AtomicUsize; WAKERS],
}

/// The future: ready once `ready` is set (by the thread that then wakes
/// it). Its drop and its output's drop are counted.
struct Gate {
    ready: Arc<AtomicBool>,
    log: std::sync::Arc<Log>,
}

impl Future for Gate {
    type Output = Output;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Output> {
        if self.ready.load(SeqCst) {
            self.log.outputs_made.fetch_add(1, Relaxed);
            Poll::Ready(Output(self.log.clone()))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.log.future_drops.fetch_add(1, Relaxed);
    }
}

struct Output(std::sync::Arc<Log>);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.output_drops.fetch_add(1, Relaxed);
    }
}

/// A join waker: its clones, wakes and drops are counted by id.
struct JoinWaker {
    id: usize,
    log: std::sync::Arc<Log>,
}

static JOIN_WAKER: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn join_waker(id: usize, log: std::sync::Arc<Log>) -> Waker {
    let data = Box::into_raw(Box::new(JoinWaker { id, log }))
        .cast_const()
        .cast();
    // SAFETY: the vtable's functions treat `data` as the `Box<JoinWaker>`
    // made here, and each copy owns its own box.
    unsafe { Waker::from_raw(RawWaker::new(data, &JOIN_WAKER)) }
}

fn waker_of<'a>(data: *const ()) -> &'a JoinWaker {
    // SAFETY: every `data` is a live `Box<JoinWaker>` (see `join_waker`).
    unsafe { &*data.cast::<JoinWaker>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let w = waker_of(data);
    w.log.waker_clones[w.id].fetch_add(1, Relaxed);
    let copy = Box::new(JoinWaker {
        id: w.id,
        log: w.log.clone(),
    });
    RawWaker::new(Box::into_raw(copy).cast_const().cast(), &JOIN_WAKER)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: forwarded; `wake` consumes this copy.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let w = waker_of(data);
    w.log.wakes[w.id].fetch_add(1, Relaxed);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this copy's box, dropped once.
    let w = unsafe { Box::from_raw(data.cast_mut().cast::<JoinWaker>()) };
    w.log.waker_drops[w.id].fetch_add(1, Relaxed);
}

/// A task's waker, held by the model: each use is a scheduling point.
struct TaskWaker {
    host: Arc<ModelHost>,
    waker: Option<Waker>,
}

impl TaskWaker {
    fn wake(mut self) {
        self.host.point();
        self.waker.take().unwrap().wake();
    }

    fn wake_by_ref(&self) {
        self.host.point();
        self.waker.as_ref().unwrap().wake_by_ref();
    }
}

impl Clone for TaskWaker {
    fn clone(&self) -> Self {
        TaskWaker {
            host: self.host.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl Drop for TaskWaker {
    fn drop(&mut self) {
        if let Some(waker) = self.waker.take() {
            self.host.point();
            drop(waker);
        }
    }
}

/// One task of the model: its host, its flag and its log.
struct Model {
    host: Arc<ModelHost>,
    ready: Arc<AtomicBool>,
    log: std::sync::Arc<Log>,
}

impl Model {
    /// A thread that runs the host's queue until it is empty, as a worker.
    fn spawn_worker(&self) -> thread::JoinHandle<()> {
        let host = self.host.clone();
        thread::spawn(move || host.run_until_empty())
    }

    /// A new host with one task queued at `p`, and the task's handle.
    fn new(p: Priority) -> (Model, JoinHandle<Output>) {
        let model = Model {
            host: Arc::new(ModelHost::new()),
            ready: Arc::new(AtomicBool::new(false)),
            log: std::sync::Arc::default(),
        };
        let gate = Gate {
            ready: model.ready.clone(),
            log: model.log.clone(),
        };
        let handle = model.host.spawn(gate, p);
        (model, handle)
    }

    /// A waker for the task of `handle`, as a poll hands out.
    fn waker(&self, handle: &JoinHandle<Output>) -> TaskWaker {
        TaskWaker {
            host: self.host.clone(),
            waker: Some(self.host.waker(handle)),
        }
    }

    /// Aborts the task.
    fn abort(&self, handle: &JoinHandle<Output>) {
        self.host.point();
        handle.abort();
    }

    /// Drops the handle (detaching the task).
    fn detach(&self, handle: JoinHandle<Output>) {
        self.host.point();
        drop(handle);
    }

    /// A new task polled once (Pending), and a waker for it (as the
    /// future would keep one).
    fn waiting(p: Priority) -> (Model, JoinHandle<Output>, TaskWaker) {
        let (model, handle) = Model::new(p);
        let waker = model.waker(&handle);
        model.host.run_until_empty();
        assert_eq!(model.host.polls(), 1);
        assert!(!handle.is_finished());
        (model, handle, waker)
    }

    /// Polls `handle` with a fresh join waker: `None` while it waits.
    fn poll(&self, handle: &mut JoinHandle<Output>) -> Option<Result<Output, JoinError>> {
        self.host.point();
        let id = self.log.wakers_made.fetch_add(1, Relaxed);
        assert!(id < WAKERS);
        let waker = join_waker(id, self.log.clone());
        match Pin::new(handle).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }

    /// Whether the latest join waker was woken.
    fn last_join_waker_woken(&self) -> bool {
        let last = self.log.wakers_made.load(Relaxed) - 1;
        self.log.wakes[last].load(Relaxed) == 1
    }

    /// Resolves the handle once every thread joined and the queue drained:
    /// the task must be complete by then. True if it had an output.
    fn resolve(&self, mut handle: JoinHandle<Output>) -> bool {
        self.host.run_until_empty();
        let out = self
            .poll(&mut handle)
            .expect("the task never completed: a wake was lost");
        out.is_ok()
    }

    /// Checks the end of an execution: everything happened exactly once.
    fn check_end(&self) {
        let host = &self.host;
        assert_eq!(host.queued(), 0, "an entry was left");
        assert_eq!(host.frees(), 1, "freed other than once");
        assert_eq!(host.live(), 0);
        let log = &self.log;
        assert_eq!(log.future_drops.load(Relaxed), 1, "future dropped ≠ once");
        let made = log.outputs_made.load(Relaxed);
        assert!(made <= 1);
        assert_eq!(
            log.output_drops.load(Relaxed),
            made,
            "output leaked or dropped twice"
        );
        for id in 0..log.wakers_made.load(Relaxed) {
            let copies = log.waker_clones[id].load(Relaxed) + 1;
            let drops = log.waker_drops[id].load(Relaxed);
            assert_eq!(
                drops, copies,
                "join waker {id}: {copies} copies, {drops} drops"
            );
            let wakes = log.wakes[id].load(Relaxed);
            assert!(wakes <= 1, "join waker {id} woken {wakes} times");
        }
    }
}

#[test]
fn wake_by_val_during_a_poll() {
    crate::model("state::wake_by_val_during_a_poll", || {
        let (m, handle) = Model::new(Priority::Normal);
        let waker = m.waker(&handle);
        let worker = m.spawn_worker();
        let waking = {
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake();
            })
        };
        worker.join().unwrap();
        waking.join().unwrap();
        assert!(m.resolve(handle));
        // One poll for the first entry, at most one more for the wake.
        let polls = m.host.polls();
        assert!((1..=2).contains(&polls), "{polls} polls");
        m.check_end();
    });
}

#[test]
fn wake_by_ref_races_the_end_of_a_poll() {
    crate::model("state::wake_by_ref_races_the_end_of_a_poll", || {
        let (m, handle) = Model::new(Priority::Low);
        let waker = m.waker(&handle);
        // The worker has claimed the first entry and is about to poll.
        let claimed = m.host.claim_next().unwrap();
        assert_eq!(claimed.claim(), Claim::Run);
        let worker = {
            let host = m.host.clone();
            thread::spawn(move || {
                host.run_claimed(claimed);
                host.run_until_empty();
            })
        };
        let waking = {
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake_by_ref();
                drop(waker);
            })
        };
        worker.join().unwrap();
        waking.join().unwrap();
        assert!(m.resolve(handle));
        let polls = m.host.polls();
        assert!((1..=2).contains(&polls), "{polls} polls");
        m.check_end();
    });
}

#[test]
fn a_wake_after_completion_and_the_handle_dropped() {
    crate::model("state::wake_after_completion", || {
        let (m, handle) = Model::new(Priority::High);
        let waker = m.waker(&handle);
        m.ready.store(true, SeqCst);
        let worker = m.spawn_worker();
        let waking = thread::spawn(move || waker.wake());
        // The handle goes away while the task completes and is woken: the
        // output is dropped once, by the completer or the handle.
        m.detach(handle);
        worker.join().unwrap();
        waking.join().unwrap();
        m.host.run_until_empty();
        assert_eq!(m.host.polls(), 1, "a wake after completion ran it");
        m.check_end();
    });
}

#[test]
fn abort_races_completion() {
    crate::model("state::abort_races_completion", || {
        let (m, handle, waker) = Model::waiting(Priority::Normal);
        let worker = {
            let host = m.host.clone();
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake();
                host.run_until_empty();
            })
        };
        m.abort(&handle);
        worker.join().unwrap();
        let got_output = m.resolve(handle);
        assert_eq!(got_output, m.log.outputs_made.load(Relaxed) == 1);
        assert!(m.host.polls() <= 2);
        m.check_end();
    });
}

#[test]
fn abort_while_running_is_never_lost() {
    crate::model("state::abort_while_running", || {
        // The future never becomes ready: only the abort can finish it.
        let (m, handle) = Model::new(Priority::Normal);
        let worker = m.spawn_worker();
        m.abort(&handle);
        worker.join().unwrap();
        assert!(!m.resolve(handle), "cancelled");
        assert!(m.host.polls() <= 1);
        m.check_end();
    });
}

#[test]
fn join_waker_registration_races_completion() {
    crate::model("state::join_waker_races_completion", || {
        let (m, mut handle) = Model::new(Priority::Normal);
        m.ready.store(true, SeqCst);
        let worker = m.spawn_worker();
        // Register while the worker completes (replacing the waker is the
        // next model).
        let mut result = m.poll(&mut handle);
        worker.join().unwrap();
        if result.is_none() {
            // Still lent at the end: the completer must have woken it.
            assert!(m.last_join_waker_woken(), "lost join wake");
            result = m.poll(&mut handle);
        }
        assert!(result.expect("complete").is_ok());
        drop(handle);
        m.check_end();
    });
}

#[test]
fn dropping_the_handle_races_completion() {
    crate::model("state::drop_handle_races_completion", || {
        let (m, mut handle) = Model::new(Priority::Low);
        assert!(m.poll(&mut handle).is_none(), "registers its waker");
        m.ready.store(true, SeqCst);
        let worker = m.spawn_worker();
        m.detach(handle);
        worker.join().unwrap();
        m.check_end();
    });
}

#[test]
fn shutdown_claim_races_a_wake_and_a_worker() {
    crate::model("state::shutdown_races_wake", || {
        let (m, handle, waker) = Model::waiting(Priority::High);
        let worker = {
            let host = m.host.clone();
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake();
                host.run_until_empty();
            })
        };
        // The shutdown walk: cancel the task unless a worker owns it.
        m.host.cancel_for_shutdown(&handle);
        worker.join().unwrap();
        let got_output = m.resolve(handle);
        assert_eq!(got_output, m.log.outputs_made.load(Relaxed) == 1);
        m.check_end();
    });
}

/// A wake by reference while the task's first entry is queued and being
/// claimed: the claim must see the event (found the missing write-back in
/// `State::wake_by_ref`).
#[test]
fn wake_by_ref_during_a_poll() {
    crate::model("state::wake_by_ref_during_a_poll", || {
        let (m, handle) = Model::new(Priority::Low);
        let waker = m.waker(&handle);
        let worker = m.spawn_worker();
        let waking = {
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake_by_ref();
                drop(waker);
            })
        };
        worker.join().unwrap();
        waking.join().unwrap();
        assert!(m.resolve(handle));
        m.check_end();
    });
}

/// The handle replaces its lent waker while the task completes (found the
/// debug assertion in `unset_join_waker` that fired after completion).
#[test]
fn replacing_the_join_waker_races_completion() {
    crate::model("state::replace_join_waker_races_completion", || {
        let (m, mut handle) = Model::new(Priority::Normal);
        m.ready.store(true, SeqCst);
        let worker = m.spawn_worker();
        // Register, then register a different waker (taking the first back).
        let mut result = m.poll(&mut handle);
        if result.is_none() {
            result = m.poll(&mut handle);
        }
        worker.join().unwrap();
        if result.is_none() {
            assert!(m.last_join_waker_woken(), "lost join wake");
            result = m.poll(&mut handle);
        }
        assert!(result.expect("complete").is_ok());
        drop(handle);
        m.check_end();
    });
}

/// A detached task parked on two wakers, held by two threads that drop
/// them at once, while a worker runs whatever is queued: exactly one drop
/// finds the task an orphan and queues its cancellation; the future is
/// dropped once and the task freed once.
#[test]
fn the_last_wakers_of_a_detached_task_dropped_at_once() {
    crate::model("state::last_wakers_dropped_at_once", || {
        let (m, handle, first) = Model::waiting(Priority::Normal);
        let second = first.clone();
        m.detach(handle); // detached
        let droppers: Vec<_> = [first, second]
            .into_iter()
            .map(|w| thread::spawn(move || drop(w)))
            .collect();
        let worker = m.spawn_worker();
        for d in droppers {
            d.join().unwrap();
        }
        worker.join().unwrap();
        m.host.run_until_empty();
        assert_eq!(m.host.polls(), 1, "an orphan is not polled again");
        assert_eq!(m.host.orphans(), 1, "one drop found the orphan");
        m.check_end();
    });
}

/// The task's only waker is dropped by another thread while the worker's
/// poll is ending: either the drop sees the worker's reference and the
/// worker finds the orphan after the poll, or the worker leaves the task
/// idle and the drop queues its cancellation. Once either way.
#[test]
fn an_orphaning_waker_drop_races_the_end_of_a_poll() {
    crate::model("state::orphaning_drop_races_a_poll", || {
        let (m, handle) = Model::new(Priority::Low);
        let waker = m.waker(&handle); // the waker the poll hands out
        m.detach(handle); // detached
        let claimed = m.host.claim_next().unwrap();
        assert_eq!(claimed.claim(), Claim::Run);
        let worker = {
            let host = m.host.clone();
            thread::spawn(move || {
                host.run_claimed(claimed);
                host.run_until_empty();
            })
        };
        let dropper = thread::spawn(move || drop(waker));
        worker.join().unwrap();
        dropper.join().unwrap();
        m.host.run_until_empty();
        assert_eq!(m.host.polls(), 1);
        m.check_end();
    });
}

/// A High task awaits the handle of a waiting Low task (registering its
/// join waker and lending its priority) while another thread makes the
/// Low task ready and wakes it: the raise, the wake and the completion
/// race, and the awaiting task still gets the output exactly once.
#[test]
fn a_higher_task_awaits_a_handle_while_it_is_woken() {
    crate::model("state::inherit_races_a_wake", || {
        let (m, handle, waker) = Model::waiting(Priority::Low);
        let mut awaiting = m
            .host
            .spawn(async move { handle.await.is_ok() }, Priority::High);
        let worker = m.spawn_worker();
        let waking = {
            let ready = m.ready.clone();
            thread::spawn(move || {
                ready.store(true, SeqCst);
                waker.wake();
            })
        };
        worker.join().unwrap();
        waking.join().unwrap();
        m.host.run_until_empty();
        let got = Pin::new(&mut awaiting).poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(got, Poll::Ready(Ok(true))), "the output, once");
        drop(awaiting);
        assert_eq!(m.host.queued(), 0, "an entry was left");
        assert_eq!(m.host.frees(), 2, "each task freed once");
        let log = &m.log;
        assert_eq!(log.future_drops.load(Relaxed), 1);
        assert_eq!(log.outputs_made.load(Relaxed), 1);
        assert_eq!(log.output_drops.load(Relaxed), 1);
    });
}
