//! Loom model: `JoinHandle::set_priority` and a task's wake of itself
//! racing a poll, a wake and completion, in the real task code run by
//! `internals::ModelHost` (see `task/model_host.rs`). A change of priority
//! while the task is queued adds a second entry; whichever entry is
//! claimed first runs the task, the other is stale. Checks: at most one
//! poll per wake, no wake lost, exactly one free.
//!
//! Run: `RUSTFLAGS="--cfg echo_loom -C debug-assertions"
//! LOOM_MAX_PREEMPTIONS=2 cargo test -p echo-sched-core --release --test loom_inherit`.
#![cfg(echo_loom)]

use echo_sched_core::internals::{Claim, ModelHost};
use echo_sched_core::{JoinHandle, Priority};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Pending on its first poll (waking itself first if `wake_self`), ready
/// on the second.
struct TwoPolls {
    polled: bool,
    wake_self: bool,
}

impl Future for TwoPolls {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            return Poll::Ready(());
        }
        self.polled = true;
        if self.wake_self {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// The task's handle after the threads that shared it are joined.
fn take_back(handle: std::sync::Arc<JoinHandle<()>>) -> JoinHandle<()> {
    std::sync::Arc::try_unwrap(handle).expect("every other thread is done")
}

fn model(set_to: Priority) {
    loom::model(move || {
        let host = Arc::new(ModelHost::new());
        let future = TwoPolls {
            polled: false,
            wake_self: false,
        };
        let handle = std::sync::Arc::new(host.spawn(future, Priority::Low));
        // A waker, held by the waking thread (this one).
        let waker = host.waker(&handle);

        let worker = {
            let host = host.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    if !host.run_one() {
                        thread::yield_now();
                    }
                }
            })
        };
        let setter = {
            let handle = handle.clone();
            thread::spawn(move || {
                handle.set_priority(set_to);
            })
        };
        waker.wake();
        worker.join().unwrap();
        setter.join().unwrap();

        // Run what is left, as workers would.
        host.run_until_empty();
        let handle = take_back(handle);
        let polls = host.polls();
        assert!(
            (1..=2).contains(&polls),
            "{polls} polls for at most two wakes"
        );
        if !handle.is_finished() {
            // The wake arrived while the first entry was still queued and
            // merged into it: one poll, task idle. Shut it down.
            assert_eq!(polls, 1, "a wake was lost");
            assert!(host.cancel_for_shutdown(&handle));
        }
        // The JoinHandle goes last.
        drop(handle);
        assert_eq!(host.frees(), 1, "freed exactly once");
        assert_eq!(host.queued(), 0);
    });
}

#[test]
fn a_raise_races_a_poll_and_a_wake() {
    model(Priority::High);
}

#[test]
fn set_priority_down_races_a_poll_and_a_wake() {
    // Lowering uses the same requeue path in the other direction.
    model(Priority::Normal);
}

/// A task that wakes itself during a poll has the wake recorded by its
/// host (not in the state word) and applied when the poll ends; a wake
/// from another thread races it. Exactly one more poll must follow, and
/// the task must be freed once.
#[test]
fn a_self_wake_races_a_wake_from_another_thread() {
    loom::model(|| {
        let host = Arc::new(ModelHost::new());
        let future = TwoPolls {
            polled: false,
            wake_self: true,
        };
        let handle = host.spawn(future, Priority::Normal);
        // A waker, held by the other thread.
        let waker = host.waker(&handle);
        // This thread is the worker: it claims the first entry; the poll
        // wakes the task itself.
        let claimed = host.claim_next().unwrap();
        assert_eq!(claimed.claim(), Claim::Run);
        let waking = thread::spawn(move || waker.wake());
        host.run_claimed(claimed);
        assert_eq!(host.self_wakes(), 1, "the poll's own wake went to the host");
        waking.join().unwrap();
        host.run_until_empty();
        assert_eq!(host.polls(), 2, "one poll per wake");
        assert!(handle.is_finished());
        drop(handle);
        assert_eq!(host.frees(), 1, "freed exactly once");
    });
}
