//! Where an entry goes, and whom it wakes.
//!
//! Every entry (a spawn, a wake, a reschedule after a poll, an abort) is
//! queued through [`Shared::route`]:
//!
//! - from one of this scheduler's workers, an entry of a ringed tier goes
//!   to that worker's own ring (no shared write unless it overflows), and
//!   a High entry to the High injector;
//! - a new task submitted from outside the pool goes to its tier's
//!   injector (submitting allocates anyway, so it is not for interrupt
//!   handlers);
//! - any other entry from outside the pool (a wake, an abort, a change of
//!   priority, an orphan) goes to the inbox (`inbox.rs`), which never
//!   allocates, locks or waits, so an interrupt handler may wake a task.
//!   Workers take the inbox whole at their scheduling points and route
//!   each task at its current tier from there (`take_inbox`).
//!
//! Waking follows the idle rules (`idle.rs`): an injector push wakes a
//! worker if none is searching; a ring push wakes a thief only for a
//! second queued entry, because the pushing worker runs a lone one next.
//! High entries made on a worker follow the same idea, as the worker's
//! state allows:
//! - made by the task it polls (a spawn, a wake): the entry goes to the
//!   High injector, where every awake worker sees it at its next
//!   scheduling point, and when the poll ends the worker wakes a parked
//!   one only if it will not take the entry next itself (a second High
//!   entry is queued, or a turn owed to a tier with work comes first:
//!   `settle_high_wake`).
//!   So a request's chain of High tasks (a connection, its stream, the
//!   connection again) stays on one worker instead of waking another
//!   across threads at each hop; a parked worker waits for the end of
//!   the poll that made the entry, which is the poll already running;
//! - made by a waker the platform runs on the sleeper in `park_until`
//!   (I/O readiness): that thread, which the event just woke, runs it.
//!
//! A batch queues quietly and wakes once at its end (`wake_for_batch`).
//!
//! After shutdown has finished (`lifecycle.rs`), whoever pushes to an
//! injector or the inbox drains them itself.

use crate::Priority;
use crate::inbox::Pushed;
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::task::raw::{Entry, RawTask};

/// Whether [`Shared::route`] wakes a worker for the entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Wake one if the idle rules call for it.
    Now,
    /// Part of a batch: the caller calls `wake_for_batch` after the last.
    Batch,
}

impl<P: Platform> Shared<P> {
    /// Queues `entry` of `priority`, made or woken on the worker `on`
    /// proves the caller runs (if it is one of this scheduler's workers).
    ///
    /// An entry that goes to an injector may be run, freed, and drop what
    /// was the last reference to this `Shared` as soon as it is pushed, so
    /// the caller must keep the scheduler alive across the call by other
    /// means than the entry (see `schedule` in `task_host.rs`). On a
    /// worker, the worker's own reference does.
    #[inline]
    pub(crate) fn route(
        &self,
        entry: Entry,
        priority: Priority,
        mut on: Option<&mut Owner<'_>>,
        wake: Wake,
    ) {
        let sleeping = on.as_mut().is_some_and(|o| o.local().sleeping);
        // A High responder keeps no ringed work: it runs only High.
        let responder = on.as_ref().is_some_and(|o| self.is_responder(o.index()));
        match on {
            Some(o) if priority.has_ring() && !responder => {
                self.push_ring(o, entry, priority, wake)
            }
            Some(o) if !priority.has_ring() && wake == Wake::Now && sleeping => {
                // A waker the platform runs on the sleeper inside
                // `park_until` (I/O readiness): the thread the event just
                // woke runs the entry, as it would a ringed one, rather
                // than waking another worker across threads for it.
                self.injectors[priority.index()].push(entry);
                o.local().woken_while_sleeping = true;
                self.platform.unpark(o.index());
            }
            Some(o) if !priority.has_ring() && wake == Wake::Now && o.current().is_some() => {
                // Made by the task this worker polls (a spawn, a wake): the
                // worker takes it at its next scheduling point unless it
                // has more to do, which it decides when the poll ends
                // (`settle_high_wake`); awake workers see it meanwhile.
                self.injectors[priority.index()].push(entry);
                o.local().high_wake_owed = true;
            }
            _ => {
                self.injectors[priority.index()].push(entry);
                if wake == Wake::Now {
                    self.wake_for_injector();
                }
            }
        }
    }

    /// Queues `task` from a context that is not one of this scheduler's
    /// workers, handing over the caller's reference: into the inbox, then
    /// a worker is woken. Interrupt-safe: the push is one compare-and-swap
    /// (see `inbox.rs`), and so are the wake (`idle.rs`) and the phase
    /// check, before shutdown has finished.
    ///
    /// As with [`route`](Shared::route), the caller keeps the scheduler
    /// alive across the call by other means than the reference it hands
    /// over.
    pub(crate) fn route_from_outside(&self, task: RawTask) {
        // SAFETY: the reference handed over keeps the task allocated until
        // a worker takes it from the inbox.
        if unsafe { self.inbox.push(task.as_ptr()) } == Pushed::AlreadyIn {
            // The task's place in the inbox is an entry already (it will be
            // routed at the tier the task has then), so this reference is
            // surplus; the place holds one, so this one is not the last.
            task.drop_ref();
            return;
        }
        self.wake_for_injector();
    }

    /// Routes every task in the inbox from the owner's worker, at the tier
    /// each has now, and frees those left to free (`free_later`). Returns
    /// the first task of the most urgent tier instead of queueing it, if
    /// that tier's injector is empty (so no older one is overtaken): the
    /// worker runs it next, saving the injector's push and pop on the path
    /// from an interrupt's wake to the poll.
    pub(crate) fn take_inbox(&self, o: &mut Owner<'_>) -> Option<Entry> {
        let mut first_urgent = None;
        let mut queued = 0usize;
        for node in self.inbox.take_all() {
            // SAFETY: a task in the inbox holds an entry's reference, or
            // none and is left to free; either way it is allocated.
            let task = unsafe { RawTask::from_header(node) };
            let s = task.state().load();
            if s.ref_count() == 0 {
                // SAFETY: no references; the stage and trailer were dropped
                // before it was left here (`free_later`).
                unsafe { Shared::<P>::free_slot(node) };
                continue;
            }
            // SAFETY: the inbox's reference goes to the entry.
            let entry = unsafe { Entry::from_raw(task) };
            let tier = s.priority();
            queued += 1;
            if !tier.has_ring() && first_urgent.is_none() && self.injectors[tier.index()].is_empty()
            {
                first_urgent = Some(entry);
                continue;
            }
            self.route(entry, tier, Some(o), Wake::Batch);
        }
        if queued > 1 {
            // This worker runs one next; offer the rest to a thief.
            self.notify_one();
        }
        first_urgent
    }

    /// The end of a batch of `Wake::Batch` entries: one wake-up (the woken
    /// worker, finding work, wakes the next), and the post-shutdown check.
    pub(crate) fn wake_for_batch(&self) {
        self.wake_for_injector();
    }

    /// After an injector or inbox push: wake a worker, and drain if
    /// shutdown has finished. `notify_one` fences after the push, which
    /// also orders it before the phase read.
    fn wake_for_injector(&self) {
        self.notify_one();
        if self.lifecycle.is_finished() {
            self.drain_queues();
        }
    }

    /// Pushes to the owner's own ring of `tier`.
    #[inline]
    fn push_ring(&self, o: &mut Owner<'_>, entry: Entry, tier: Priority, wake: Wake) {
        let ring = o.ring(tier);
        ring.push(entry, &self.injectors[tier.index()]);
        if wake == Wake::Batch {
            return;
        }
        let mut local = o.local();
        if local.sleeping {
            // The platform runs wakers on the sleeper inside `park_until`
            // (I/O readiness): end that park so this worker runs the entry.
            local.woken_while_sleeping = true;
            drop(local);
            self.platform.unpark(o.index());
            return;
        }
        drop(local);
        // A lone entry is run by this worker next; only a second one is
        // worth waking a thief for. This worker is awake and will run the
        // entry itself if nobody steals it, so waking a thief is only a
        // hint: a plain load decides whether the fenced notify is worth it.
        if o.ring_len(tier) > 1 && self.idle.may_wake() {
            self.notify_one();
        }
    }

    /// After a poll that queued High entries (see `route`): wakes a parked
    /// worker for them unless this worker takes the only one next, that
    /// is, unless the High injector holds more than one entry or an owed
    /// anti-starvation turn comes before High at this worker's next pick.
    #[cold]
    pub(crate) fn settle_high_wake(&self, o: &mut Owner<'_>) {
        o.local().high_wake_owed = false;
        let high = self.injectors[Priority::High.index()].len();
        if high > 1 || (high == 1 && self.owed_turn_comes_first(o)) {
            self.notify_one();
        }
    }

    /// Whether this worker's next pick serves an owed turn before High: a
    /// turn is owed to a ringed tier that has an entry to take (in this
    /// worker's ring or the tier's injector). A turn owed to an empty tier
    /// is forfeited at the pick, and High comes next (`next_task`); waking
    /// a parked worker for it cost an idle gRPC call about 30 µs on a
    /// 2-CPU VM (a wake in about one call of five, with nothing but High
    /// work queued).
    fn owed_turn_comes_first(&self, o: &mut Owner<'_>) -> bool {
        let (since_turn, owed_at) = {
            let local = o.local();
            (local.since_turn, local.owed_at)
        };
        Priority::RINGED.iter().enumerate().any(|(i, &tier)| {
            since_turn[i] >= owed_at[i]
                && (o.ring_len(tier) > 0 || !self.injectors[tier.index()].is_empty())
        })
    }

    /// Wakes one parked worker if the idle rules call for it.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.platform.unpark(w);
        }
    }

    /// Whether any queue holds an entry.
    pub(crate) fn has_work_anywhere(&self) -> bool {
        !self.inbox.is_empty()
            || self.injectors.iter().any(|i| !i.is_empty())
            || self
                .workers
                .iter()
                .any(|w| Priority::RINGED.iter().any(|&t| !w.ring(t).is_empty()))
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use crate::test_host::TestHost;
    use crate::{Config, Priority, Scheduler};

    /// After a poll that queued one High entry, the worker wakes a parked
    /// one only if an owed turn will come before that entry: a turn owed to
    /// a tier with an entry to take. Owed to empty tiers, the pick forfeits
    /// them and takes the High entry itself.
    #[test]
    fn an_owed_turn_comes_first_only_when_its_tier_has_work() {
        let s = Scheduler::new(TestHost::default(), Config::new(1)).unwrap();
        {
            let shared = &s.shared;
            // SAFETY: no thread runs worker 0; the test stands in for it.
            let mut o = unsafe { shared.workers[0].owner(0) };
            assert!(!shared.owed_turn_comes_first(&mut o), "no turn owed");
            {
                let mut local = o.local();
                local.since_turn = local.owed_at;
            }
            assert!(
                !shared.owed_turn_comes_first(&mut o),
                "turns owed to Normal and Low, both empty: High comes next"
            );
            drop(s.spawn(async {}, Priority::Low));
            assert!(
                shared.owed_turn_comes_first(&mut o),
                "a turn owed to Low, whose injector holds an entry"
            );
        }
        s.run_until_idle(0);
        s.shutdown();
    }
}
