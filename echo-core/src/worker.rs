//! A worker: its rings, its private state, and its loop.
//!
//! Each worker owns a ring per lower tier (Normal, Low; High has only the
//! global injector), a slab heap, a random-number generator for victim
//! choice, its anti-starvation counters, its metrics, and the cooperative
//! budget of the task it polls (128 units, reset before each poll).
//!
//! Every turn of the loop is a scheduling point: it fires expired timers
//! and, with `Config::event_poll_interval`, polls the host's events when
//! that interval has passed, then takes the next entry. A worker with no
//! work parks; the first to park becomes the sleeper (`timer/sleeper.rs`)
//! and parks until the earliest timer with `Platform::park_until`, the
//! others with `Platform::park`. Wakers that the platform runs inside the
//! sleeper's park (I/O readiness) push to its own ring and end the park. Everything in
//! `local`, `heap` and `current` is touched only by the thread running the
//! worker, in short borrows that never span a poll (a poll may spawn, which
//! borrows the heap, or read `current`).

use crate::Priority;
use crate::deque::Deque;
use crate::metrics::Counters;
use crate::padded::CachePadded;
use crate::platform::Platform;
use crate::scheduler::Shared;
use crate::slab::Heap;
use crate::sync::{AtomicBool, Ordering, UnsafeCell};
use crate::task::TaskId;
use crate::task::header::PollOutcome;
use crate::task::info::IdClock;
use crate::task::raw::{Entry, RawTask};
use crate::task::state::{AfterPoll, Claim};
use crate::task::waker::waker_ref;
use core::task::Context;
use core::time::Duration;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

/// A worker's private scheduling state.
pub(crate) struct Local {
    pub(crate) rng: Xoshiro128PlusPlus,
    /// Scheduling points until the injectors come first again.
    pub(crate) until_global: u32,
    /// Polls since this worker last served (or found empty) Normal.
    pub(crate) since_normal: u32,
    /// Polls since this worker last served (or found empty) Low.
    pub(crate) since_low: u32,
    /// Whether the idle state counts this worker as searching.
    pub(crate) searching: bool,
    /// `run_until_idle` left this worker in the sleeper list.
    pub(crate) left_parked: bool,
    /// Injector-first ticks until the next queue-depth sample.
    pub(crate) until_depth: u32,
    /// When this worker next polls the platform's events (platform clock).
    next_event_poll: u64,
    /// Scheduling points left until the next clock read (see
    /// `at_scheduling_point`).
    clock_countdown: u32,
    /// Scheduling points between two clock reads, from 1 to `MAX_STRIDE`.
    clock_stride: u32,
    /// The last clock read at a scheduling point.
    last_clock: u64,
    /// The worker is inside `park_until` as the sleeper: wakers that the
    /// platform runs on this thread there push to its rings.
    pub(crate) sleeping: bool,
    /// A waker pushed to this worker's ring while it was `sleeping`.
    pub(crate) woken_while_sleeping: bool,
    ids: IdClock,
}

/// One worker's state.
pub(crate) struct Worker {
    /// The rings thieves read; padded so that the owner's writes to the
    /// fields below (counters every poll) do not share their lines.
    rings: CachePadded<[Deque<Entry>; 2]>,
    pub(crate) counters: Counters,
    running: AtomicBool,
    local: UnsafeCell<Local>,
    heap: UnsafeCell<Heap>,
    current: UnsafeCell<Option<RawTask>>,
    /// The task being polled woke itself (see `State::after_poll_woken`).
    self_woken: UnsafeCell<bool>,
    /// The cooperative budget left to the task being polled.
    budget: UnsafeCell<u32>,
}

// SAFETY: the cells are owner-only (see the module docs); everything else
// is atomic or immutable.
unsafe impl Sync for Worker {}
// SAFETY: as above; the heap and entries are `Send`.
unsafe impl Send for Worker {}

impl Worker {
    pub(crate) fn new(index: usize, seed: u64) -> Worker {
        let seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Worker {
            rings: CachePadded([Deque::new(), Deque::new()]),
            counters: Counters::default(),
            running: AtomicBool::new(false),
            local: UnsafeCell::new(Local {
                rng: Xoshiro128PlusPlus::seed_from_u64(seed),
                until_global: 0,
                since_normal: 0,
                since_low: 0,
                searching: false,
                left_parked: false,
                until_depth: 0,
                next_event_poll: 0,
                clock_countdown: 1,
                clock_stride: 1,
                last_clock: 0,
                sleeping: false,
                woken_while_sleeping: false,
                ids: IdClock::new(index as u64 + 1),
            }),
            heap: UnsafeCell::new(Heap::new(index as u32)),
            current: UnsafeCell::new(None),
            self_woken: UnsafeCell::new(false),
            budget: UnsafeCell::new(0),
        }
    }

    /// The ring for `tier` (Normal or Low).
    #[inline]
    pub(crate) fn ring(&self, tier: Priority) -> &Deque<Entry> {
        debug_assert!(tier != Priority::High, "High has no per-worker ring");
        match tier {
            Priority::Low => &self.rings[1],
            _ => &self.rings[0],
        }
    }

    /// # Safety
    ///
    /// The caller is this worker's thread (or no worker is active), and no
    /// other borrow of `local` is live.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local_mut(&self) -> &mut Local {
        // SAFETY: per the contract.
        self.local.with_mut(|p| unsafe { &mut *p })
    }

    /// # Safety
    ///
    /// As [`local_mut`](Worker::local_mut), for the heap.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn heap_mut(&self) -> &mut Heap {
        // SAFETY: per the contract.
        self.heap.with_mut(|p| unsafe { &mut *p })
    }

    /// The task this worker is polling. Only meaningful on its own thread.
    #[inline]
    pub(crate) fn current(&self) -> Option<RawTask> {
        // SAFETY: written only by the owner between polls; callers are the
        // owner's thread (the platform's `current_worker` contract).
        self.current.with(|p| unsafe { *p })
    }

    /// Records (or clears) a self-wake of the task being polled.
    /// Owner-only, like `current`.
    #[inline]
    pub(crate) fn set_self_woken(&self, woken: bool) {
        // SAFETY: owner-only: only the polling thread (the owner) gets here.
        self.self_woken.with_mut(|p| unsafe { *p = woken });
    }

    #[inline]
    fn self_woken(&self) -> bool {
        // SAFETY: owner-only.
        self.self_woken.with(|p| unsafe { *p })
    }

    /// The budget left to the task being polled. Owner-only.
    #[inline]
    pub(crate) fn budget(&self) -> u32 {
        // SAFETY: owner-only, like `current`.
        self.budget.with(|p| unsafe { *p })
    }

    /// Spends one unit of budget; false if none was left. Owner-only.
    #[inline]
    pub(crate) fn spend_budget(&self) -> bool {
        // SAFETY: owner-only, like `current`.
        self.budget.with_mut(|p| unsafe {
            if *p == 0 {
                return false;
            }
            *p -= 1;
            true
        })
    }

    #[inline]
    fn set_budget(&self, units: u32) {
        // SAFETY: owner-only, like `current`.
        self.budget.with_mut(|p| unsafe { *p = units });
    }

    #[inline]
    fn set_current(&self, task: Option<RawTask>) {
        // SAFETY: owner-only, as `current`.
        self.current.with_mut(|p| unsafe { *p = task });
    }

    /// A fresh task id for a task made at `now_nanos`. Owner-only.
    #[inline]
    pub(crate) fn next_task_id(&self, now_nanos: u64) -> TaskId {
        // SAFETY: called on the owner's thread, in a short borrow.
        unsafe { self.local_mut() }.ids.next(now_nanos)
    }

    /// A random index below `n`. Owner-only.
    pub(crate) fn random_below(&self, n: usize) -> usize {
        // SAFETY: owner's thread, short borrow.
        let r = unsafe { self.local_mut() }.rng.next_u32();
        ((u64::from(r) * n as u64) >> 32) as usize
    }
}

/// Clears a worker's `running` flag and the thread's worker identity when
/// the loop ends, even by a panic.
struct Running<'a, P: Platform> {
    shared: &'a Shared<P>,
    worker: &'a Worker,
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
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { worker.local_mut() };
        if core::mem::take(&mut local.left_parked) && !self.idle.unpark_self(index) {
            // A notifier took us off the sleeper list while the host was
            // away, and counted us as a searcher.
            local.searching = true;
        }
        let mut ran = 0;
        while !self.is_closed() {
            self.at_scheduling_point(index);
            if let Some((entry, tier)) = self.next_task(index).or_else(|| self.search(index)) {
                self.leave_searching(index);
                self.run_entry(index, entry, tier);
                ran += 1;
                continue;
            }
            if until_idle {
                self.idle_until_resumed(index);
                break;
            }
            self.park(index);
        }
        ran
    }

    /// A searching worker found work: stop searching, and if it was the
    /// last searcher, wake another in case there is more.
    fn leave_searching(&self, w: usize) {
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { self.workers[w].local_mut() };
        if local.searching {
            local.searching = false;
            if self.idle.transition_from_searching() {
                self.notify_one();
            }
        }
    }

    /// Claims and runs one entry.
    fn run_entry(&self, w: usize, entry: Entry, tier: Priority) {
        let worker = &self.workers[w];
        let task = entry.into_raw();
        let counters = &worker.counters.tiers[tier.index()];
        let sched = self as *const Self as *const ();
        let (claim, first) = task.state().claim_first(tier);
        // Latency of every High task and of one in 64 others, chosen by
        // their ids (no per-task state): a clock read costs about a quarter
        // of a spawn, and sampling keeps the detailed metrics under 2% of it.
        if first
            && (tier == Priority::High || task.id().is_sampled())
            && self.config().detailed_metrics
        {
            self.record_latency(w, task, tier);
        }
        if claim != Claim::Run {
            // SAFETY: this thread is worker `w`, and the claim is its own.
            unsafe { self.claimed_not_to_run(w, task, tier, claim) };
            return;
        }
        worker.set_current(Some(task));
        worker.set_budget(crate::timer::BUDGET);
        #[cfg(feature = "tracing")]
        let _span = self.task_span(task).entered();
        let waker = waker_ref(task);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: RUNNING is ours and `sched` is the task's scheduler.
        let outcome = unsafe { task.poll(sched, &mut cx) };
        worker.set_current(None);
        let woken = worker.self_woken();
        if woken {
            worker.set_self_woken(false);
        }
        counters.polls.inc();
        match outcome {
            PollOutcome::Pending => match task.state().after_poll_woken(woken) {
                AfterPoll::Idle => {}
                AfterPoll::Reschedule(p) => {
                    self.schedule_on_worker(w, Entry::from_raw(task), p);
                }
                // SAFETY: still RUNNING.
                AfterPoll::Cancel => unsafe { self.cancel_claimed(w, task, tier, false) },
                // SAFETY: as above.
                AfterPoll::Orphaned => unsafe { self.cancel_claimed(w, task, tier, true) },
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
    /// This thread is worker `w`, and `claim` is what it got for `task`.
    #[cold]
    unsafe fn claimed_not_to_run(&self, w: usize, task: RawTask, tier: Priority, claim: Claim) {
        match claim {
            Claim::Stale { last } => {
                if last {
                    // SAFETY: last reference; stale entries only outlive
                    // complete tasks or tasks with other references.
                    unsafe { task.dealloc() };
                }
            }
            // SAFETY: the claim gave us RUNNING.
            Claim::Cancel => unsafe { self.cancel_claimed(w, task, tier, false) },
            // SAFETY: as above.
            Claim::Orphaned => unsafe { self.cancel_claimed(w, task, tier, true) },
            Claim::Run => unreachable!("a claim to run is polled"),
        }
    }

    /// Cancels a task this worker holds RUNNING for (aborted, shut down,
    /// or `orphaned`: nothing could wake it again), counting it first, so
    /// that a handle that sees the result sees it counted.
    ///
    /// # Safety
    ///
    /// This thread is worker `w` and holds RUNNING (and its reference).
    #[cold]
    unsafe fn cancel_claimed(&self, w: usize, task: RawTask, tier: Priority, orphaned: bool) {
        let counters = &self.workers[w].counters.tiers[tier.index()];
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
            self.task_name(task.id())
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
    fn record_latency(&self, w: usize, task: RawTask, tier: Priority) {
        let worker = &self.workers[w];
        let now = self.platform().now_nanos();
        let waited = now.saturating_sub(task.id().created_nanos());
        worker.counters.tiers[tier.index()].latency.record(waited);
    }

    /// Returns memory before going idle: this worker's heap, and the
    /// shards' heaps, which serve submissions from outside the pool and
    /// have no owner thread that would ever trim them (their tasks are
    /// mostly freed remotely, by workers).
    fn trim_before_idle(&self, w: usize) {
        // SAFETY: owner's thread, between polls.
        unsafe { self.workers[w].heap_mut() }.trim();
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
    fn at_scheduling_point(&self, w: usize) {
        let next = self.timers.next_deadline();
        let events = self.config().event_poll_interval;
        if next == u64::MAX && events.is_none() {
            return;
        }
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { self.workers[w].local_mut() };
        local.clock_countdown = local.clock_countdown.saturating_sub(1);
        if local.clock_countdown > 0 {
            return;
        }
        self.fire_timers_and_poll_events(w, next, events);
    }

    #[inline(never)]
    fn fire_timers_and_poll_events(&self, w: usize, next: u64, events: Option<Duration>) {
        /// How much polling may pass between two clock reads.
        const CLOCK_EVERY_NANOS: u64 = 1_000;
        /// The most scheduling points between two clock reads.
        const MAX_STRIDE: u32 = 8;
        let now = self.platform().now_nanos();
        {
            // SAFETY: owner's thread, short borrow (it ends before any
            // timer or event runs a waker).
            let local = unsafe { self.workers[w].local_mut() };
            let per_point = now.saturating_sub(local.last_clock) / u64::from(local.clock_stride);
            let stride = CLOCK_EVERY_NANOS
                .checked_div(per_point)
                .unwrap_or(u64::from(MAX_STRIDE))
                .clamp(1, u64::from(MAX_STRIDE)) as u32;
            local.clock_stride = stride;
            local.clock_countdown = stride;
            local.last_clock = now;
        }
        if now >= next {
            self.timers.fire(now);
        }
        if let Some(every) = events {
            // SAFETY: owner's thread, short borrow (it ends before the
            // platform runs any waker).
            let local = unsafe { self.workers[w].local_mut() };
            if now >= local.next_event_poll {
                local.next_event_poll = now.saturating_add(every.as_nanos() as u64);
                self.platform().poll_events(w);
            }
        }
    }

    /// Parks worker `w` until a notifier picks it (or shutdown). The first
    /// to park takes the sleeper role and parks until the earliest timer.
    fn park(&self, w: usize) {
        let worker = &self.workers[w];
        self.trim_before_idle(w);
        worker.counters.parks.inc();
        let since = self
            .config()
            .detailed_metrics
            .then(|| self.platform().now_nanos());
        self.enter_parked(w);
        if self.timers.sleeper.try_take(w) {
            self.sleep_until_picked_or_due(w);
            self.timers.sleeper.release();
        } else {
            self.park_until_picked(w);
        }
        if let Some(since) = since {
            let parked = self.platform().now_nanos().saturating_sub(since);
            worker.counters.parked_nanos.add(parked as usize);
        }
    }

    fn park_until_picked(&self, w: usize) {
        let worker = &self.workers[w];
        loop {
            if self.is_closed() {
                return;
            }
            self.platform().park(w);
            if self.is_closed() {
                return;
            }
            if !self.idle.is_parked(w) {
                // A notifier took us off the list and counted us searching.
                // SAFETY: owner's thread, short borrow.
                unsafe { worker.local_mut() }.searching = true;
                worker.counters.unparks.inc();
                return;
            }
        }
    }

    /// Parks as the sleeper (see `timer/sleeper.rs`) until a notifier picks
    /// this worker, a timer is due, a waker run by the platform inside
    /// `park_until` queued work here, or shutdown. The caller releases the
    /// role afterwards.
    fn sleep_until_picked_or_due(&self, w: usize) {
        let worker = &self.workers[w];
        loop {
            if self.is_closed() {
                return;
            }
            let deadline = self.timers.sleeper.arm(self.timers.next_word());
            if deadline == u64::MAX || self.platform().now_nanos() < deadline {
                // SAFETY: owner's thread, short borrow; the platform's
                // wakers borrow `local` only after it.
                unsafe { worker.local_mut() }.sleeping = true;
                self.platform().park_until(w, deadline);
                // SAFETY: as above, after the wakers' borrows.
                unsafe { worker.local_mut() }.sleeping = false;
            }
            if self.is_closed() {
                return;
            }
            let picked = !self.idle.is_parked(w);
            // SAFETY: owner's thread, short borrow.
            let woken = core::mem::take(&mut unsafe { worker.local_mut() }.woken_while_sleeping);
            let now = self.platform().now_nanos();
            let due = now >= self.timers.next_deadline() && self.timers.has_due(now);
            if picked || woken || due {
                // Awake again: counted as searching if a notifier took us
                // off the list, else as plainly unparked.
                if picked || !self.idle.unpark_self(w) {
                    // SAFETY: owner's thread, short borrow.
                    unsafe { worker.local_mut() }.searching = true;
                    worker.counters.unparks.inc();
                }
                if woken
                    && worker.ring(Priority::Normal).len() + worker.ring(Priority::Low).len() > 1
                {
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
    fn enter_parked(&self, w: usize) {
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { self.workers[w].local_mut() };
        let searching = core::mem::replace(&mut local.searching, false);
        self.idle.transition_to_parked(w, searching);
        if self.has_work_anywhere() {
            self.notify_one();
        }
    }

    /// `run_until_idle` found no work: leave the worker counted as parked,
    /// so the next submission unparks it through the platform.
    fn idle_until_resumed(&self, w: usize) {
        let worker = &self.workers[w];
        self.trim_before_idle(w);
        worker.counters.parks.inc();
        self.enter_parked(w);
        // SAFETY: owner's thread, short borrow.
        unsafe { worker.local_mut() }.left_parked = true;
    }
}
