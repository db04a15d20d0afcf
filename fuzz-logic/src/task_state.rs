//! `task_state`: the task state word's transitions in any order, each
//! called only when its documented precondition holds, against a model.
//!
//! The model keeps the flags the state word documents and, instead of a
//! bare count, *who* holds each reference: the queue entries (by tier),
//! the wakers, the handle, the worker that claimed the task, the registry,
//! and the shutdown walk's extra references. After every transition the
//! real word must match the model's flags, priority and reference count,
//! the outcome must be what the documentation says, and:
//!
//! - the task is freed (count zero) exactly when its last holder lets go,
//!   and only when COMPLETE;
//! - an idle, NOTIFIED task has an entry at its current tier;
//! - the future is owned by at most one worker at a time, and the output
//!   and the join-waker slot by exactly one party;
//! - no orphan is left behind: a task that is not complete always has a
//!   reference besides the registry's (an entry, a waker, the handle or a
//!   worker), because the transition that would drop the last one turns it
//!   into a cancellation instead.

use crate::Input;
use echo_sched_core::Priority;
use echo_sched_core::internals::{
    AfterPoll, Claim, DropRef, HandleRelease, Notify, Reprioritize, Snapshot, State,
};

#[derive(Clone, Debug, Default)]
struct Model {
    running: bool,
    complete: bool,
    notified: bool,
    cancelled: bool,
    join_interest: bool,
    join_waker: bool,
    output: bool,
    prio: u8,
    large: bool,
    named: bool,
    /// Holders of references.
    entries: Vec<Priority>,
    wakers: usize,
    handle: bool,
    worker: bool,
    registry: bool,
    walk_refs: usize,
    /// The worker's claim was to poll (not to cancel).
    polling: bool,
    /// The completer still has to hand back the lent join waker.
    completer_has_waker: bool,
    /// The completer still holds the worker's and the registry's refs.
    completer_refs: bool,
    freed: bool,
}

fn prio(p: u8) -> Priority {
    Priority::ALL[usize::from(p) % Priority::COUNT]
}

impl Model {
    fn refs(&self) -> usize {
        self.entries.len()
            + self.wakers
            + usize::from(self.handle)
            + usize::from(self.worker)
            + usize::from(self.registry)
            + self.walk_refs
    }

    fn idle(&self) -> bool {
        !self.running && !self.complete
    }

    fn check(&self, s: Snapshot) {
        assert_eq!(s.is_running(), self.running, "RUNNING {s:?} {self:?}");
        assert_eq!(s.is_complete(), self.complete, "COMPLETE {s:?} {self:?}");
        assert_eq!(s.is_notified(), self.notified, "NOTIFIED {s:?} {self:?}");
        assert_eq!(s.is_cancelled(), self.cancelled, "CANCELLED {s:?} {self:?}");
        assert_eq!(s.has_join_interest(), self.join_interest, "JOIN_INTEREST");
        assert_eq!(s.has_join_waker(), self.join_waker, "JOIN_WAKER");
        assert_eq!(s.has_output(), self.output, "OUTPUT");
        assert_eq!(s.priority(), prio(self.prio), "priority");
        assert_eq!((s.is_large(), s.is_named()), (self.large, self.named));
        assert_eq!(s.ref_count(), self.refs(), "reference count {self:?}");
        assert_eq!(s.is_idle(), self.idle());
        if self.freed {
            assert!(self.complete && self.refs() == 0, "freed while live");
        }
        if self.idle() && self.notified {
            assert!(
                self.entries.contains(&prio(self.prio)),
                "NOTIFIED but no entry at the current tier: {self:?}"
            );
        }
        if self.running {
            assert!(self.worker, "RUNNING with no owner");
        }
        if !self.complete {
            assert!(self.refs() >= 2, "an orphan was left behind: {self:?}");
        }
    }

    /// A holder drops a reference through `State::drop_ref`: the outcome
    /// the documentation gives, and the orphan rule.
    fn drop_ref(&mut self, got: DropRef) {
        if !self.complete && self.refs() == 1 {
            // Only the registry would be left: the reference becomes the
            // entry of a cancellation.
            assert_eq!(got, DropRef::Orphaned(prio(self.prio)), "{self:?}");
            self.notified = true;
            self.cancelled = true;
            self.entries.push(prio(self.prio));
        } else {
            let last = self.refs() == 0;
            assert_eq!(got, if last { DropRef::Last } else { DropRef::Kept });
            self.dropped_one(last);
        }
    }

    /// A reference was dropped; frees on the last one.
    fn dropped_one(&mut self, last: bool) {
        assert_eq!(last, self.refs() == 0, "last-reference answer");
        if last {
            assert!(self.complete, "freed a task that is not complete");
            assert!(!self.freed, "freed twice");
            self.freed = true;
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let p0 = input.below(3) as u8;
    let (large, named) = (input.bool(), input.bool());
    let st = State::new(prio(p0), large, named);
    let mut m = Model {
        notified: true,
        join_interest: true,
        prio: p0,
        large,
        named,
        entries: vec![prio(p0)],
        handle: true,
        registry: true,
        ..Model::default()
    };
    m.check(st.load());
    while !input.done() && !m.freed {
        let op = input.below(16);
        match op {
            // A worker claims an entry.
            0 if !m.entries.is_empty() => {
                let i = input.below(m.entries.len());
                let tier = m.entries.swap_remove(i);
                let got = st.claim(tier);
                if m.idle() && !m.notified && m.refs() == 1 {
                    // A stale entry holding the last reference besides the
                    // registry's: the worker claims the orphan to cancel it.
                    assert_eq!(got, Claim::Orphaned);
                    m.running = true;
                    m.cancelled = true;
                    m.worker = true;
                    m.polling = false;
                } else if m.idle() && m.notified && prio(m.prio) == tier {
                    m.running = true;
                    m.notified = false;
                    m.worker = true;
                    let want = if m.cancelled {
                        Claim::Cancel
                    } else {
                        Claim::Run
                    };
                    assert_eq!(got, want);
                    m.polling = want == Claim::Run;
                } else {
                    let Claim::Stale { last } = got else {
                        panic!("claimed a stale entry: {got:?} {m:?}")
                    };
                    m.dropped_one(last);
                }
            }
            // The poll returned Pending.
            1 if m.polling => {
                let got = st.after_poll();
                if m.cancelled {
                    assert_eq!(got, AfterPoll::Cancel);
                    m.polling = false;
                } else if !m.notified && m.refs() == 2 {
                    // Pending, and only the registry would be left.
                    assert_eq!(got, AfterPoll::Orphaned);
                    m.cancelled = true;
                    m.polling = false;
                } else if m.notified {
                    assert_eq!(got, AfterPoll::Reschedule(prio(m.prio)));
                    m.running = false;
                    m.worker = false;
                    m.polling = false;
                    m.entries.push(prio(m.prio));
                } else {
                    assert_eq!(got, AfterPoll::Idle);
                    m.running = false;
                    m.worker = false;
                    m.polling = false;
                }
            }
            // The future finished (or was dropped): complete.
            2 if m.running && !m.complete => {
                let with_output = input.bool();
                let prev = st.complete(with_output);
                assert!(prev.is_running() && !prev.is_complete());
                assert_eq!(prev.has_join_interest(), m.join_interest);
                assert_eq!(prev.has_join_waker(), m.join_waker);
                m.running = false;
                m.polling = false;
                m.complete = true;
                m.output = with_output;
                m.completer_has_waker = m.join_waker;
                m.completer_refs = true;
                // Without a handle the completer drops the output itself.
            }
            // The completer hands the lent waker back.
            3 if m.completer_has_waker => {
                let prev = st.unset_join_waker_after_complete();
                assert!(prev.has_join_waker());
                assert_eq!(prev.has_join_interest(), m.join_interest);
                m.join_waker = false;
                m.completer_has_waker = false;
            }
            // The completer drops the worker's and the registry's refs.
            4 if m.completer_refs && !m.completer_has_waker => {
                m.worker = false;
                m.registry = false;
                m.completer_refs = false;
                let last = st.ref_dec_n(2);
                m.dropped_one(last);
            }
            5 if m.wakers > 0 => {
                let got = st.wake_by_val();
                m.wakers -= 1;
                if m.running {
                    assert_eq!(got, Notify::Nothing);
                    m.notified = true;
                } else if m.complete || m.notified {
                    let last = m.refs() == 0;
                    assert_eq!(
                        got,
                        if last {
                            Notify::Dealloc
                        } else {
                            Notify::Nothing
                        }
                    );
                    m.dropped_one(last);
                } else {
                    assert_eq!(got, Notify::Submit(prio(m.prio)));
                    m.notified = true;
                    m.entries.push(prio(m.prio));
                }
            }
            6 if m.wakers > 0 => {
                let got = st.wake_by_ref();
                if m.complete || m.notified {
                    assert_eq!(got, Notify::Nothing);
                } else if m.running {
                    assert_eq!(got, Notify::Nothing);
                    m.notified = true;
                } else {
                    assert_eq!(got, Notify::Submit(prio(m.prio)));
                    m.notified = true;
                    m.entries.push(prio(m.prio));
                }
            }
            // Clone a waker (from one held, or from the poll's borrowed one).
            7 if m.wakers > 0 || m.running => {
                st.ref_inc();
                m.wakers += 1;
            }
            8 if m.wakers > 0 => {
                m.wakers -= 1;
                let got = st.drop_ref();
                m.drop_ref(got);
            }
            9 if m.handle => {
                let got = st.abort();
                if m.complete || m.cancelled {
                    assert_eq!(got, Notify::Nothing);
                } else if m.running || m.notified {
                    assert_eq!(got, Notify::Nothing);
                    m.cancelled = true;
                } else {
                    assert_eq!(got, Notify::Submit(prio(m.prio)));
                    m.cancelled = true;
                    m.notified = true;
                    m.entries.push(prio(m.prio));
                }
            }
            // The shutdown walk: it may find the task at any point of its
            // life (a freed slot keeps its COMPLETE word).
            10 => {
                let got = st.claim_for_shutdown();
                if m.complete {
                    assert!(!got);
                } else if m.running {
                    assert!(!got);
                    m.cancelled = true;
                } else {
                    assert!(got);
                    m.running = true;
                    m.cancelled = true;
                    m.worker = true;
                }
            }
            11 if m.handle => {
                let p = input.below(3) as u8;
                let raise_only = input.bool();
                let got = st.set_priority(prio(p), raise_only);
                let cur = prio(m.prio);
                if m.complete || cur == prio(p) || (raise_only && !prio(p).is_above(cur)) {
                    assert_eq!(got, Reprioritize::Unchanged);
                } else if m.idle() && m.notified {
                    assert_eq!(got, Reprioritize::Requeue(prio(p)));
                    m.prio = p;
                    m.entries.push(prio(p));
                } else {
                    assert_eq!(got, Reprioritize::Changed);
                    m.prio = p;
                }
            }
            12 if m.handle && !m.join_waker => {
                let got = st.set_join_waker();
                if m.complete {
                    assert!(got.is_err());
                } else {
                    assert!(got.is_ok());
                    m.join_waker = true;
                }
            }
            // The handle takes its lent waker back (to replace it). Only
            // while the bit is set: see the debug assertion in
            // `unset_join_waker`.
            13 if m.handle && m.join_waker => {
                let got = st.unset_join_waker();
                if m.complete {
                    assert!(got.is_err());
                } else {
                    assert!(got.is_ok());
                    m.join_waker = false;
                }
            }
            // The handle is released (dropped, or done reading).
            14 if m.handle => {
                let got = st.release_handle();
                m.join_interest = false;
                if m.complete {
                    let HandleRelease::Complete(prev) = got else {
                        panic!("released a complete task's handle: {got:?}")
                    };
                    assert_eq!(prev.has_join_waker(), m.join_waker);
                    assert_eq!(prev.has_output(), m.output);
                    // It drops its reference after it is done with the task.
                    m.check(st.load());
                    m.handle = false;
                    let last = st.ref_dec();
                    m.dropped_one(last);
                } else if m.join_waker {
                    assert_eq!(got, HandleRelease::TookWaker);
                    m.join_waker = false;
                    m.check(st.load());
                    m.handle = false;
                    let got = st.drop_ref();
                    m.drop_ref(got);
                } else {
                    // The reference goes in the same step.
                    m.handle = false;
                    let HandleRelease::Released(dropped) = got else {
                        panic!("no waker lent, yet {got:?}")
                    };
                    m.drop_ref(dropped);
                }
            }
            15 => {
                let got = st.try_ref_inc();
                assert_eq!(got, m.refs() > 0);
                if got {
                    m.walk_refs += 1;
                    m.check(st.load());
                    m.walk_refs -= 1;
                    let got = st.drop_ref();
                    m.drop_ref(got);
                }
            }
            _ => continue,
        }
        m.check(st.load());
    }
}
