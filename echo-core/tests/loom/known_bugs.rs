//! Models that fail on the current code, kept out of the suite until the
//! bugs they show are fixed in `echo-core/src/task/state.rs`. To run them,
//! add `#[path = "known_bugs.rs"] mod known_bugs;` at the end of
//! `loom/state.rs`; once they pass, move them into `state.rs`.
//!
//! 1. `wake_by_ref_during_a_poll`: `State::wake_by_ref` on a task that is
//!    idle and NOTIFIED (queued) returns `Nothing` without writing the
//!    state word, so nothing orders the waker's earlier writes (the event
//!    the future waits for) before the claim of the queued entry: the
//!    worker can claim, poll, miss the event and go idle, and the wake is
//!    lost. Fix: make that branch a read-modify-write (write the same
//!    word back), so the next claim reads from it.
//! 2. `replacing_the_join_waker_races_completion`: `State::unset_join_waker`
//!    debug-asserts JOIN_WAKER, but the completer clears JOIN_WAKER
//!    (`unset_join_waker_after_complete`) after COMPLETE, so a handle
//!    that saw JOIN_WAKER and then retries against a completed task trips
//!    the assertion in debug builds (release builds return `Err` as
//!    intended). Fix: check COMPLETE before asserting JOIN_WAKER.

use super::*;

#[test]
fn wake_by_ref_during_a_poll() {
    crate::model("known_bugs::wake_by_ref_during_a_poll", || {
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

#[test]
fn replacing_the_join_waker_races_completion() {
    crate::model("known_bugs::replace_join_waker_races_completion", || {
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
