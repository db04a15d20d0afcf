//! The task code (`raw.rs`, `waker.rs`, `join.rs`) run alone, against the
//! model host: polls, completion, cancellation, orphans, the join waker,
//! panics and their payloads, self-wakes, priority inheritance and the
//! cooperative budget. Each test checks that every task is freed once.

use super::join::{JoinError, JoinHandle};
use super::model_host::ModelHost;
use super::state::Claim;
use crate::Priority;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use core::task::{Context, Poll, Waker};
use std::sync::Mutex;

/// Counts the drops of whatever holds one.
#[derive(Default)]
struct Drops(AtomicUsize);

struct Counted(Arc<Drops>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0.fetch_add(1, SeqCst);
    }
}

/// A future that keeps its latest waker where the test can take it, and
/// is ready once `ready` is set. Its drop and its output's drop count.
struct Gate {
    ready: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    _drop: Counted,
    output_drops: Arc<Drops>,
}

impl Future for Gate {
    type Output = Counted;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Counted> {
        if self.ready.load(SeqCst) {
            return Poll::Ready(Counted(self.output_drops.clone()));
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

struct GateParts {
    ready: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    future_drops: Arc<Drops>,
    output_drops: Arc<Drops>,
}

fn gate() -> (Gate, GateParts) {
    let parts = GateParts {
        ready: Arc::default(),
        waker: Arc::default(),
        future_drops: Arc::default(),
        output_drops: Arc::default(),
    };
    let gate = Gate {
        ready: parts.ready.clone(),
        waker: parts.waker.clone(),
        _drop: Counted(parts.future_drops.clone()),
        output_drops: parts.output_drops.clone(),
    };
    (gate, parts)
}

/// A waker that counts its wakes, for polling a handle.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn poll_handle<T>(handle: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(waker))
}

#[test]
fn a_task_runs_and_its_handle_reads_the_output_once() {
    let host = ModelHost::new();
    let mut handle = host.spawn(async { 6 * 7 }, Priority::Normal);
    assert!(!handle.is_finished());
    host.run_until_empty();
    assert!(handle.is_finished());
    assert_eq!(host.live(), 1, "the handle keeps the task");
    let out = poll_handle(&mut handle, Waker::noop());
    assert!(matches!(out, Poll::Ready(Ok(42))));
    assert_eq!(host.polls(), 1);
    assert_eq!(host.frees(), 1);
    assert_eq!(host.live(), 0);
}

#[test]
fn a_wake_requeues_a_waiting_task_and_completion_wakes_the_join_waker() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    let mut handle = host.spawn(future, Priority::Low);
    host.run_until_empty();
    assert_eq!(host.polls(), 1);
    let joiner = Arc::new(CountingWaker::default());
    let join_waker = Waker::from(joiner.clone());
    assert!(poll_handle(&mut handle, &join_waker).is_pending());
    parts.ready.store(true, SeqCst);
    let waker = parts.waker.lock().unwrap().take().unwrap();
    waker.wake();
    assert_eq!(host.queued(), 1);
    host.run_until_empty();
    assert_eq!(host.polls(), 2);
    assert_eq!(joiner.0.load(SeqCst), 1, "completion wakes the handle once");
    assert_eq!(parts.future_drops.0.load(SeqCst), 1);
    let Poll::Ready(Ok(output)) = poll_handle(&mut handle, &join_waker) else {
        panic!("the output is ready");
    };
    drop(output);
    drop(handle);
    assert_eq!(parts.output_drops.0.load(SeqCst), 1);
    assert_eq!(host.frees(), 1);
}

#[test]
fn a_dropped_handle_leaves_the_output_to_the_completer() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    parts.ready.store(true, SeqCst);
    drop(host.spawn(future, Priority::High));
    host.run_until_empty();
    assert_eq!(parts.future_drops.0.load(SeqCst), 1);
    assert_eq!(parts.output_drops.0.load(SeqCst), 1);
    assert_eq!(host.frees(), 1);
}

#[test]
fn abort_cancels_a_waiting_task_and_the_handle_sees_it() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    let mut handle = host.spawn(future, Priority::Normal);
    host.run_until_empty();
    handle.abort();
    host.run_until_empty();
    assert_eq!(parts.future_drops.0.load(SeqCst), 1);
    let out = poll_handle(&mut handle, Waker::noop());
    assert!(matches!(out, Poll::Ready(Err(ref e)) if e.is_cancelled()));
    // The waker the future kept still holds a reference.
    assert_eq!(host.frees(), 0);
    drop(parts.waker.lock().unwrap().take());
    assert_eq!(host.frees(), 1);
}

#[test]
fn a_detached_task_whose_last_waker_goes_is_cancelled_as_an_orphan() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    drop(host.spawn(future, Priority::Low));
    host.run_until_empty();
    assert_eq!(host.frees(), 0);
    drop(parts.waker.lock().unwrap().take());
    assert_eq!(host.orphans(), 1);
    assert_eq!(host.queued(), 1, "the cancellation is queued");
    host.run_until_empty();
    assert_eq!(host.polls(), 1, "an orphan is not polled again");
    assert_eq!(parts.future_drops.0.load(SeqCst), 1);
    assert_eq!(host.frees(), 1);
}

#[test]
fn shutdown_cancels_a_waiting_task_once() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    let mut handle = host.spawn(future, Priority::Normal);
    host.run_until_empty();
    assert!(host.cancel_for_shutdown(&handle));
    assert!(!host.cancel_for_shutdown(&handle), "complete now");
    assert_eq!(parts.future_drops.0.load(SeqCst), 1);
    let out = poll_handle(&mut handle, Waker::noop());
    assert!(matches!(out, Poll::Ready(Err(ref e)) if e.is_cancelled()));
    drop(handle);
    drop(parts.waker.lock().unwrap().take());
    assert_eq!(host.frees(), 1);
}

#[test]
fn a_panicking_poll_reaches_the_handle() {
    let host = ModelHost::new();
    let mut handle = host.spawn(
        async {
            if true {
                panic!("boom");
            }
        },
        Priority::Normal,
    );
    host.run_until_empty();
    let Poll::Ready(Err(e)) = poll_handle(&mut handle, Waker::noop()) else {
        panic!("the panic is the output");
    };
    assert!(e.is_panic());
    assert_eq!(
        e.to_string(),
        alloc::format!("task {} panicked with message \"boom\"", e.id())
    );
    assert_eq!(host.frees(), 1);
}

/// A panic payload whose drop panics again with another such payload,
/// `left` more times.
struct Relentless(usize);

impl Drop for Relentless {
    fn drop(&mut self) {
        if self.0 > 0 {
            std::panic::panic_any(Relentless(self.0 - 1));
        }
    }
}

/// A panic payload whose drop panics with another of its kind, forever.
/// Zero-sized, so the payload that is finally leaked holds no memory (and
/// miri's and LeakSanitizer's leak checks have nothing to report).
struct Endless;

impl Drop for Endless {
    fn drop(&mut self) {
        std::panic::panic_any(Endless);
    }
}

#[test]
fn a_payload_that_keeps_panicking_when_dropped_is_leaked_and_counted() {
    let host = ModelHost::new();
    // The handle is dropped: the completer drops the panic payload.
    drop(host.spawn(
        async {
            if true {
                std::panic::panic_any(Endless);
            }
        },
        Priority::Normal,
    ));
    host.run_until_empty();
    assert_eq!(host.lost_payloads(), 1);
    assert_eq!(host.frees(), 1);
}

#[test]
fn a_payload_that_panics_a_few_times_is_dropped_in_the_end() {
    let host = ModelHost::new();
    drop(host.spawn(
        async {
            if true {
                std::panic::panic_any(Relentless(3));
            }
        },
        Priority::Normal,
    ));
    host.run_until_empty();
    assert_eq!(host.lost_payloads(), 0);
    assert_eq!(host.frees(), 1);
}

/// Yields once by waking itself.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_task_waking_itself_is_rescheduled_through_the_host() {
    let host = ModelHost::new();
    let handle = host.spawn(YieldOnce(false), Priority::Normal);
    host.run_until_empty();
    assert_eq!(host.self_wakes(), 1, "the wake went to the host");
    assert_eq!(host.polls(), 2);
    assert!(handle.is_finished());
    drop(handle);
    assert_eq!(host.frees(), 1);
}

#[test]
fn awaiting_a_handle_lends_the_awaiting_tasks_priority() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    let low = host.spawn(future, Priority::Low);
    host.run_until_empty();
    assert_eq!(low.priority(), Some(Priority::Low));
    let high = host.spawn(low, Priority::High);
    host.run_until_empty();
    assert!(!high.is_finished());
    // The High task waits on the Low one, which now runs at High: its
    // wake queues it there.
    parts.ready.store(true, SeqCst);
    parts.waker.lock().unwrap().take().unwrap().wake();
    assert_eq!(host.queued_priorities(), [Priority::High]);
    host.run_until_empty();
    assert!(high.is_finished());
    drop(high);
    assert_eq!(host.frees(), 2);
}

#[test]
fn a_task_with_no_budget_left_yields_before_taking_an_output() {
    let host = ModelHost::with_budget(0);
    let done = host.spawn(async { 1 }, Priority::Normal);
    host.run_until_empty();
    assert!(done.is_finished());
    let awaiting = host.spawn(done, Priority::Normal);
    assert!(host.run_one());
    assert_eq!(host.self_wakes(), 1, "it yielded, waking itself");
    assert_eq!(host.queued(), 1);
    assert!(!awaiting.is_finished());
    // Every poll starts with no budget here: it would yield forever.
    assert!(host.cancel_for_shutdown(&awaiting));
    host.run_until_empty();
    drop(awaiting);
    assert_eq!(host.frees(), 2);
}

#[test]
fn a_wake_while_queued_merges_into_the_queued_entry() {
    let host = ModelHost::new();
    let (future, parts) = gate();
    let handle = host.spawn(future, Priority::Normal);
    let waker = host.waker(&handle);
    parts.ready.store(true, SeqCst);
    waker.wake_by_ref();
    assert_eq!(host.queued(), 1, "already queued: no second entry");
    let claimed = host.claim_next().unwrap();
    assert_eq!(claimed.claim(), Claim::Run);
    host.run_claimed(claimed);
    assert_eq!(host.polls(), 1);
    assert!(handle.is_finished());
    drop(waker);
    assert_eq!(host.frees(), 0, "the handle keeps it");
    drop(handle);
    assert_eq!(parts.output_drops.0.load(SeqCst), 1);
    assert_eq!(host.frees(), 1);
}
