//! Loom model: priority inheritance and `set_priority` racing a poll, a
//! wake and completion. A raise while the task is queued adds a second
//! entry; whichever entry is claimed first runs the task, the other is
//! stale. Checks: at most one poll per wake, exactly one free.
//!
//! Run: `RUSTFLAGS="--cfg echo_loom -C debug-assertions"
//! LOOM_MAX_PREEMPTIONS=2 cargo test -p echo-sched-core --release --test loom_inherit`.
#![cfg(echo_loom)]

use echo_sched_core::Priority;
use echo_sched_core::internals::{AfterPoll, Claim, HandleRelease, Notify, Reprioritize, State};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::collections::VecDeque;

/// The task's world: its state, the queue of its entries (by tier), and
/// counters of polls and frees.
struct Task {
    state: State,
    queue: Mutex<VecDeque<Priority>>,
    polls: AtomicUsize,
    frees: AtomicUsize,
}

impl Task {
    fn push(&self, tier: Priority) {
        self.queue.lock().unwrap().push_back(tier);
    }

    fn pop(&self) -> Option<Priority> {
        self.queue.lock().unwrap().pop_front()
    }

    fn free_if(&self, last: bool) {
        if last {
            self.frees.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A worker takes an entry: the first poll waits, the second completes.
    fn run(&self, tier: Priority) {
        match self.state.claim(tier) {
            Claim::Stale { last } => self.free_if(last),
            Claim::Cancel => unreachable!("nobody cancels in this model"),
            Claim::Orphaned => unreachable!("the handle keeps the task"),
            Claim::Run => {
                let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 1 {
                    match self.state.after_poll() {
                        AfterPoll::Idle => {}
                        AfterPoll::Reschedule(p) => self.push(p),
                        AfterPoll::Cancel | AfterPoll::Orphaned => unreachable!(),
                    }
                } else {
                    self.state.complete(false);
                    self.free_if(self.state.ref_dec_n(2));
                }
            }
        }
    }
}

fn model(raise_to: Priority, raise_only: bool) {
    loom::model(move || {
        let task = Arc::new(Task {
            state: State::new(Priority::Low, false, false),
            queue: Mutex::new(VecDeque::from([Priority::Low])),
            polls: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
        });
        task.state.ref_inc(); // a waker, held by the waking thread

        let worker = {
            let task = task.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    match task.pop() {
                        Some(tier) => task.run(tier),
                        None => thread::yield_now(),
                    }
                }
            })
        };
        let raiser = {
            let task = task.clone();
            thread::spawn(move || {
                if let Reprioritize::Requeue(p) = task.state.set_priority(raise_to, raise_only) {
                    task.push(p);
                }
            })
        };
        match task.state.wake_by_val() {
            Notify::Submit(p) => task.push(p),
            Notify::Dealloc => task.free_if(true),
            Notify::Nothing => {}
        }
        worker.join().unwrap();
        raiser.join().unwrap();

        // Drain what is left, as workers would.
        while let Some(tier) = task.pop() {
            task.run(tier);
        }
        let polls = task.polls.load(Ordering::SeqCst);
        let s = task.state.load();
        assert!(
            (1..=2).contains(&polls),
            "{polls} polls for at most two wakes"
        );
        assert!(
            !s.is_notified() || s.is_complete(),
            "a wake was lost: {s:?}"
        );
        if !s.is_complete() {
            // The wake arrived while the first entry was still queued and
            // merged into it: one poll, task idle. Shut it down.
            assert_eq!(polls, 1);
            assert!(task.state.claim_for_shutdown());
            task.state.complete(false);
            task.free_if(task.state.ref_dec_n(2));
        }
        // The JoinHandle goes last.
        assert!(matches!(
            task.state.release_handle(),
            HandleRelease::Complete(_)
        ));
        task.free_if(task.state.ref_dec());
        assert_eq!(task.frees.load(Ordering::SeqCst), 1, "freed exactly once");
    });
}

#[test]
fn a_raise_races_a_poll_and_a_wake() {
    model(Priority::High, true);
}

#[test]
fn set_priority_down_races_a_poll_and_a_wake() {
    // Lowering uses the same requeue path in the other direction.
    model(Priority::Normal, false);
}

/// A task that wakes itself during a poll has the wake recorded by its
/// worker (not in the state word) and applied by `after_poll_woken`; a wake
/// from another thread races it. Exactly one more poll must follow, and the
/// task must be freed once.
#[test]
fn a_self_wake_races_a_wake_from_another_thread() {
    loom::model(|| {
        let task = Arc::new(Task {
            state: State::new(Priority::Normal, false, false),
            queue: Mutex::new(VecDeque::new()),
            polls: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
        });
        task.state.ref_inc(); // a waker, held by the other thread
        // The worker claims the first entry and polls; the poll wakes the
        // task itself.
        assert_eq!(task.state.claim(Priority::Normal), Claim::Run);
        task.polls.fetch_add(1, Ordering::SeqCst);
        let waker = {
            let task = task.clone();
            thread::spawn(move || match task.state.wake_by_val() {
                Notify::Submit(p) => task.push(p),
                Notify::Dealloc => task.free_if(true),
                Notify::Nothing => {}
            })
        };
        match task.state.after_poll_woken(true) {
            AfterPoll::Reschedule(p) => task.push(p),
            other => panic!("a self-woken task must be rescheduled, not {other:?}"),
        }
        waker.join().unwrap();
        while let Some(tier) = task.pop() {
            task.run(tier);
        }
        assert_eq!(task.polls.load(Ordering::SeqCst), 2, "one poll per wake");
        assert!(task.state.load().is_complete());
        assert!(matches!(
            task.state.release_handle(),
            HandleRelease::Complete(_)
        ));
        task.free_if(task.state.ref_dec());
        assert_eq!(task.frees.load(Ordering::SeqCst), 1, "freed exactly once");
    });
}
