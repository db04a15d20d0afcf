//! The scheduler layer: the state a scheduler's workers, handles and
//! tasks share (`Shared<P>`, whose fields are private to this module and
//! its files), and everything that works on it.
//!
//! - `route.rs`: where an entry goes, and whom it wakes;
//! - `pick.rs`: a worker's next entry, with the anti-starvation rule;
//! - `steal.rs`: taking from other workers' rings;
//! - `run.rs`: the worker loop (claim, poll, park);
//! - `worker.rs`: a worker's state;
//! - `owner.rs`: the proof that the caller runs a given worker, and the
//!   owner-only state it opens (`local.rs`: the worker's private
//!   scheduling state);
//! - `spawn.rs`: submission, from a worker or from outside;
//! - `spawn_when_room.rs`: the future that waits for room under the bound;
//! - `shutdown.rs` and `lifecycle.rs`: shutdown and its phases;
//! - `timers.rs`: the workers' side of timers and the budget;
//! - `task_host.rs`: the scheduler as the host of its tasks (the task
//!   layer's `Schedule` trait).
//!
//! The public handle is `crate::Scheduler` (`scheduler/`); the protocols
//! with no scheduler state of their own (`idle.rs`, `room.rs`, `deque/`,
//! `inject.rs`, `slab/`, `timer/`, `task/`) are beside this module, below it.

mod lifecycle;
mod local;
mod owner;
mod pick;
#[cfg(feature = "recorder")]
mod record;
mod responder;
mod route;
mod run;
mod shutdown;
mod spawn;
mod spawn_when_room;
mod steal;
mod task_host;
mod timers;
mod worker;

pub use spawn::TaskOptions;
pub use spawn_when_room::SpawnWhenRoom;

use crate::Priority;
use crate::config::Config;
use crate::idle::Idle;
use crate::inbox::Inbox;
use crate::inbox::Pushed;
use crate::inject::Injector;
use crate::metrics::{Counters, Metrics, merged_latency};
use crate::padded::CachePadded;
use crate::platform::Platform;
use crate::room::Room;
use crate::runtime::lifecycle::Lifecycle;
use crate::runtime::owner::Owner;
use crate::runtime::worker::Worker;
use crate::slab::{self, LARGE_OWNER, LargeList, PagePool};
use crate::spin::SpinLock;
use crate::sync::{Arc, AtomicUsize, Ordering, fence};
use crate::task::TaskInfo;
use crate::task::header::Header;
use crate::task::info::IdClock;
use crate::task::raw::Entry;
use crate::timer::Timers;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::time::Duration;
use spawn::{MAX_SHARDS, Shard};

/// The state every worker, handle and task of one scheduler shares.
pub(crate) struct Shared<P: Platform> {
    platform: P,
    config: Config,
    workers: Box<[CachePadded<Worker>]>,
    injectors: [Injector<Entry>; Priority::COUNT],
    /// Tasks queued, or left to free, from outside the pool (`inbox.rs`):
    /// each holds one reference (an entry's), or none (left to free).
    inbox: Inbox<Header>,
    idle: Idle,
    /// Running, closed, finishing or finished (see `lifecycle.rs`).
    lifecycle: Lifecycle,
    active: AtomicUsize,
    shards: Box<[CachePadded<SpinLock<Shard>>]>,
    large: LargeList,
    remote: CachePadded<Counters>,
    /// Memory for small pages.
    pool: PagePool,
    /// The bound on live tasks (`Config::max_tasks`).
    room: Option<Room>,
    /// When the scheduler was made, on the platform clock.
    started_nanos: u64,
    /// The timers, and the sleeper role.
    timers: Timers,
    /// Each worker's timeline (`recorder/`).
    #[cfg(feature = "recorder")]
    recorder: crate::recorder::Recorder,
}

impl<P: Platform> Shared<P> {
    /// The state of a new scheduler (`config` is valid).
    pub(crate) fn new(platform: P, config: Config) -> Shared<P> {
        let n = config.worker_count;
        // The High responders' slots follow the workers' (`responder.rs`).
        let slots = n + config.responders;
        let seed = platform.random_seed();
        let workers = (0..slots)
            .map(|i| CachePadded(Worker::new(i, seed, &config)))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let shard_count = n.clamp(2, MAX_SHARDS);
        let shards = (0..shard_count)
            .map(|s| {
                let source = (crate::config::MAX_WORKERS + 1 + s) as u64;
                CachePadded(SpinLock::new(Shard {
                    heap: slab::Heap::new((slots + s) as u32),
                    ids: IdClock::new(source),
                }))
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let max_tasks = config.max_tasks;
        #[cfg(feature = "recorder")]
        let recorder = crate::recorder::Recorder::new(n, config.timeline_capacity);
        let started_nanos = platform.now_nanos();
        Shared {
            platform,
            idle: Idle::new(n),
            config,
            workers,
            injectors: core::array::from_fn(|_| Injector::new()),
            inbox: Inbox::new(),
            lifecycle: Lifecycle::new(),
            active: AtomicUsize::new(0),
            shards,
            large: LargeList::new(),
            remote: CachePadded(Counters::default()),
            pool: PagePool::with_source(spawn::chunk_source::<P>()),
            room: max_tasks.map(Room::new),
            started_nanos,
            timers: crate::timer::Timers::new(n),
            #[cfg(feature = "recorder")]
            recorder,
        }
    }

    #[inline]
    pub(crate) fn platform(&self) -> &P {
        &self.platform
    }

    #[inline]
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The number of workers (not counting High responders).
    #[inline]
    pub(crate) fn worker_count(&self) -> usize {
        self.config.worker_count
    }

    /// Whether slot `index` is a High responder's, not a worker's.
    #[inline]
    pub(crate) fn is_responder(&self, index: usize) -> bool {
        index >= self.config.worker_count
    }

    /// The timers, and the sleeper role.
    #[inline]
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.lifecycle.is_closed()
    }

    /// The worker the calling thread runs as, for this scheduler.
    #[inline]
    pub(crate) fn current_worker(&self) -> Option<usize> {
        self.platform.current_worker()
    }

    /// The state of the worker whose owner proof `o` is.
    #[inline]
    pub(crate) fn worker_of(&self, o: &Owner<'_>) -> &Worker {
        &self.workers[o.index()]
    }

    /// The owner proof of the worker the calling thread runs as, for a
    /// re-entrant entry point (a spawn, a wake or a budget check from
    /// inside a poll; see `owner.rs`).
    #[inline]
    pub(crate) fn current_owner(&self) -> Option<Owner<'_>> {
        let w = self.current_worker()?;
        // SAFETY: `Platform` is an unsafe trait whose `current_worker`
        // answers `Some(w)` only on the thread running worker `w`.
        Some(unsafe { self.workers[w].owner(w) })
    }

    /// Frees a task's slot: locally on its owner worker, else remotely.
    ///
    /// # Safety
    ///
    /// `task` has no references left, its stage and trailer are dropped, and
    /// its scheduler is a `Shared<P>`. This function may drop the last
    /// reference to that `Shared`, so it takes no `&self`.
    pub(crate) unsafe fn free_slot(task: NonNull<Header>) {
        // SAFETY: the slot and its page are alive until freed below.
        let page = unsafe { Header::page(task) };
        let slot = task.cast::<u8>();
        // SAFETY: the page outlives its slots.
        let (owner, sched) = unsafe { (page.as_ref().owner(), page.as_ref().scheduler()) };
        let sched = sched.cast::<Shared<P>>();
        if owner == LARGE_OWNER {
            // SAFETY: the page holds a reference to the scheduler until the
            // slot is freed, so the borrow is valid here.
            let shared = unsafe { &*sched };
            if shared.current_worker().is_none() && !shared.lifecycle.is_finished() {
                // SAFETY: forwarded contract.
                unsafe { Shared::free_later(sched, task) };
                return;
            }
            // SAFETY: as above.
            unsafe { (*sched).large.unlink(page) };
            // SAFETY: unlinked and unused; no `&Shared` is live.
            unsafe { slab::release_page(page) };
            return;
        }
        // SAFETY: as above, the page keeps the scheduler alive.
        let local = unsafe { (*sched).current_owner() }.filter(|o| o.index() as u32 == owner);
        match local {
            // SAFETY: this thread is the page's owner worker (the proof),
            // which holds its own reference to the scheduler; a free runs
            // outside allocation, so no heap borrow is live.
            Some(mut o) => unsafe { o.heap().free_local(page, slot) },
            // SAFETY: not the owner; the slot is unused.
            None => unsafe { slab::free_remote(page, slot) },
        }
    }

    /// Leaves a task with no references for a worker to free: a large
    /// task, whose free takes the large-page list's lock and returns
    /// memory to the allocator. A context outside the
    /// pool may be an interrupt handler that interrupted the holder of
    /// either, so it never does that itself (see `inbox.rs`). Before
    /// shutdown has finished a worker frees it at its next scheduling
    /// point (or before it parks); after, this call drains the inbox.
    ///
    /// # Safety
    ///
    /// As [`free_slot`](Shared::free_slot); the caller is not a worker.
    #[cold]
    unsafe fn free_later(sched: *const Shared<P>, task: NonNull<Header>) {
        // The task's page keeps the scheduler alive only until a worker
        // frees the task, which may be as soon as it is pushed: hold a
        // reference of our own across the push and the phase check.
        // SAFETY: the page holds a reference, so the count is not zero.
        unsafe { Arc::increment_strong_count(sched) };
        {
            // SAFETY: the reference just taken.
            let shared = unsafe { &*sched };
            // SAFETY: the task stays allocated until a worker (or a drain)
            // takes it from the inbox and frees it.
            let pushed = unsafe { shared.inbox.push(task) };
            debug_assert_eq!(
                pushed,
                Pushed::Linked,
                "a task with no references was in the inbox"
            );
            // Push, fence, read the phase; the finisher stores Finished,
            // then drains (see `lifecycle.rs`).
            fence(Ordering::SeqCst);
            if shared.lifecycle.is_finished() {
                shared.drain_queues();
            }
        }
        // SAFETY: releases the reference taken above; no borrow is live.
        unsafe { Arc::decrement_strong_count(sched) };
    }

    /// Tasks submitted and not finished. Finished counts are read before
    /// submitted ones: both only grow and a task is counted submitted before
    /// it can finish, so the result is never below the true count at the
    /// moment the finished counts were read.
    pub(crate) fn live_tasks(&self) -> usize {
        let finished = self
            .workers
            .iter()
            .map(|w| w.counters.finished())
            .fold(self.remote.finished(), usize::wrapping_add);
        let submitted = self
            .workers
            .iter()
            .map(|w| w.counters.submitted())
            .fold(self.remote.submitted(), usize::wrapping_add);
        submitted.wrapping_sub(finished)
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let live = self.live_tasks();
        let mut m = Metrics {
            workers: self.worker_count(),
            parked_workers: self.idle.num_parked(),
            searching_workers: self.idle.num_searching(),
            live,
            slab_bytes: self.pool.bytes(),
            ..Metrics::default()
        };
        for w in self.workers.iter() {
            m.add_counters(&w.counters);
        }
        m.add_counters(&self.remote);
        let latency = merged_latency(self.workers.iter().map(|w| &w.counters));
        let all_samples: usize = self
            .workers
            .iter()
            .map(|w| w.counters.depth_samples.get())
            .sum();
        for p in Priority::ALL {
            let t = &mut m.tiers[p.index()];
            t.queued = self.injectors[p.index()].len();
            if p.has_ring() {
                t.queued += self.workers.iter().map(|w| w.ring(p).len()).sum::<usize>();
            }
            t.latency = latency[p.index()];
            // Each worker's own ring on average, plus the injector on
            // average over every worker's samples.
            let mut avg = 0.0;
            let mut injector_sum = 0;
            for w in self.workers.iter() {
                let c = &w.counters.tiers[p.index()];
                let n = w.counters.depth_samples.get();
                if n > 0 {
                    avg += c.ring_depth_sum.get() as f64 / n as f64;
                }
                injector_sum += c.injector_depth_sum.get();
            }
            if all_samples > 0 {
                avg += injector_sum as f64 / all_samples as f64;
            }
            t.queued_avg = avg;
        }
        let elapsed = self
            .platform
            .now_nanos()
            .saturating_sub(self.started_nanos)
            .max(1);
        m.worker_busy = self.workers[..self.worker_count()]
            .iter()
            .map(|w| 1.0 - (w.counters.parked_nanos.get() as f64 / elapsed as f64).min(1.0))
            .collect();
        m
    }

    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        let task = self.current_owner()?.current()?;
        let header = task.header();
        let now = self.platform.now_nanos();
        let s = task.state().load();
        let name = if s.is_named() {
            // SAFETY: this worker polls the task, so it holds RUNNING.
            unsafe { task.name() }
        } else {
            None
        };
        Some(TaskInfo {
            id: header.id,
            priority: s.priority(),
            created_nanos: header.id.created_nanos(),
            age: Duration::from_nanos(now.saturating_sub(header.id.created_nanos())),
            name,
        })
    }
}

impl<P: Platform> Shared<P> {
    /// Moves the task polled on this thread to `priority` from its next
    /// wake (the same transition as `JoinHandle::set_priority` on a running
    /// task). False off a worker, outside a poll, or with no change.
    pub(crate) fn set_current_priority(&self, priority: crate::Priority) -> bool {
        match self.current_owner().and_then(|o| o.current()) {
            Some(task) => crate::task::join::reprioritize(task, priority, false),
            None => false,
        }
    }
}

impl<P: Platform> Drop for Shared<P> {
    fn drop(&mut self) {
        // Every task holds its page, and every page holds this scheduler:
        // no task and no entry can be left when this runs.
        debug_assert!(self.injectors.iter().all(|i| i.is_empty()));
        debug_assert!(self.inbox.is_empty());
    }
}
