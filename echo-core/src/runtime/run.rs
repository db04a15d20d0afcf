//! The worker loop: claim, poll, park.
//!
//! Every turn of the loop is a scheduling point: it fires expired timers
//! (of its own timer shard, the outside shard, and those it covers for
//! parked workers: `timer/`) and, with `Config::event_poll_interval`,
//! polls the host's events when that interval has passed, then takes the
//! next entry. A worker with no work parks; the first to park becomes the
//! sleeper (`timer/sleeper.rs`) and parks until the earliest timer of
//! every shard with `Platform::park_until`, the others with
//! `Platform::park`. Wakers that the platform runs inside the
//! sleeper's park (I/O readiness) push to its own ring and end the park.

use crate::Priority;
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::runtime::route::Wake;
use crate::runtime::worker::Worker;
use crate::sync::Ordering;
use crate::task::header::PollOutcome;
use crate::task::raw::{Entry, RawTask};
use crate::task::state::{AfterPoll, Claim};
use crate::task::waker::waker_ref;
use core::task::Context;
use core::time::Duration;

/// Clears a worker's `running` flag and the thread's worker identity when
/// the loop ends, even by a panic.
pub(super) struct Running<'a, P: Platform> {
    pub(super) shared: &'a Shared<P>,
    pub(super) worker: &'a Worker,
}

impl<P: Platform> Drop for Running<'_, P> {
    fn drop(&mut self) {
        self.shared.platform().set_current_worker(None);
        self.worker.running.store(false, Ordering::Release);
        self.shared.exit_worker();
    }
}

impl<P: Platform> Shared<P> {
    /// The worker loop. With `until_idle`, returns when no work is found
    /// instead of parking. Returns the number of entries run.
    pub(crate) fn run(&self, index: usize, until_idle: bool) -> usize {
        let worker = &self.workers[index];
        assert!(
            !worker.running.swap(true, Ordering::Acquire),
            "echo: worker {index} is already running on another thread"
        );
        self.enter_worker();
        self.platform().set_current_worker(Some(index));
        let _running = Running {
            shared: self,
            worker,
        };
        // SAFETY: this thread now runs as worker `index` until `_running`
        // drops, and the `running` flag keeps every other thread out.
        let mut owner = unsafe { worker.owner(index) };
        let o = &mut owner;
        let mut local = o.local();
        if core::mem::take(&mut local.left_parked) && !self.idle.unpark_self(index) {
            // A notifier took us off the sleeper list while the host was
            // away, and counted us as a searcher.
            local.searching = true;
        }
        if until_idle {
            // A host that drives the workers itself may run this one
            // alone: it fires every shard's due timers, not only its own.
            local.timer_cover = 0;
            local.clock_countdown = 1;
        }
        drop(local);
        let mut ran = 0;
        while !self.is_closed() {
            self.at_scheduling_point(o);
            if let Some((entry, tier)) = self.next_task(o).or_else(|| self.search(o)) {
                self.leave_searching(o);
                self.run_entry(o, entry, tier);
                ran += 1;
                continue;
            }
            if until_idle {
                self.idle_until_resumed(o);
                break;
            }
            self.park(o);
        }
        ran
    }

    /// A searching worker found work: stop searching, and if it was the
    /// last searcher, wake another in case there is more.
    fn leave_searching(&self, o: &mut Owner<'_>) {
        let mut local = o.local();
        if local.searching {
            local.searching = false;
            if self.idle.transition_from_searching() {
                self.notify_one();
            }
        }
    }

    /// Claims and runs one entry.
    pub(super) fn run_entry(&self, o: &mut Owner<'_>, entry: Entry, tier: Priority) {
        let task = entry.into_raw();
        let counters = &o.counters().tiers[tier.index()];
        let sched = self as *const Self as *const ();
        let (claim, first) = task.state().claim_first(tier);
        // Latency of every High task and of one in 64 others, chosen by
        // their ids (no per-task state), because a clock read is a sizeable
        // share of a cheap spawn (costs: `docs/DESIGN.md`, "Metrics").
        if first && (tier == Priority::High || task.id().is_sampled()) && self.config().samples() {
            self.record_latency(o, task, tier);
        }
        if claim != Claim::Run {
            // SAFETY: this thread runs the worker of `o`, and the claim is its own.
            unsafe { self.claimed_not_to_run(o, task, tier, claim) };
            return;
        }
        o.set_current(Some(task));
        o.set_budget(crate::timer::BUDGET);
        #[cfg(feature = "tracing")]
        let _span = self.task_span(task).entered();
        let waker = waker_ref(task);
        let mut cx = Context::from_waker(&waker);
        #[cfg(feature = "recorder")]
        let started = self.record_clock();
        // SAFETY: RUNNING is ours and `sched` is the task's scheduler.
        let outcome = unsafe { task.poll(sched, &mut cx) };
        #[cfg(feature = "recorder")]
        self.record_poll(o, task.id(), tier, started);
        o.set_current(None);
        if o.local().high_wake_owed {
            self.settle_high_wake(o);
        }
        let woken = o.self_woken();
        if woken {
            o.set_self_woken(false);
        }
        counters.polls.inc();
        match outcome {
            PollOutcome::Pending => match task.state().after_poll_woken(woken) {
                AfterPoll::Idle => {}
                AfterPoll::Reschedule(p) => {
                    // SAFETY: a reschedule turns the poller's reference
                    // into the new entry's.
                    self.route(unsafe { Entry::from_raw(task) }, p, Some(o), Wake::Now);
                }
                // SAFETY: still RUNNING.
                AfterPoll::Cancel => unsafe { self.cancel_claimed(o, task, tier, false) },
                // SAFETY: as above.
                AfterPoll::Orphaned => unsafe { self.cancel_claimed(o, task, tier, true) },
            },
            PollOutcome::Ready => {
                counters.completed.inc();
                // SAFETY: RUNNING, output stored.
                unsafe { task.complete(self, true) };
                self.task_finished();
            }
            PollOutcome::Panicked => {
                counters.panicked.inc();
                // SAFETY: RUNNING, the panic stored as the output.
                unsafe { task.complete(self, true) };
                self.task_finished();
            }
        }
    }

    /// An entry whose claim was not to poll: stale, or a cancellation.
    ///
    /// # Safety
    ///
    /// This thread runs the worker of `o`, and `claim` is what it got for `task`.
    #[cold]
    unsafe fn claimed_not_to_run(
        &self,
        o: &mut Owner<'_>,
        task: RawTask,
        tier: Priority,
        claim: Claim,
    ) {
        match claim {
            Claim::Stale { last } => {
                if last {
                    // SAFETY: last reference; stale entries only outlive
                    // complete tasks or tasks with other references.
                    unsafe { task.dealloc() };
                }
            }
            // SAFETY: the claim gave us RUNNING.
            Claim::Cancel => unsafe { self.cancel_claimed(o, task, tier, false) },
            // SAFETY: as above.
            Claim::Orphaned => unsafe { self.cancel_claimed(o, task, tier, true) },
            Claim::Run => unreachable!("a claim to run is polled"),
        }
    }

    /// Cancels a task this worker holds RUNNING for (aborted, shut down,
    /// or `orphaned`: nothing could wake it again), counting it first, so
    /// that a handle that sees the result sees it counted.
    ///
    /// # Safety
    ///
    /// This thread runs the worker of `o` and holds RUNNING (and its reference).
    #[cold]
    unsafe fn cancel_claimed(
        &self,
        o: &mut Owner<'_>,
        task: RawTask,
        tier: Priority,
        orphaned: bool,
    ) {
        let counters = &o.counters().tiers[tier.index()];
        counters.cancelled.inc();
        if orphaned {
            counters.orphaned.inc();
        }
        // SAFETY: per the contract; `self` is the task's scheduler.
        unsafe { task.cancel(self) };
        self.task_finished();
    }

    /// The span a poll of `task` runs in (feature `tracing`).
    #[cfg(feature = "tracing")]
    fn task_span(&self, task: RawTask) -> tracing::Span {
        let s = task.state().load();
        let name = if s.is_named() {
            // SAFETY: the caller claimed RUNNING to poll it.
            unsafe { task.name() }
        } else {
            None
        };
        tracing::trace_span!(
            target: "echo",
            "task",
            id = task.id().as_u64(),
            priority = s.priority().name(),
            name = name.as_ref().map(|n| n.as_str()),
        )
    }

    /// Records the submit-to-first-poll latency of `task`.
    #[cold]
    fn record_latency(&self, o: &mut Owner<'_>, task: RawTask, tier: Priority) {
        let now = self.platform().now_nanos();
        let waited = now.saturating_sub(task.id().created_nanos());
        o.counters().tiers[tier.index()].latency.record(waited);
    }

    /// Returns memory before going idle: this worker's heap, and the
    /// shards' heaps, which serve submissions from outside the pool and
    /// have no owner thread that would ever trim them (their tasks are
    /// mostly freed remotely, by workers).
    fn trim_before_idle(&self, o: &mut Owner<'_>) {
        o.heap().trim();
        for shard in self.shards.iter() {
            // Blocking: a shard's lock is only held to make a task, and a
            // parking worker may wait that long; `try_lock` could skip the
            // last trim before the pool goes idle.
            let mut shard = shard.lock();
            if !shard.heap.is_detached() {
                shard.heap.trim();
            }
        }
    }

    /// The timers' and the host's share of a scheduling point: fires the
    /// expired timers, and polls the host's events when it is time. One
    /// relaxed load when neither is in use.
    ///
    /// Otherwise the worker needs the time, but a clock read (about 7 ns
    /// with a TSC) would be a third of a cheap poll. So it reads the clock
    /// about every `CLOCK_EVERY_NANOS` of polling: every scheduling point
    /// while polls are that long or longer, every few points (at most
    /// `MAX_STRIDE`) while they are shorter. Pacing stays by time; the
    /// stride only adapts to how long recent polls took, so a timer or an
    /// event is seen within about a microsecond plus, when polls suddenly
    /// get longer, at most `MAX_STRIDE - 1` of the longer polls.
    #[inline]
    fn at_scheduling_point(&self, o: &mut Owner<'_>) {
        let w = o.index();
        let mut local = o.local();
        let next = self
            .timers
            .next_for(w, local.timer_scan)
            .min(local.timer_cover);
        let events = self.config().event_poll_interval;
        if next == u64::MAX && events.is_none() {
            // Nothing there: look at the next worker's shard next time.
            local.timer_scan = self.timers.scan_after(local.timer_scan);
            return;
        }
        local.clock_countdown = local.clock_countdown.saturating_sub(1);
        if local.clock_countdown > 0 {
            return;
        }
        drop(local);
        self.fire_timers_and_poll_events(o, next, events);
    }

    #[inline(never)]
    fn fire_timers_and_poll_events(&self, o: &mut Owner<'_>, next: u64, events: Option<Duration>) {
        /// How much polling may pass between two clock reads.
        const CLOCK_EVERY_NANOS: u32 = 1_000;
        /// The most scheduling points between two clock reads.
        const MAX_STRIDE: u32 = 8;
        let now = self.platform().now_nanos();
        {
            let mut local = o.local();
            // In 32 bits (a gap over 4 s gives stride 1 either way): a u64
            // division is a library call on 32-bit chips, 1 KB of flash.
            let gap = u32::try_from(now.saturating_sub(local.last_clock)).unwrap_or(u32::MAX);
            let per_point = gap / local.clock_stride;
            let stride = CLOCK_EVERY_NANOS
                .checked_div(per_point)
                .unwrap_or(MAX_STRIDE)
                .clamp(1, MAX_STRIDE);
            local.clock_stride = stride;
            local.clock_countdown = stride;
            local.last_clock = now;
        }
        let (cover, scan) = {
            let mut local = o.local();
            let scan = local.timer_scan;
            local.timer_scan = self.timers.scan_after(scan);
            (local.timer_cover, scan)
        };
        if now >= next {
            #[cfg(feature = "recorder")]
            let started = self.record_clock();
            let cover = self
                .timers
                .fire_due(o.index(), scan, now, cover, self.platform());
            o.local().timer_cover = cover;
            #[cfg(feature = "recorder")]
            self.record_timer_fire(o, started);
        }
        if let Some(every) = events {
            let mut local = o.local();
            if now >= local.next_event_poll {
                local.next_event_poll = now.saturating_add(every.as_nanos() as u64);
                drop(local);
                // Runs wakers, which may re-enter through `current_owner`.
                self.platform().poll_events(o.index());
            }
        }
    }

    /// Parks the worker of `o` until a notifier picks it (or shutdown). The first
    /// to park takes the sleeper role and parks until the earliest timer.
    fn park(&self, o: &mut Owner<'_>) {
        let worker = self.worker_of(o);
        self.trim_before_idle(o);
        worker.counters.parks.inc();
        let since = self.config().samples().then(|| self.platform().now_nanos());
        #[cfg(feature = "recorder")]
        let started = self.record_clock();
        o.local().timer_cover = u64::MAX;
        self.enter_parked(o);
        if self.timers.sleeper.try_take(o.index()) {
            self.sleep_until_picked_or_due(o);
            self.timers.sleeper.release();
            // Workers that parked while this one held the role armed
            // nothing since: watch their shards until parking again.
            let cover = self.timers.earliest_elsewhere(o.index());
            let mut local = o.local();
            local.timer_cover = cover;
            local.clock_countdown = 1;
        } else {
            self.park_until_picked(o);
        }
        if let Some(since) = since {
            let parked = self.platform().now_nanos().saturating_sub(since);
            worker.counters.parked_nanos.add(parked as usize);
        }
        if let Some(every) = self.config().event_poll_interval {
            // The host's events are not due at once just because the last
            // poll was before the park: the sleeper has just waited in them,
            // or still does. A busy worker polls them an interval from now.
            let now = self.platform().now_nanos();
            o.local().next_event_poll = now.saturating_add(every.as_nanos() as u64);
        }
        #[cfg(feature = "recorder")]
        self.record_park(o, started);
    }

    fn park_until_picked(&self, o: &mut Owner<'_>) {
        let worker = self.worker_of(o);
        loop {
            if self.is_closed() {
                return;
            }
            self.platform().park(o.index());
            if self.is_closed() {
                return;
            }
            if !self.idle.is_parked(o.index()) {
                // A notifier took us off the list and counted us searching.
                o.local().searching = true;
                worker.counters.unparks.inc();
                return;
            }
        }
    }

    /// Parks as the sleeper (see `timer/sleeper.rs`) until a notifier picks
    /// this worker, a timer is due, a waker run by the platform inside
    /// `park_until` queued work here, or shutdown. The caller releases the
    /// role afterwards.
    fn sleep_until_picked_or_due(&self, o: &mut Owner<'_>) {
        let worker = self.worker_of(o);
        loop {
            if self.is_closed() {
                return;
            }
            let deadline = self.timers.sleeper.arm(|| self.timers.earliest());
            if deadline == u64::MAX || self.platform().now_nanos() < deadline {
                o.local().sleeping = true;
                self.platform().park_until(o.index(), deadline);
                o.local().sleeping = false;
            }
            if self.is_closed() {
                return;
            }
            let now = self.platform().now_nanos();
            let due = now >= self.timers.earliest() && self.timers.has_due(now, self.platform());
            // Read after `has_due`, which may park on a shard's lock and
            // so take an unpark meant for this park: a notifier's pick is
            // seen here, an earlier timer by the next `arm`.
            let picked = !self.idle.is_parked(o.index());
            // SAFETY: owner's thread, short borrow.
            let woken = core::mem::take(&mut o.local().woken_while_sleeping);
            if picked || woken || due {
                // Awake again: counted as searching if a notifier took us
                // off the list, else as plainly unparked.
                if picked || !self.idle.unpark_self(o.index()) {
                    o.local().searching = true;
                    worker.counters.unparks.inc();
                }
                let high = self.injectors[Priority::High.index()].len();
                if woken && worker.queued() + high > 1 {
                    // Readiness woke several tasks here: as a push to a
                    // busy worker's ring would, offer them to a thief.
                    self.notify_one();
                }
                return;
            }
        }
    }

    /// Joins the sleeper list, then re-checks the queues (every parker
    /// does, not only the last searcher: see `idle.rs`).
    fn enter_parked(&self, o: &mut Owner<'_>) {
        let searching = core::mem::replace(&mut o.local().searching, false);
        self.idle.transition_to_parked(o.index(), searching);
        if self.has_work_anywhere() {
            self.notify_one();
        }
    }

    /// `run_until_idle` found no work: leave the worker counted as parked,
    /// so the next submission unparks it through the platform.
    fn idle_until_resumed(&self, o: &mut Owner<'_>) {
        let worker = self.worker_of(o);
        o.local().timer_cover = u64::MAX;
        self.trim_before_idle(o);
        worker.counters.parks.inc();
        self.enter_parked(o);
        o.local().left_parked = true;
    }
}
