//! The state machine's transitions, one at a time.

use super::*;
use Priority::*;

fn fresh(p: Priority) -> State {
    State::new(p, false, false)
}

#[test]
fn new_task_is_queued_with_three_references() {
    let s = fresh(Normal).load();
    assert!(s.is_notified() && s.is_idle() && s.has_join_interest());
    assert_eq!(s.ref_count(), 3);
    assert_eq!(s.priority(), Normal);
    assert!(!s.is_large() && !s.is_named());
    let s = State::new(Low, true, true).load();
    assert!(s.is_large() && s.is_named());
    assert_eq!((s.priority(), s.ref_count()), (Low, 3));
}

#[test]
fn only_the_first_claim_is_first() {
    let st = fresh(Normal);
    assert_eq!(st.claim_first(Normal), (Claim::Run, true));
    st.wake_by_ref();
    assert_eq!(st.after_poll(), AfterPoll::Reschedule(Normal));
    assert_eq!(st.claim_first(Normal), (Claim::Run, false));
}

#[test]
fn claim_then_pending_goes_idle_and_drops_the_entry_reference() {
    let st = fresh(Low);
    assert_eq!(st.claim(Low), Claim::Run);
    assert!(st.load().is_running() && !st.load().is_notified());
    assert_eq!(st.after_poll(), AfterPoll::Idle);
    let s = st.load();
    assert!(s.is_idle() && !s.is_notified());
    assert_eq!(s.ref_count(), 2);
}

#[test]
fn wake_during_poll_reschedules_once() {
    let st = fresh(Normal);
    st.claim(Normal);
    st.ref_inc(); // a waker
    assert_eq!(st.wake_by_ref(), Notify::Nothing);
    assert_eq!(st.wake_by_val(), Notify::Nothing);
    assert_eq!(st.load().ref_count(), 3);
    assert_eq!(st.after_poll(), AfterPoll::Reschedule(Normal));
    // A second claim of the same wake: one entry exists, one poll.
    assert_eq!(st.claim(Normal), Claim::Run);
    assert_eq!(st.claim(Normal), Claim::Stale { last: false });
}

#[test]
fn a_wake_recorded_by_the_poller_reschedules_like_one_in_the_word() {
    let st = fresh(Low);
    st.claim(Low);
    assert_eq!(st.after_poll_woken(true), AfterPoll::Reschedule(Low));
    let s = st.load();
    assert!(s.is_notified() && s.is_idle());
    assert_eq!(
        s.ref_count(),
        3,
        "the worker's reference became the entry's"
    );
    assert_eq!(st.claim(Low), Claim::Run);
    st.abort();
    assert_eq!(st.after_poll_woken(true), AfterPoll::Cancel, "cancel wins");
}

#[test]
fn wake_when_idle_submits_and_a_second_wake_does_not() {
    let st = fresh(High);
    st.claim(High);
    st.after_poll();
    assert_eq!(st.wake_by_ref(), Notify::Submit(High));
    assert_eq!(st.wake_by_ref(), Notify::Nothing);
    assert_eq!(st.load().ref_count(), 3);
}

#[test]
fn wake_after_complete_does_nothing_and_may_free() {
    let st = fresh(Normal);
    st.claim(Normal);
    st.ref_inc(); // waker
    let prev = st.complete(true);
    assert!(prev.has_join_interest());
    assert!(!st.ref_dec_n(2)); // worker + registry; handle and waker remain
    assert_eq!(st.wake_by_ref(), Notify::Nothing);
    let HandleRelease::Complete(d) = st.release_handle() else {
        panic!("complete")
    };
    assert!(d.has_output());
    assert!(!st.ref_dec());
    assert_eq!(st.wake_by_val(), Notify::Dealloc);
}

#[test]
fn abort_of_an_idle_task_submits_it_for_cancellation() {
    let st = fresh(Normal);
    st.claim(Normal);
    st.after_poll();
    assert_eq!(st.abort(), Notify::Submit(Normal));
    assert_eq!(st.abort(), Notify::Nothing);
    assert_eq!(st.claim(Normal), Claim::Cancel);
}

#[test]
fn abort_while_running_cancels_after_the_poll() {
    let st = fresh(Normal);
    st.claim(Normal);
    assert_eq!(st.abort(), Notify::Nothing);
    assert_eq!(st.after_poll(), AfterPoll::Cancel);
    assert!(st.load().is_running());
}

#[test]
fn a_raise_while_queued_adds_an_entry_and_the_old_one_goes_stale() {
    let st = fresh(Low);
    assert_eq!(st.set_priority(High, true), Reprioritize::Requeue(High));
    assert_eq!(st.set_priority(Normal, true), Reprioritize::Unchanged);
    assert_eq!(st.load().ref_count(), 4);
    assert_eq!(st.claim(Low), Claim::Stale { last: false });
    assert_eq!(st.claim(High), Claim::Run);
    assert_eq!(st.load().ref_count(), 3);
}

#[test]
fn a_raise_while_running_changes_the_next_tier() {
    let st = fresh(Low);
    st.claim(Low);
    assert_eq!(st.set_priority(High, true), Reprioritize::Changed);
    st.wake_by_ref();
    assert_eq!(st.after_poll(), AfterPoll::Reschedule(High));
}

#[test]
fn shutdown_claims_idle_tasks_only() {
    let st = fresh(Normal);
    assert!(st.claim_for_shutdown());
    let st = fresh(Normal);
    st.claim(Normal);
    assert!(!st.claim_for_shutdown());
    assert_eq!(st.after_poll(), AfterPoll::Cancel);
}

#[test]
fn a_pending_task_nothing_can_wake_is_cancelled_by_its_poller() {
    let st = fresh(Normal);
    // The handle goes first, with its reference (the entry remains).
    assert_eq!(st.release_handle(), HandleRelease::Released(DropRef::Kept));
    st.claim(Normal);
    // No waker was kept: only the worker's and the registry's refs.
    assert_eq!(st.after_poll(), AfterPoll::Orphaned);
    let s = st.load();
    assert!(s.is_running() && s.is_cancelled());
    assert_eq!(s.ref_count(), 2, "the worker keeps its reference");
}

#[test]
fn dropping_the_last_waker_of_a_detached_task_queues_its_cancellation() {
    let st = fresh(Low);
    st.claim(Low);
    st.ref_inc(); // a waker, kept by whatever the task waits on
    assert_eq!(st.after_poll(), AfterPoll::Idle);
    assert_eq!(st.release_handle(), HandleRelease::Released(DropRef::Kept));
    assert_eq!(st.drop_ref(), DropRef::Orphaned(Low)); // the waker
    let s = st.load();
    assert!(s.is_notified() && s.is_cancelled() && s.is_idle());
    assert_eq!(s.ref_count(), 2, "the waker's reference is the entry's");
    assert_eq!(st.claim(Low), Claim::Cancel);
}

#[test]
fn a_stale_entry_left_holding_an_orphan_cancels_it() {
    let st = fresh(Low);
    assert_eq!(st.set_priority(High, true), Reprioritize::Requeue(High));
    assert_eq!(st.release_handle(), HandleRelease::Released(DropRef::Kept));
    assert_eq!(st.claim(High), Claim::Run);
    // Pending, no waker kept; the stale Low entry still holds a ref.
    assert_eq!(st.after_poll(), AfterPoll::Idle);
    assert_eq!(st.claim(Low), Claim::Orphaned);
    assert!(st.load().is_running() && st.load().is_cancelled());
}

#[test]
fn a_handle_keeps_a_pending_task_alive() {
    let st = fresh(Normal);
    st.claim(Normal);
    assert_eq!(st.after_poll(), AfterPoll::Idle);
    assert_eq!(st.load().ref_count(), 2);
    // Dropping the handle then orphans it.
    assert_eq!(
        st.release_handle(),
        HandleRelease::Released(DropRef::Orphaned(Normal))
    );
    assert!(st.load().is_notified() && st.load().is_cancelled());
}

#[test]
fn join_waker_is_lent_until_completion() {
    let st = fresh(Normal);
    assert!(st.set_join_waker().is_ok());
    assert!(st.unset_join_waker().is_ok());
    assert!(st.set_join_waker().is_ok());
    st.claim(Normal);
    let prev = st.complete(false);
    assert!(prev.has_join_waker());
    assert!(st.unset_join_waker().is_err());
    let after = st.unset_join_waker_after_complete();
    assert!(
        after.has_join_interest(),
        "handle alive: it drops the waker"
    );
    let HandleRelease::Complete(d) = st.release_handle() else {
        panic!("complete")
    };
    assert!(!d.has_join_waker() && !d.has_output());
}

#[test]
fn dropping_the_handle_before_completion_takes_the_waker_back() {
    let st = fresh(Normal);
    st.set_join_waker().unwrap();
    assert_eq!(st.release_handle(), HandleRelease::TookWaker);
    let s = st.load();
    assert!(!s.has_join_waker() && !s.has_join_interest());
    st.claim(Normal);
    let prev = st.complete(true);
    assert!(
        !prev.has_join_interest(),
        "completer drops the output itself"
    );
}
