//! The task state machine (`internals::State`) racing itself.
//!
//! A model task is the state word plus loom-tracked cells standing in for
//! the stage (future or output) and the trailer's join-waker slot, and a
//! loom-tracked `alive` flag that the final reference clears. The helpers
//! below do with those exactly what `task/raw.rs`, `task/waker.rs` and
//! `task/join.rs` do with the real task, so loom checks the protocol the
//! scheduler relies on: every stage or slot access is ordered by the state
//! word (loom reports a data race otherwise), nothing touches the task
//! after its last reference is gone, and at the end of every execution:
//!
//! - the future was dropped exactly once and the output, if any was made,
//!   exactly once (no task lost, run twice, leaked or dropped twice);
//! - the reference count reached zero exactly once, with the task COMPLETE;
//! - every join waker the handle lent was either woken by the completer or
//!   taken back by the handle (never both, never neither) and dropped once.

use echo_sched_core::Priority;
use echo_sched_core::internals::{AfterPoll, Claim, DropRef, HandleRelease, Notify, State};
use loom::cell::UnsafeCell;
use loom::sync::atomic::Ordering::{Relaxed, SeqCst};
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;

const WAKERS: usize = 3;

/// What the stage holds (the real stage is an untagged union; the state
/// word says which member is live, and this tag is checked against it).
#[derive(Debug, PartialEq)]
enum Stage {
    Future,
    Output,
    Empty,
}

/// Per-waker counters for the join wakers the handle lends.
#[derive(Default)]
struct WakerLog {
    made: AtomicUsize,
    wakes: [AtomicUsize; WAKERS],
    drops: [AtomicUsize; WAKERS],
    taken_back: [AtomicUsize; WAKERS],
}

/// A join waker: waking and dropping it are counted.
struct JoinWaker {
    id: usize,
    log: Arc<WakerLog>,
}

impl JoinWaker {
    fn wake_by_ref(&self) {
        self.log.wakes[self.id].fetch_add(1, SeqCst);
    }
}

impl Drop for JoinWaker {
    fn drop(&mut self) {
        self.log.drops[self.id].fetch_add(1, SeqCst);
    }
}

struct Task {
    state: State,
    stage: UnsafeCell<Stage>,
    join_waker: UnsafeCell<Option<JoinWaker>>,
    alive: UnsafeCell<bool>,
    /// The event the future waits for.
    ready: AtomicBool,
    /// Queue entries (each holds one reference), by tier.
    queue: Mutex<Vec<Priority>>,
    polls: AtomicUsize,
    reschedules: AtomicUsize,
    future_drops: AtomicUsize,
    outputs_made: AtomicUsize,
    output_drops: AtomicUsize,
    deallocs: AtomicUsize,
    wakers: Arc<WakerLog>,
    points: AtomicUsize,
}

impl Task {
    /// A new task: queued at `p` with one entry, a handle and the registry
    /// reference.
    fn new(p: Priority) -> Arc<Task> {
        let task = Arc::new(Task {
            state: State::new(p, false, false),
            stage: UnsafeCell::new(Stage::Future),
            join_waker: UnsafeCell::new(None),
            alive: UnsafeCell::new(true),
            ready: AtomicBool::new(false),
            queue: Mutex::new(Vec::new()),
            polls: AtomicUsize::new(0),
            reschedules: AtomicUsize::new(0),
            future_drops: AtomicUsize::new(0),
            outputs_made: AtomicUsize::new(0),
            output_drops: AtomicUsize::new(0),
            deallocs: AtomicUsize::new(0),
            wakers: Arc::new(WakerLog::default()),
            points: AtomicUsize::new(0),
        });
        task.push_entry(p);
        task
    }

    fn check_alive(&self) {
        // A scheduling point: loom's partial-order reduction only remembers
        // an atomic's last access, so a thread's own load can hide another
        // thread's earlier one. Relaxed read-modify-writes of a shared
        // counter conflict with each other (loom tries both orders) but
        // order nothing, so they hide no missing synchronization.
        self.points.fetch_add(1, Relaxed);
        // SAFETY: a shared read of the loom cell; loom reports it if it
        // races with `dealloc`'s write.
        self.alive
            .with(|a| assert!(unsafe { *a }, "task used after its last reference"));
    }

    fn push_entry(&self, p: Priority) {
        self.queue.lock().unwrap().push(p);
    }

    fn pop_entry(&self) -> Option<Priority> {
        self.queue.lock().unwrap().pop()
    }

    /// Runs every queued entry, as a worker would.
    fn drain(&self) {
        while let Some(p) = self.pop_entry() {
            self.run_entry(p);
        }
    }

    /// `worker.rs` `run_entry`.
    fn run_entry(&self, tier: Priority) {
        self.check_alive();
        match self.state.claim(tier) {
            Claim::Stale { last } => {
                if last {
                    self.dealloc();
                }
            }
            Claim::Cancel | Claim::Orphaned => self.cancel(),
            Claim::Run => self.run_claimed(),
        }
    }

    /// Polls a task this thread claimed, and does what the poll asks.
    fn run_claimed(&self) {
        if self.poll() {
            self.complete(true);
        } else {
            match self.state.after_poll() {
                AfterPoll::Idle => {}
                AfterPoll::Reschedule(p) => {
                    self.reschedules.fetch_add(1, SeqCst);
                    self.push_entry(p);
                }
                AfterPoll::Cancel | AfterPoll::Orphaned => self.cancel(),
            }
        }
    }

    /// Polls the future (RUNNING held): ready once the event happened.
    fn poll(&self) -> bool {
        self.points.fetch_add(1, Relaxed);
        self.polls.fetch_add(1, SeqCst);
        self.stage.with_mut(|s| {
            // SAFETY: RUNNING gives this thread the stage; loom checks it.
            let s = unsafe { &mut *s };
            assert_eq!(*s, Stage::Future, "polled a task that has no future");
            if self.ready.load(SeqCst) {
                self.future_drops.fetch_add(1, SeqCst);
                self.outputs_made.fetch_add(1, SeqCst);
                *s = Stage::Output;
                true
            } else {
                false
            }
        })
    }

    /// `RawTask::cancel`: drop the future, complete without output.
    fn cancel(&self) {
        self.stage.with_mut(|s| {
            // SAFETY: RUNNING gives this thread the stage.
            let s = unsafe { &mut *s };
            assert_eq!(*s, Stage::Future, "cancelled a task that has no future");
            self.future_drops.fetch_add(1, SeqCst);
            *s = Stage::Empty;
        });
        self.complete(false);
    }

    /// `RawTask::complete`.
    fn complete(&self, with_output: bool) {
        let prev = self.state.complete(with_output);
        if !prev.has_join_interest() {
            if with_output {
                self.drop_output();
            }
        } else if prev.has_join_waker() {
            self.join_waker.with(|w| {
                // SAFETY: JOIN_WAKER was set at completion: lent to us.
                if let Some(w) = unsafe { &*w } {
                    w.wake_by_ref();
                }
            });
            let after = self.state.unset_join_waker_after_complete();
            if !after.has_join_interest() {
                // SAFETY: the handle is gone and left the slot to us.
                let w = self.join_waker.with_mut(|w| unsafe { (*w).take() });
                drop(w);
            }
        }
        if self.state.ref_dec_n(2) {
            self.dealloc();
        }
    }

    fn drop_output(&self) {
        self.stage.with_mut(|s| {
            // SAFETY: whoever calls this owns the output.
            let s = unsafe { &mut *s };
            assert_eq!(*s, Stage::Output, "dropped an output that is not there");
            self.output_drops.fetch_add(1, SeqCst);
            *s = Stage::Empty;
        });
    }

    /// The last reference: free the task (drop the trailer).
    fn dealloc(&self) {
        self.alive.with_mut(|a| {
            // SAFETY: the last reference is exclusive; loom checks it.
            let a = unsafe { &mut *a };
            assert!(*a, "task freed twice");
            *a = false;
        });
        self.deallocs.fetch_add(1, SeqCst);
        let s = self.state.load();
        assert!(s.is_complete(), "freed a task that is not complete: {s:?}");
        assert_eq!(s.ref_count(), 0);
        self.stage.with(|s| {
            // SAFETY: exclusive, as above.
            assert_eq!(unsafe { &*s }, &Stage::Empty, "freed with a live stage");
        });
        // SAFETY: exclusive, as above.
        let w = self.join_waker.with_mut(|w| unsafe { (*w).take() });
        drop(w);
    }

    /// `RawTask::drop_ref`: an orphan's cancellation is queued.
    fn drop_ref(&self) {
        self.check_alive();
        self.after_drop_ref(self.state.drop_ref());
    }

    /// `RawTask::after_drop_ref`.
    fn after_drop_ref(&self, dropped: DropRef) {
        match dropped {
            DropRef::Kept => {}
            DropRef::Last => self.dealloc(),
            DropRef::Orphaned(p) => self.push_entry(p),
        }
    }

    /// A waker (one reference) is consumed by `wake`.
    fn wake_by_val(&self) {
        self.check_alive();
        match self.state.wake_by_val() {
            Notify::Nothing => {}
            Notify::Submit(p) => self.push_entry(p),
            Notify::Dealloc => self.dealloc(),
        }
    }

    /// A waker is used by reference.
    fn wake_by_ref(&self) {
        self.check_alive();
        if let Notify::Submit(p) = self.state.wake_by_ref() {
            self.push_entry(p);
        }
    }

    /// A clone of a waker: one more reference.
    fn clone_waker(&self) {
        self.state.ref_inc();
    }

    /// Checks the end of an execution: everything happened exactly once.
    fn check_end(&self) {
        assert!(self.queue.lock().unwrap().is_empty(), "an entry was left");
        assert_eq!(self.deallocs.load(SeqCst), 1, "freed other than once");
        let s = self.state.load();
        assert!(s.is_complete() && s.ref_count() == 0, "{s:?}");
        assert_eq!(self.future_drops.load(SeqCst), 1, "future dropped ≠ once");
        assert!(self.outputs_made.load(SeqCst) <= 1);
        assert_eq!(
            self.output_drops.load(SeqCst),
            self.outputs_made.load(SeqCst),
            "output leaked or dropped twice"
        );
        let log = &self.wakers;
        for id in 0..log.made.load(SeqCst) {
            assert_eq!(log.drops[id].load(SeqCst), 1, "join waker {id} drops");
            let woken = log.wakes[id].load(SeqCst);
            let taken = log.taken_back[id].load(SeqCst);
            assert_eq!(
                woken + taken,
                1,
                "join waker {id}: woken {woken} times, taken back {taken} times"
            );
        }
    }
}

/// What the handle resolved to.
#[derive(Debug, PartialEq)]
enum Resolved {
    Output,
    Cancelled,
}

/// The JoinHandle's side (`task/join.rs`).
struct Handle {
    task: Arc<Task>,
    live: bool,
}

impl Handle {
    fn new(task: &Arc<Task>) -> Handle {
        Handle {
            task: task.clone(),
            live: true,
        }
    }

    fn new_waker(&self) -> JoinWaker {
        let id = self.task.wakers.made.fetch_add(1, SeqCst);
        assert!(id < WAKERS);
        JoinWaker {
            id,
            log: self.task.wakers.clone(),
        }
    }

    fn took_back(&self, w: JoinWaker) {
        self.task.wakers.taken_back[w.id].fetch_add(1, SeqCst);
        drop(w);
    }

    /// `JoinHandle::register`: true if the waker is now lent.
    fn register(&self, waker: JoinWaker) -> bool {
        let t = &*self.task;
        t.check_alive();
        let s = t.state.load();
        if s.is_complete() {
            self.took_back(waker); // never lent
            return false;
        }
        if s.has_join_waker() {
            if t.state.unset_join_waker().is_err() {
                self.took_back(waker);
                return false;
            }
            // The old waker is ours again.
            // SAFETY: JOIN_WAKER cleared before completion: the slot is ours.
            let old = t.join_waker.with_mut(|w| unsafe { (*w).take() });
            self.took_back(old.expect("a lent waker"));
        }
        // SAFETY: JOIN_WAKER is clear and not complete: the slot is ours.
        t.join_waker.with_mut(|w| unsafe { *w = Some(waker) });
        if t.state.set_join_waker().is_err() {
            // SAFETY: JOIN_WAKER still clear: still ours.
            let w = t.join_waker.with_mut(|w| unsafe { (*w).take() });
            self.took_back(w.expect("just stored"));
            return false;
        }
        true
    }

    /// Polls the handle with a fresh waker.
    fn poll(&mut self) -> Option<Resolved> {
        assert!(self.live, "handle polled after it resolved");
        let waker = self.new_waker();
        if self.register(waker) {
            return None;
        }
        let t = &*self.task;
        let s = t.state.load();
        assert!(s.is_complete());
        let out = if s.has_output() {
            // Moves the output out; the caller drops it.
            t.drop_output();
            Resolved::Output
        } else {
            Resolved::Cancelled
        };
        self.release(s.has_output());
        Some(out)
    }

    /// `JoinHandle::release`.
    fn release(&mut self, read: bool) {
        self.live = false;
        let t = &*self.task;
        t.check_alive();
        match t.state.release_handle() {
            HandleRelease::Complete(prev) => {
                if prev.has_output() && !read {
                    t.drop_output();
                }
                if !prev.has_join_waker() {
                    // SAFETY: the completer is done with the slot.
                    let w = t.join_waker.with_mut(|w| unsafe { (*w).take() });
                    drop(w);
                }
                if t.state.ref_dec() {
                    t.dealloc();
                }
            }
            HandleRelease::TookWaker => {
                // SAFETY: clearing JOIN_WAKER before completion took it back.
                let w = t.join_waker.with_mut(|w| unsafe { (*w).take() });
                self.took_back(w.expect("a lent waker"));
                t.drop_ref();
            }
            HandleRelease::Released(dropped) => t.after_drop_ref(dropped),
        }
    }

    /// `JoinHandle::abort`.
    fn abort(&self) {
        self.task.check_alive();
        if let Notify::Submit(p) = self.task.state.abort() {
            self.task.push_entry(p);
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.live {
            self.release(false);
        }
    }
}

/// Resolves the handle after every thread joined and the queue drained:
/// the task must be complete by then.
fn resolve(mut handle: Handle) -> Resolved {
    handle.task.drain();
    handle
        .poll()
        .expect("the task never completed: a wake was lost")
}

/// Polls the new task once (Pending) so it waits on a waker; the waker
/// holds one reference.
fn idle_task_with_waker(p: Priority) -> (Arc<Task>, Handle) {
    let task = Task::new(p);
    let handle = Handle::new(&task);
    task.clone_waker();
    task.drain();
    assert_eq!(task.polls.load(SeqCst), 1);
    assert!(task.state.load().is_idle());
    (task, handle)
}

#[test]
fn wake_by_val_during_a_poll() {
    crate::model("state::wake_by_val_during_a_poll", || {
        let task = Task::new(Priority::Normal);
        let handle = Handle::new(&task);
        task.clone_waker();
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        let waker = {
            let task = task.clone();
            thread::spawn(move || {
                task.ready.store(true, SeqCst);
                task.wake_by_val();
            })
        };
        worker.join().unwrap();
        waker.join().unwrap();
        assert_eq!(resolve(handle), Resolved::Output);
        // One poll for the first entry, at most one more for the wake.
        let polls = task.polls.load(SeqCst);
        assert!((1..=2).contains(&polls), "{polls} polls");
        assert!(task.reschedules.load(SeqCst) <= 1);
        task.check_end();
    });
}

#[test]
fn wake_by_ref_races_the_end_of_a_poll() {
    crate::model("state::wake_by_ref_races_the_end_of_a_poll", || {
        let task = Task::new(Priority::Low);
        let handle = Handle::new(&task);
        task.clone_waker();
        // The worker has claimed the first entry and is about to poll.
        let p = task.pop_entry().unwrap();
        assert_eq!(task.state.claim(p), Claim::Run);
        let worker = {
            let task = task.clone();
            thread::spawn(move || {
                task.run_claimed();
                task.drain();
            })
        };
        let waker = {
            let task = task.clone();
            thread::spawn(move || {
                task.ready.store(true, SeqCst);
                task.wake_by_ref();
                task.drop_ref();
            })
        };
        worker.join().unwrap();
        waker.join().unwrap();
        assert_eq!(resolve(handle), Resolved::Output);
        let polls = task.polls.load(SeqCst);
        assert!((1..=2).contains(&polls), "{polls} polls");
        assert!(task.reschedules.load(SeqCst) <= 1);
        task.check_end();
    });
}

#[test]
fn a_wake_after_completion_and_the_handle_dropped() {
    crate::model("state::wake_after_completion", || {
        let task = Task::new(Priority::High);
        let handle = Handle::new(&task);
        task.clone_waker();
        task.ready.store(true, SeqCst);
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        let waker = {
            let task = task.clone();
            thread::spawn(move || task.wake_by_val())
        };
        // The handle goes away while the task completes and is woken: the
        // output is dropped once, by the completer or the handle.
        drop(handle);
        worker.join().unwrap();
        waker.join().unwrap();
        task.drain();
        assert_eq!(task.polls.load(SeqCst), 1, "a wake after completion ran it");
        task.check_end();
    });
}

#[test]
fn abort_races_completion() {
    crate::model("state::abort_races_completion", || {
        let (task, handle) = idle_task_with_waker(Priority::Normal);
        let worker = {
            let task = task.clone();
            thread::spawn(move || {
                task.ready.store(true, SeqCst);
                task.wake_by_val();
                task.drain();
            })
        };
        handle.abort();
        worker.join().unwrap();
        let got = resolve(handle);
        let made = task.outputs_made.load(SeqCst);
        match got {
            Resolved::Output => assert_eq!(made, 1),
            Resolved::Cancelled => assert_eq!(made, 0),
        }
        assert!(task.polls.load(SeqCst) <= 2);
        task.check_end();
    });
}

#[test]
fn abort_while_running_is_never_lost() {
    crate::model("state::abort_while_running", || {
        // The future never becomes ready: only the abort can finish it.
        let task = Task::new(Priority::Normal);
        let handle = Handle::new(&task);
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        handle.abort();
        worker.join().unwrap();
        assert_eq!(resolve(handle), Resolved::Cancelled);
        assert!(task.polls.load(SeqCst) <= 1);
        task.check_end();
    });
}

#[test]
fn join_waker_registration_races_completion() {
    crate::model("state::join_waker_races_completion", || {
        let task = Task::new(Priority::Normal);
        let mut handle = Handle::new(&task);
        task.ready.store(true, SeqCst);
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        // Register while the worker completes (replacing the waker is the
        // next model).
        let mut result = handle.poll();
        worker.join().unwrap();
        if result.is_none() {
            // Still lent at the end: the completer must have woken it.
            let last = task.wakers.made.load(SeqCst) - 1;
            assert_eq!(task.wakers.wakes[last].load(SeqCst), 1, "lost join wake");
            result = handle.poll();
        }
        assert_eq!(result, Some(Resolved::Output));
        drop(handle);
        task.check_end();
    });
}

#[test]
fn dropping_the_handle_races_completion() {
    crate::model("state::drop_handle_races_completion", || {
        let task = Task::new(Priority::Low);
        let mut handle = Handle::new(&task);
        assert_eq!(handle.poll(), None, "registers its waker");
        task.ready.store(true, SeqCst);
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        drop(handle);
        worker.join().unwrap();
        task.check_end();
    });
}

#[test]
fn shutdown_claim_races_a_wake_and_a_worker() {
    crate::model("state::shutdown_races_wake", || {
        let (task, handle) = idle_task_with_waker(Priority::High);
        let worker = {
            let task = task.clone();
            thread::spawn(move || {
                task.ready.store(true, SeqCst);
                task.wake_by_val();
                task.drain();
            })
        };
        // The shutdown walk: cancel the task unless a worker owns it.
        if task.state.claim_for_shutdown() {
            task.cancel();
        }
        worker.join().unwrap();
        let got = resolve(handle);
        let made = task.outputs_made.load(SeqCst);
        assert_eq!(got == Resolved::Output, made == 1);
        task.check_end();
    });
}

/// A wake by reference while the task's first entry is queued and being
/// claimed: the claim must see the event (found the missing write-back in
/// `State::wake_by_ref`).
#[test]
fn wake_by_ref_during_a_poll() {
    crate::model("state::wake_by_ref_during_a_poll", || {
        let task = Task::new(Priority::Low);
        let handle = Handle::new(&task);
        task.clone_waker();
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        let waker = {
            let task = task.clone();
            thread::spawn(move || {
                task.ready.store(true, SeqCst);
                task.wake_by_ref();
                task.drop_ref();
            })
        };
        worker.join().unwrap();
        waker.join().unwrap();
        assert_eq!(resolve(handle), Resolved::Output);
        task.check_end();
    });
}

/// The handle replaces its lent waker while the task completes (found the
/// debug assertion in `unset_join_waker` that fired after completion).
#[test]
fn replacing_the_join_waker_races_completion() {
    crate::model("state::replace_join_waker_races_completion", || {
        let task = Task::new(Priority::Normal);
        let mut handle = Handle::new(&task);
        task.ready.store(true, SeqCst);
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        // Register, then register a different waker (taking the first back).
        let mut result = handle.poll();
        if result.is_none() {
            result = handle.poll();
        }
        worker.join().unwrap();
        if result.is_none() {
            let last = task.wakers.made.load(SeqCst) - 1;
            assert_eq!(task.wakers.wakes[last].load(SeqCst), 1, "lost join wake");
            result = handle.poll();
        }
        assert_eq!(result, Some(Resolved::Output));
        drop(handle);
        task.check_end();
    });
}

/// A detached task parked on two wakers, held by two threads that drop
/// them at once (`RawTask::drop_ref`), while a worker runs whatever is
/// queued: exactly one drop finds the task an orphan and queues its
/// cancellation; the future is dropped once and the task freed once.
#[test]
fn the_last_wakers_of_a_detached_task_dropped_at_once() {
    crate::model("state::last_wakers_dropped_at_once", || {
        let (task, handle) = idle_task_with_waker(Priority::Normal);
        task.clone_waker(); // the second waker
        drop(handle); // detached
        let droppers: Vec<_> = (0..2)
            .map(|_| {
                let task = task.clone();
                thread::spawn(move || task.drop_ref())
            })
            .collect();
        let worker = {
            let task = task.clone();
            thread::spawn(move || task.drain())
        };
        for d in droppers {
            d.join().unwrap();
        }
        worker.join().unwrap();
        task.drain();
        assert_eq!(task.polls.load(SeqCst), 1, "an orphan is not polled again");
        task.check_end();
    });
}

/// The task's only waker is dropped by another thread while the worker's
/// poll is ending: either the drop sees the worker's reference and the
/// worker finds the orphan after the poll, or the worker leaves the task
/// idle and the drop queues its cancellation. Once either way.
#[test]
fn an_orphaning_waker_drop_races_the_end_of_a_poll() {
    crate::model("state::orphaning_drop_races_a_poll", || {
        let task = Task::new(Priority::Low);
        drop(Handle::new(&task)); // detached
        task.clone_waker(); // the waker the poll hands out
        let p = task.pop_entry().unwrap();
        assert_eq!(task.state.claim(p), Claim::Run);
        let worker = {
            let task = task.clone();
            thread::spawn(move || {
                task.run_claimed();
                task.drain();
            })
        };
        let dropper = {
            let task = task.clone();
            thread::spawn(move || task.drop_ref())
        };
        worker.join().unwrap();
        dropper.join().unwrap();
        task.drain();
        assert_eq!(task.polls.load(SeqCst), 1);
        task.check_end();
    });
}
