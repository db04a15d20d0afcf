//! The task state word and every transition on it.
//!
//! One `usize` holds the lifecycle flags, the join-handle flags, the task's
//! effective priority and its reference count:
//!
//! ```text
//! bit 0  RUNNING        a worker owns the future and is polling it
//! bit 1  COMPLETE       the future is gone; the stage holds the output or nothing
//! bit 2  NOTIFIED       woken: a queue entry exists (or, while RUNNING, must be made)
//! bit 3  CANCELLED      abort or shutdown asked the task to stop
//! bit 4  JOIN_INTEREST  a JoinHandle exists and will read the output
//! bit 5  JOIN_WAKER     the trailer holds the handle's waker, lent to the completer
//! bit 6  OUTPUT         the stage holds `Result<T, panic>` (completion stored one)
//! bits 7-8              effective priority (0 High, 1 Normal, 2 Low)
//! bit 9  LARGE          the task has a page of its own (fixed at creation)
//! bit 10 NAMED          the future is `Named`: its name travels with it
//! bit 11 STARTED        a worker has claimed the task at least once
//! bits 12..             reference count
//! ```
//!
//! Invariants:
//! - Every transition is one atomic read-modify-write; each is a method that
//!   returns what the caller must do next.
//! - References are held by: each queue entry, each `Waker`, the
//!   `JoinHandle`, the worker while it polls (the claimed entry's reference),
//!   and the scheduler's registry until the task completes. The task is
//!   freed when the count reaches zero, and never while it is not COMPLETE.
//! - NOTIFIED while idle means an entry at the task's current tier exists
//!   or is about to be pushed. An entry whose tier differs from the task's
//!   current tier, or that finds the task not NOTIFIED, is stale: it only
//!   drops its reference. So a task is polled at most once per wake even
//!   when a priority change gave it a second entry.
//! - While JOIN_WAKER is set and the task is not COMPLETE, only the completer
//!   may read the trailer's waker; otherwise only the JoinHandle touches it.
//! - A task that is not COMPLETE and whose only reference is the registry's
//!   is an *orphan*: no entry, waker or handle is left to ever wake it. The
//!   transition that would leave it so turns the reference it drops into a
//!   cancellation instead (`DropRef::Orphaned`, `AfterPoll::Orphaned`,
//!   `Claim::Orphaned` on a stale entry), so a worker drops the future and
//!   the task is freed now rather than at shutdown.

use crate::Priority;
use crate::sync::{AtomicUsize, Ordering};

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const CANCELLED: usize = 1 << 3;
const JOIN_INTEREST: usize = 1 << 4;
const JOIN_WAKER: usize = 1 << 5;
const OUTPUT: usize = 1 << 6;
const PRIO_SHIFT: u32 = 7;
const PRIO_MASK: usize = 0b11 << PRIO_SHIFT;
// Every tier fits the priority field (two bits: up to four tiers).
const _: () = assert!(Priority::COUNT <= (PRIO_MASK >> PRIO_SHIFT) + 1);
const LARGE: usize = 1 << 9;
const NAMED: usize = 1 << 10;
const STARTED: usize = 1 << 11;
const REF_SHIFT: u32 = 12;
const REF_ONE: usize = 1 << REF_SHIFT;
/// A count above this is a leak of references; abort rather than wrap.
const REF_MAX: usize = usize::MAX >> (REF_SHIFT + 1);

/// A copy of the state word, with readable accessors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snapshot(usize);

impl Snapshot {
    /// RUNNING: a worker owns the future.
    pub fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    /// COMPLETE: the future is gone.
    pub fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    /// NOTIFIED: woken; an entry exists or must be made.
    pub fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    /// CANCELLED: abort or shutdown asked the task to stop.
    pub fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    /// JOIN_INTEREST: a JoinHandle exists.
    pub fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    /// JOIN_WAKER: the handle's waker is lent to the completer.
    pub fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    /// OUTPUT: the stage holds the output.
    pub fn has_output(self) -> bool {
        self.0 & OUTPUT != 0
    }
    /// Neither RUNNING nor COMPLETE.
    pub fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
    /// LARGE: the task has a page of its own.
    pub fn is_large(self) -> bool {
        self.0 & LARGE != 0
    }
    /// NAMED: the scheduler keeps a name for the task.
    pub fn is_named(self) -> bool {
        self.0 & NAMED != 0
    }
    /// The effective priority.
    pub fn priority(self) -> Priority {
        let bits = (self.0 & PRIO_MASK) >> PRIO_SHIFT;
        // Only `with_priority` writes the field, always a tier's index.
        debug_assert!(bits < Priority::COUNT, "priority bits {bits}");
        match Priority::from_index(bits) {
            Some(p) => p,
            None => Priority::ALL[Priority::COUNT - 1],
        }
    }
    /// Whether the effective priority is `p` (a compare of the bits,
    /// cheaper than decoding them on the claim path).
    #[inline]
    pub fn has_priority(self, p: Priority) -> bool {
        self.0 & PRIO_MASK == p.index() << PRIO_SHIFT
    }
    /// The reference count.
    pub fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    fn with_priority(self, p: Priority) -> Snapshot {
        Snapshot((self.0 & !PRIO_MASK) | (p.index() << PRIO_SHIFT))
    }
    fn ref_inc(self) -> Snapshot {
        if self.ref_count() >= REF_MAX {
            abort_on_overflow();
        }
        Snapshot(self.0 + REF_ONE)
    }
    fn ref_dec(self) -> Snapshot {
        debug_assert!(self.ref_count() > 0, "task reference count underflow");
        Snapshot(self.0 - REF_ONE)
    }
}

impl core::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("join_waker", &self.has_join_waker())
            .field("output", &self.has_output())
            .field("priority", &self.priority())
            .field("refs", &self.ref_count())
            .finish()
    }
}

#[cold]
fn abort_on_overflow() -> ! {
    // A reference count this large means references are being leaked;
    // wrapping would free a live task. `no_std` has no abort, but a panic
    // inside a panic aborts everywhere.
    struct Abort;
    impl Drop for Abort {
        fn drop(&mut self) {
            panic!("echo: task reference count overflow");
        }
    }
    let _a = Abort;
    panic!("echo: task reference count overflow");
}

/// What a worker does with an entry it took from a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The worker now owns the future: poll it.
    Run,
    /// The worker owns the future, but the task was cancelled: drop it.
    Cancel,
    /// The entry was stale and held the last reference besides the
    /// registry's: nothing can wake the task again, so the worker now owns
    /// the future (RUNNING, CANCELLED) and must drop it.
    Orphaned,
    /// The entry was stale; its reference was dropped. `last` says it was
    /// the final reference and the task must be freed.
    Stale {
        /// The dropped reference was the last.
        last: bool,
    },
}

/// What a worker does after a poll returned `Pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterPoll {
    /// The task waits for a wake; the worker's reference was dropped.
    Idle,
    /// The task was woken while it ran: the worker's reference becomes a new
    /// queue entry at this tier.
    Reschedule(Priority),
    /// The task was cancelled while it ran: the worker still owns the future
    /// and must drop it.
    Cancel,
    /// The task is pending and nothing can wake it (no waker, entry or
    /// handle is left): it is now CANCELLED, the worker still owns the
    /// future and must drop it.
    Orphaned,
}

/// What dropping a reference asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropRef {
    /// Other references remain.
    Kept,
    /// That was the last reference: free the task.
    Last,
    /// Only the registry's reference would remain on a task that is not
    /// complete: the task is now NOTIFIED and CANCELLED, and the dropped
    /// reference became an entry to push at this tier, so that a worker
    /// drops the future.
    Orphaned(Priority),
}

/// What a waker (or `abort`) does after touching the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Nothing to do.
    Nothing,
    /// Push an entry at this tier; the transition took its reference.
    Submit(Priority),
    /// The consumed reference was the last: free the task.
    Dealloc,
}

/// What releasing the JoinHandle leaves to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleRelease {
    /// The task was complete (the word before is given): the handle owns
    /// the output if OUTPUT is set, and the waker slot unless JOIN_WAKER is
    /// still set (then the completer drops the waker). It still holds its
    /// reference, to drop after it is done with the task's memory.
    Complete(Snapshot),
    /// Not complete, and a waker was lent: the handle took the slot back
    /// and must drop that waker; it still holds its reference.
    TookWaker,
    /// Not complete, and no waker lent: the handle's reference was dropped
    /// in the same step, with the outcome given (never `Last`: the registry
    /// holds a reference until completion).
    Released(DropRef),
}

/// What a priority change asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reprioritize {
    /// Nothing changed (same tier, lower tier for a raise, or complete).
    Unchanged,
    /// The tier changed; the next wake or reschedule uses it.
    Changed,
    /// The task is queued at its old tier: push an entry at this tier (the
    /// transition took its reference); the old entry will be stale.
    Requeue(Priority),
}

/// The atomic state word.
pub struct State(AtomicUsize);

impl State {
    /// A new task: queued (NOTIFIED), with a JoinHandle, and three
    /// references: the first queue entry, the handle, and the registry.
    pub fn new(priority: Priority, large: bool, named: bool) -> State {
        let mut bits = NOTIFIED | JOIN_INTEREST | (3 * REF_ONE);
        if large {
            bits |= LARGE;
        }
        if named {
            bits |= NAMED;
        }
        State(AtomicUsize::new(Snapshot(bits).with_priority(priority).0))
    }

    /// The current word.
    pub fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// A load for the bits fixed at creation (LARGE, NAMED).
    pub fn load_relaxed(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Relaxed))
    }

    /// Applies `f` until the compare-exchange succeeds; `f` returns the new
    /// word (or `None` for no change) and the outcome.
    #[inline]
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, R)) -> R {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let (next, out) = f(Snapshot(cur));
            let Some(next) = next else { return out };
            match self
                .0
                .compare_exchange_weak(cur, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return out,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A worker took an entry for this task from the tier `entry` queue.
    pub fn claim(&self, entry: Priority) -> Claim {
        self.claim_first(entry).0
    }

    /// As [`claim`](State::claim), also saying whether this is the task's
    /// first claim (for submit-to-first-poll latency).
    pub fn claim_first(&self, entry: Priority) -> (Claim, bool) {
        self.update(|s| {
            if !s.is_idle() || !s.is_notified() || !s.has_priority(entry) {
                if s.is_idle() && !s.is_notified() && s.ref_count() == 2 {
                    // A stale entry holding the last reference besides the
                    // registry's: the task is an orphan. Claim it to cancel.
                    let next = Snapshot(s.0 | RUNNING | STARTED | CANCELLED);
                    return (Some(next), (Claim::Orphaned, false));
                }
                let next = s.ref_dec();
                return (
                    Some(next),
                    (
                        Claim::Stale {
                            last: next.ref_count() == 0,
                        },
                        false,
                    ),
                );
            }
            let next = Snapshot((s.0 | RUNNING | STARTED) & !NOTIFIED);
            let out = if s.is_cancelled() {
                Claim::Cancel
            } else {
                Claim::Run
            };
            (Some(next), (out, s.0 & STARTED == 0))
        })
    }

    /// The poll returned `Pending`.
    #[cfg_attr(
        not(any(test, echo_loom, fuzzing, feature = "internals")),
        allow(dead_code, reason = "the worker uses after_poll_woken")
    )]
    pub fn after_poll(&self) -> AfterPoll {
        self.after_poll_woken(false)
    }

    /// As [`after_poll`](State::after_poll), where `woken` says the task
    /// woke itself during the poll on the polling thread (recorded there
    /// instead of in this word, which saves an atomic read-modify-write
    /// per `yield_now`).
    pub fn after_poll_woken(&self, woken: bool) -> AfterPoll {
        self.update(|s| {
            debug_assert!(s.is_running() && !s.is_complete());
            if s.is_cancelled() {
                return (None, AfterPoll::Cancel);
            }
            let next = Snapshot(s.0 & !RUNNING);
            if woken {
                (
                    Some(Snapshot(next.0 | NOTIFIED)),
                    AfterPoll::Reschedule(s.priority()),
                )
            } else if s.is_notified() {
                (Some(next), AfterPoll::Reschedule(s.priority()))
            } else if s.ref_count() == 2 {
                // Only the registry would be left: nothing can wake the
                // task again. Keep RUNNING and the worker's reference; the
                // worker drops the future.
                (Some(Snapshot(s.0 | CANCELLED)), AfterPoll::Orphaned)
            } else {
                let next = next.ref_dec();
                debug_assert!(next.ref_count() > 1, "the registry holds a reference");
                (Some(next), AfterPoll::Idle)
            }
        })
    }

    /// The future is gone: stored output (`with_output`) or dropped
    /// (cancelled). Returns the word before the change. The caller still
    /// holds the worker's and the registry's references.
    pub fn complete(&self, with_output: bool) -> Snapshot {
        let flip = RUNNING | COMPLETE | if with_output { OUTPUT } else { 0 };
        let prev = Snapshot(self.0.fetch_xor(flip, Ordering::AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete() && !prev.has_output());
        prev
    }

    /// A waker is consumed by `wake`.
    pub fn wake_by_val(&self) -> Notify {
        self.update(|s| {
            if s.is_running() {
                let next = Snapshot(s.0 | NOTIFIED).ref_dec();
                (Some(next), Notify::Nothing)
            } else if s.is_complete() || s.is_notified() {
                let next = s.ref_dec();
                let out = if next.ref_count() == 0 {
                    Notify::Dealloc
                } else {
                    Notify::Nothing
                };
                (Some(next), out)
            } else {
                (Some(Snapshot(s.0 | NOTIFIED)), Notify::Submit(s.priority()))
            }
        })
    }

    /// A waker is used by `wake_by_ref`.
    pub fn wake_by_ref(&self) -> Notify {
        self.update(|s| {
            if s.is_complete() {
                (None, Notify::Nothing)
            } else if s.is_notified() {
                // Already notified, but still write (the same word): the
                // claim that runs the next poll must read from this write,
                // so that it sees what the waker did before waking (found
                // by the loom model `wake_by_ref_during_a_poll`).
                (Some(s), Notify::Nothing)
            } else if s.is_running() {
                (Some(Snapshot(s.0 | NOTIFIED)), Notify::Nothing)
            } else {
                let next = Snapshot(s.0 | NOTIFIED).ref_inc();
                (Some(next), Notify::Submit(s.priority()))
            }
        })
    }

    /// `abort()`: mark cancelled and make sure a worker will see it.
    pub fn abort(&self) -> Notify {
        self.update(|s| {
            if s.is_complete() || s.is_cancelled() {
                (None, Notify::Nothing)
            } else if s.is_running() || s.is_notified() {
                // The running worker or the queued entry will see CANCELLED.
                (Some(Snapshot(s.0 | CANCELLED)), Notify::Nothing)
            } else {
                let next = Snapshot(s.0 | CANCELLED | NOTIFIED).ref_inc();
                (Some(next), Notify::Submit(s.priority()))
            }
        })
    }

    /// Shutdown: mark cancelled, and claim the future if no worker has it.
    /// Returns whether the caller now owns the future (and must cancel it);
    /// the claim takes a reference, as a worker's claim holds its entry's.
    pub fn claim_for_shutdown(&self) -> bool {
        self.update(|s| {
            if s.is_complete() {
                (None, false)
            } else if s.is_running() {
                (Some(Snapshot(s.0 | CANCELLED)), false)
            } else {
                (Some(Snapshot(s.0 | RUNNING | CANCELLED).ref_inc()), true)
            }
        })
    }

    /// Changes the effective priority; `raise_only` ignores a lower tier.
    pub fn set_priority(&self, priority: Priority, raise_only: bool) -> Reprioritize {
        self.update(|s| {
            let cur = s.priority();
            if s.is_complete() || cur == priority || (raise_only && !priority.is_above(cur)) {
                return (None, Reprioritize::Unchanged);
            }
            let next = s.with_priority(priority);
            if s.is_idle() && s.is_notified() {
                (Some(next.ref_inc()), Reprioritize::Requeue(priority))
            } else {
                (Some(next), Reprioritize::Changed)
            }
        })
    }

    /// The JoinHandle stored a waker in the trailer and lends it to the
    /// completer. Fails (returning the word) if the task already completed.
    pub fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            debug_assert!(s.has_join_interest() && !s.has_join_waker());
            if s.is_complete() {
                (None, Err(s))
            } else {
                (Some(Snapshot(s.0 | JOIN_WAKER)), Ok(()))
            }
        })
    }

    /// The JoinHandle takes its waker back to replace it. Fails if the task
    /// already completed (the completer may be using the waker).
    pub fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            if s.is_complete() {
                // The completer may already have cleared JOIN_WAKER.
                return (None, Err(s));
            }
            debug_assert!(s.has_join_interest() && s.has_join_waker());
            (Some(Snapshot(s.0 & !JOIN_WAKER)), Ok(()))
        })
    }

    /// The completer is done with the lent waker. Returns the word before;
    /// if it has no JOIN_INTEREST the handle is gone and the completer must
    /// drop the waker.
    pub fn unset_join_waker_after_complete(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!JOIN_WAKER, Ordering::AcqRel))
    }

    /// The JoinHandle is dropped (or has read the output): clears
    /// JOIN_INTEREST and, when nothing else needs the task's memory, drops
    /// the handle's reference in the same step (see [`HandleRelease`]).
    pub fn release_handle(&self) -> HandleRelease {
        self.update(|s| {
            if s.is_complete() {
                let next = Snapshot(s.0 & !JOIN_INTEREST);
                return (Some(next), HandleRelease::Complete(s));
            }
            if s.has_join_waker() {
                let next = Snapshot(s.0 & !(JOIN_INTEREST | JOIN_WAKER));
                return (Some(next), HandleRelease::TookWaker);
            }
            let cleared = Snapshot(s.0 & !JOIN_INTEREST);
            if s.ref_count() == 2 {
                // The handle and the registry: an orphan once the handle goes.
                debug_assert!(s.is_idle() && !s.is_notified(), "orphan {s:?}");
                let next = Snapshot(cleared.0 | NOTIFIED | CANCELLED);
                return (
                    Some(next),
                    HandleRelease::Released(DropRef::Orphaned(s.priority())),
                );
            }
            (
                Some(cleared.ref_dec()),
                HandleRelease::Released(DropRef::Kept),
            )
        })
    }

    /// Takes another reference (a waker clone, a raise entry).
    pub fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        if (prev >> REF_SHIFT) >= REF_MAX {
            abort_on_overflow();
        }
    }

    /// Drops one reference held by a waker, a handle or the shutdown walk,
    /// turning an orphan into a cancellation (see the module docs).
    pub fn drop_ref(&self) -> DropRef {
        self.update(|s| {
            if !s.is_complete() && s.ref_count() == 2 {
                debug_assert!(s.is_idle() && !s.is_notified(), "orphan {s:?}");
                let next = Snapshot(s.0 | NOTIFIED | CANCELLED);
                return (Some(next), DropRef::Orphaned(s.priority()));
            }
            let next = s.ref_dec();
            let out = if next.ref_count() == 0 {
                DropRef::Last
            } else {
                DropRef::Kept
            };
            (Some(next), out)
        })
    }

    /// Drops one reference; true if it was the last. Only for references
    /// whose drop cannot orphan the task (it is complete, or the caller
    /// knows another non-registry reference remains).
    #[cfg_attr(
        not(any(test, echo_loom, fuzzing, feature = "internals")),
        allow(dead_code, reason = "the task code uses drop_ref and ref_dec_n")
    )]
    pub fn ref_dec(&self) -> bool {
        self.ref_dec_n(1)
    }

    /// Drops `n` references; true if they were the last.
    pub fn ref_dec_n(&self, n: usize) -> bool {
        let prev = Snapshot(self.0.fetch_sub(n * REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= n, "task reference count underflow");
        prev.ref_count() == n
    }

    /// Takes a reference only if the count is not already zero (the task is
    /// being freed). Used by the shutdown walk over the large-task list.
    pub fn try_ref_inc(&self) -> bool {
        self.update(|s| {
            if s.ref_count() == 0 {
                (None, false)
            } else {
                (Some(s.ref_inc()), true)
            }
        })
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests;
