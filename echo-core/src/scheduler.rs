//! The scheduler: shared state, the public handle, submission, wake-up
//! scheduling and shutdown.
//!
//! Where an entry goes:
//! - High: always the High injector, which every worker checks at every
//!   scheduling point, and an idle worker is woken for it. High work is
//!   never private to a busy worker.
//! - Normal and Low, pushed on a worker of this scheduler (a spawn or a
//!   wake from a running task): that worker's ring for the tier; the ring
//!   spills half to the tier's injector when full.
//! - Normal and Low from any other thread: the tier's injector.
//!
//! Shutdown: `closed` stops new submissions; workers leave their loop after
//! their current poll; the last one out (or `shutdown` itself, if no worker
//! is running) *finishes*: it cancels every task it finds in the slab
//! (queued, or parked on a waker), sets `finished`, drains every queue, and
//! detaches the slab. A wake that pushes into an injector after `finished`
//! drains the injectors itself; push, fence, read `finished` on one side and
//! store `finished`, drain on the other means one of them sees the entry.

use crate::Priority;
use crate::config::{Config, ConfigError, Refusal, SubmitError};
use crate::idle::Idle;
use crate::inject::Injector;
use crate::metrics::{Counters, Metrics, merged_latency};
use crate::padded::CachePadded;
use crate::platform::Platform;
use crate::room::{Room, SpawnWhenRoom};
use crate::slab::{self, KeepAlive, LARGE_OWNER, LargeList, PagePool, Slot, class_for};
use crate::spin::SpinLock;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};
use crate::task::header::Header;
use crate::task::info::IdClock;
use crate::task::raw::{Entry, NewTask, RawTask, cell_layout};
use crate::task::state::Claim;
use crate::task::{JoinHandle, TaskId, TaskInfo, TaskName};
use crate::worker::Worker;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::future::Future;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::time::Duration;

/// Shards serving submissions from outside the pool.
const MAX_SHARDS: usize = 16;

/// Options for one submission.
///
/// ```
/// use echo_core::{Priority, TaskOptions};
/// let opts = TaskOptions::new(Priority::Low).name("indexer");
/// assert_eq!(opts.priority, Priority::Low);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskOptions {
    /// The tier to run at.
    pub priority: Priority,
    /// A name, visible in [`TaskInfo`].
    pub name: Option<TaskName>,
}

impl TaskOptions {
    /// Options with this priority and no name.
    pub fn new(priority: Priority) -> TaskOptions {
        TaskOptions {
            priority,
            name: None,
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<TaskName>) -> TaskOptions {
        self.name = Some(name.into());
        self
    }
}

/// The allocation shard for submissions from threads outside the pool.
struct Shard {
    heap: slab::Heap,
    ids: IdClock,
}

/// The state every worker, handle and task of one scheduler shares.
pub(crate) struct Shared<P: Platform> {
    platform: P,
    config: Config,
    pub(crate) workers: Box<[CachePadded<Worker>]>,
    pub(crate) injectors: [Injector<Entry>; 3],
    pub(crate) idle: Idle,
    closed: AtomicBool,
    finishing: AtomicBool,
    finished: AtomicBool,
    active: AtomicUsize,
    shards: Box<[CachePadded<SpinLock<Shard>>]>,
    large: LargeList,
    remote: CachePadded<Counters>,
    /// Names of the tasks that have one (NAMED), by id.
    names: SpinLock<BTreeMap<TaskId, TaskName>>,
    /// Memory for small pages.
    pool: PagePool,
    /// The bound on live tasks (`Config::max_tasks`).
    room: Option<Room>,
    /// When the scheduler was made, on the platform clock.
    started_nanos: u64,
}

/// The slab class of `Cell<F>`, computed once per future type.
struct ClassOf<F>(PhantomData<F>);

impl<F: Future> ClassOf<F> {
    const SIZE: usize = cell_layout::<F>().0;
    const ALIGN: usize = cell_layout::<F>().1;
    const CLASS: Option<usize> = class_for(Self::SIZE, Self::ALIGN);
}

unsafe fn keep_acquire<P: Platform>(ptr: *const ()) {
    // SAFETY: `ptr` came from `Arc::as_ptr` of a live `Arc<Shared<P>>`.
    unsafe { Arc::increment_strong_count(ptr.cast::<Shared<P>>()) }
}

unsafe fn keep_release<P: Platform>(ptr: *const ()) {
    // SAFETY: releases a count taken by `keep_acquire`.
    unsafe { Arc::decrement_strong_count(ptr.cast::<Shared<P>>()) }
}

impl<P: Platform> Shared<P> {
    #[inline]
    pub(crate) fn platform(&self) -> &P {
        &self.platform
    }

    #[inline]
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn keep_alive(this: &Arc<Self>) -> KeepAlive {
        KeepAlive {
            ptr: Arc::as_ptr(this).cast(),
            acquire: keep_acquire::<P>,
            release: keep_release::<P>,
        }
    }

    /// The worker the calling thread runs as, for this scheduler.
    #[inline]
    pub(crate) fn current_worker(&self) -> Option<usize> {
        self.platform.current_worker()
    }

    /// Submits a task from whichever thread calls.
    pub(crate) fn spawn<F>(
        this: &Arc<Self>,
        future: F,
        opts: TaskOptions,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if this.closed.load(Ordering::Acquire) {
            return Err(SubmitError::new(future, Refusal::ShutDown));
        }
        match this.current_worker() {
            Some(w) => {
                // Inside the pool: always admitted (see `room.rs`).
                if let Some(room) = &this.room {
                    room.admit();
                }
                Ok(Self::spawn_local(this, w, future, opts))
            }
            None => {
                if let Some(room) = &this.room {
                    if !room.try_admit() {
                        return Err(SubmitError::new(future, Refusal::Full));
                    }
                }
                Self::spawn_remote(this, future, opts).inspect_err(|_| this.task_finished())
            }
        }
    }

    /// The bound on live tasks, if one is set.
    pub(crate) fn room(&self) -> Option<&Room> {
        self.room.as_ref()
    }

    /// A task finished (completed, panicked or was cancelled): give back
    /// its room under the bound.
    #[inline]
    pub(crate) fn task_finished(&self) {
        if let Some(room) = &self.room {
            room.release();
        }
    }

    fn spawn_local<F>(
        this: &Arc<Self>,
        w: usize,
        future: F,
        opts: TaskOptions,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let priority = opts.priority;
        let raw = Self::make_local(this, w, future, opts);
        this.schedule_on_worker(w, Entry::from_raw(raw), priority);
        JoinHandle::new(raw)
    }

    /// Allocates, writes and counts a task on worker `w` (the caller's).
    fn make_local<F>(this: &Arc<Self>, w: usize, future: F, opts: TaskOptions) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let worker = &this.workers[w];
        let priority = opts.priority;
        let id = worker.next_task_id(this.platform.now_nanos());
        let class = ClassOf::<F>::CLASS.filter(|_| this.config.pooled_slab);
        let new = NewTask {
            priority,
            id,
            large: class.is_none(),
            named: opts.name.is_some(),
        };
        if let Some(name) = opts.name {
            this.names.lock().insert(id, name);
        }
        let slot = match class {
            Some(class) => {
                // SAFETY: this thread is worker `w`, the heap's owner, and no
                // other borrow of the heap is live (allocation calls no user
                // code).
                let heap = unsafe { worker.heap_mut() };
                heap.alloc(class, &Self::keep_alive(this), &this.pool)
            }
            None => this.large.alloc(
                ClassOf::<F>::SIZE,
                ClassOf::<F>::ALIGN,
                &Self::keep_alive(this),
            ),
        };
        // SAFETY: the slot fits `Cell<F>` (class chosen from its layout) and
        // belongs to this scheduler's slab, small or large as `new` says.
        let raw = unsafe { RawTask::write_new::<F, P>(slot.ptr, future, new) };
        worker.counters.tiers[priority.index()].submitted.inc();
        raw
    }

    /// As `spawn_local` for a batch: queues without waking anyone.
    fn spawn_local_quiet<F>(
        this: &Arc<Self>,
        w: usize,
        future: F,
        priority: Priority,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let raw = Self::make_local(this, w, future, TaskOptions::new(priority));
        let entry = Entry::from_raw(raw);
        if priority == Priority::High {
            this.injectors[priority.index()].push(entry);
        } else {
            // SAFETY: the caller runs as worker `w`, the ring's owner.
            unsafe {
                this.workers[w]
                    .ring(priority)
                    .push(entry, &this.injectors[priority.index()])
            };
        }
        JoinHandle::new(raw)
    }

    fn spawn_remote<F>(
        this: &Arc<Self>,
        future: F,
        opts: TaskOptions,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let priority = opts.priority;
        let raw = {
            let mut shard = this.lock_shard();
            // Re-checked under the lock: the shutdown walk holds each shard's
            // lock once `closed` is set, so a task made here is either seen
            // by the walk or refused.
            if this.closed.load(Ordering::Acquire) || shard.heap.is_detached() {
                return Err(SubmitError::new(future, Refusal::ShutDown));
            }
            Self::make_remote(this, &mut shard, future, opts)
        };
        this.remote.tiers[priority.index()].submitted.add_shared(1);
        this.push_injector(Entry::from_raw(raw), priority);
        Ok(JoinHandle::new(raw))
    }

    /// Allocates and writes a task in a shard (whose lock the caller holds,
    /// having checked `closed` under it).
    fn make_remote<F>(this: &Arc<Self>, shard: &mut Shard, future: F, opts: TaskOptions) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = shard.ids.next(this.platform.now_nanos());
        let class = ClassOf::<F>::CLASS.filter(|_| this.config.pooled_slab);
        let new = NewTask {
            priority: opts.priority,
            id,
            large: class.is_none(),
            named: opts.name.is_some(),
        };
        if let Some(name) = opts.name {
            this.names.lock().insert(id, name);
        }
        let slot: Slot = match class {
            Some(class) => shard.heap.alloc(class, &Self::keep_alive(this), &this.pool),
            None => this.large.alloc(
                ClassOf::<F>::SIZE,
                ClassOf::<F>::ALIGN,
                &Self::keep_alive(this),
            ),
        };
        // SAFETY: as in `spawn_local`.
        unsafe { RawTask::write_new::<F, P>(slot.ptr, future, new) }
    }

    /// Submits many tasks with one wake-up. Returns the handles of the tasks
    /// admitted, in order, and the futures that were not (the rest of the
    /// list, from the first that did not fit under the bound or met
    /// shutdown).
    pub(crate) fn spawn_batch<F>(
        this: &Arc<Self>,
        futures: Vec<F>,
        priority: Priority,
    ) -> (Vec<JoinHandle<F::Output>>, Vec<F>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut handles = Vec::with_capacity(futures.len());
        if this.closed.load(Ordering::Acquire) {
            return (handles, futures);
        }
        let mut rest = futures.into_iter();
        if let Some(w) = this.current_worker() {
            for future in rest.by_ref() {
                if let Some(room) = &this.room {
                    room.admit();
                }
                handles.push(Self::spawn_local_quiet(this, w, future, priority));
            }
            this.notify_one();
            return (handles, Vec::new());
        }
        let mut made = Vec::with_capacity(handles.capacity());
        {
            let mut shard = this.lock_shard();
            if this.closed.load(Ordering::Acquire) || shard.heap.is_detached() {
                return (handles, rest.collect());
            }
            while let Some(future) = rest.next() {
                if let Some(room) = &this.room {
                    if !room.try_admit() {
                        let mut left = Vec::with_capacity(rest.len() + 1);
                        left.push(future);
                        left.extend(rest);
                        rest = left.into_iter();
                        break;
                    }
                }
                made.push(Self::make_remote(
                    this,
                    &mut shard,
                    future,
                    TaskOptions::new(priority),
                ));
            }
        }
        this.remote.tiers[priority.index()]
            .submitted
            .add_shared(made.len());
        let injector = &this.injectors[priority.index()];
        for &raw in &made {
            injector.push(Entry::from_raw(raw));
            handles.push(JoinHandle::new(raw));
        }
        // One wake-up: the woken worker, finding work, wakes the next.
        this.notify_one();
        if this.finished.load(Ordering::SeqCst) {
            this.drain_injectors();
        }
        (handles, rest.collect())
    }

    /// A shard for this thread: hashed from a stack address (stable per
    /// thread, different between threads), taking any free one first.
    fn lock_shard(&self) -> crate::spin::SpinGuard<'_, Shard> {
        let marker = 0u8;
        let addr = core::ptr::addr_of!(marker) as usize as u64;
        let hash = (addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let n = self.shards.len();
        let start = hash as usize % n;
        for i in 0..n {
            if let Some(guard) = self.shards[(start + i) % n].try_lock() {
                return guard;
            }
        }
        self.shards[start].lock()
    }

    /// Queues an entry made on worker `w` (a spawn, or a reschedule).
    #[inline]
    pub(crate) fn schedule_on_worker(&self, w: usize, entry: Entry, priority: Priority) {
        if priority == Priority::High {
            self.push_injector(entry, priority);
            return;
        }
        let ring = self.workers[w].ring(priority);
        // SAFETY: the caller runs as worker `w`, the ring's owner.
        unsafe { ring.push(entry, &self.injectors[priority.index()]) };
        // A lone entry is run by this worker next; only a second one is
        // worth waking a thief for. This worker is awake and will run the
        // entry itself if nobody steals it, so waking a thief is only a
        // hint: a plain load decides whether the fenced notify is worth it.
        if ring.len() > 1 && self.idle.may_wake() {
            self.notify_one();
        }
    }

    /// Queues an entry in its tier's injector and wakes a worker for it.
    pub(crate) fn push_injector(&self, entry: Entry, priority: Priority) {
        self.injectors[priority.index()].push(entry);
        // `notify_one` fences after the push, which also orders it before
        // the `finished` read below.
        self.notify_one();
        if self.finished.load(Ordering::SeqCst) {
            self.drain_injectors();
        }
    }

    /// Queues an entry from any thread (a waker, an abort, a raise).
    pub(crate) fn schedule(&self, entry: Entry, priority: Priority) {
        match self.current_worker() {
            Some(w) => self.schedule_on_worker(w, entry, priority),
            None => self.push_injector(entry, priority),
        }
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
        self.injectors.iter().any(|i| !i.is_empty())
            || self
                .workers
                .iter()
                .any(|w| !w.ring(Priority::Normal).is_empty() || !w.ring(Priority::Low).is_empty())
    }

    /// Frees a task's slot: locally on its owner worker, else remotely;
    /// drops its name from the name table.
    ///
    /// # Safety
    ///
    /// `task` has no references left, its stage and trailer are dropped, and
    /// its scheduler is a `Shared<P>`. This function may drop the last
    /// reference to that `Shared`, so it takes no `&self`.
    pub(crate) unsafe fn free_slot(task: NonNull<Header>) {
        // SAFETY: the slot and its page are alive until freed below.
        let (page, s, id) = unsafe {
            let h = task.as_ref();
            (Header::page(task), h.state.load_relaxed(), h.id)
        };
        let slot = task.cast::<u8>();
        // SAFETY: the page outlives its slots.
        let (owner, sched) = unsafe { (page.as_ref().owner(), page.as_ref().scheduler()) };
        let sched = sched.cast::<Shared<P>>();
        if s.is_named() {
            // SAFETY: the page holds a reference to the scheduler until the
            // slot is freed, so the borrow is valid here.
            unsafe { (*sched).names.lock().remove(&id) };
        }
        if owner == LARGE_OWNER {
            // SAFETY: as above.
            unsafe { (*sched).large.unlink(page) };
            // SAFETY: unlinked and unused; no `&Shared` is live.
            unsafe { slab::release_page(page) };
            return;
        }
        // SAFETY: as above, the page keeps the scheduler alive.
        let local = unsafe { (*sched).current_worker() }.filter(|&w| w as u32 == owner);
        match local {
            // SAFETY: this thread is the owner worker, which holds its own
            // reference to the scheduler; no other heap borrow is live
            // (frees happen outside allocation).
            Some(w) => unsafe { (*sched).workers[w].heap_mut().free_local(page, slot) },
            // SAFETY: not the owner; the slot is unused.
            None => unsafe { slab::free_remote(page, slot) },
        }
    }

    /// Shuts down: refuse new work and stop the workers; finish now if no
    /// worker is running, else the last worker out finishes.
    pub(crate) fn shutdown(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            for w in 0..self.workers.len() {
                self.platform.unpark(w);
            }
            if let Some(room) = &self.room {
                // Submitters waiting for room must see the refusal.
                room.wake_all();
            }
        }
        if self.active.load(Ordering::SeqCst) == 0 {
            self.finish();
        }
    }

    /// A thread enters a worker loop.
    pub(crate) fn enter_worker(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// A thread leaves a worker loop; the last one out after shutdown
    /// finishes it.
    pub(crate) fn exit_worker(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            self.finish();
        }
    }

    /// Whether shutdown has completed (every task cancelled or finished).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Cancels every task, drains every queue and detaches the slab. Runs
    /// once, with no worker active.
    fn finish(&self) {
        if self.finishing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Frees from here on are remote: the walk must not touch a heap.
        let was = self.platform.current_worker();
        self.platform.set_current_worker(None);

        let mut live: Vec<RawTask> = Vec::new();
        let mut collect =
            |slot: NonNull<u8>| live.push(RawTask::from_header(slot.cast::<Header>()));
        for worker in self.workers.iter() {
            // SAFETY: no worker is active, so nobody else uses its heap; the
            // callback frees nothing.
            unsafe { worker.heap_mut().for_each_used(&mut collect) };
        }
        for shard in self.shards.iter() {
            let shard = shard.lock();
            // SAFETY: the lock excludes remote submitters.
            unsafe { shard.heap.for_each_used(&mut collect) };
        }
        for raw in live {
            // Collected tasks that are not complete cannot be freed (the
            // registry holds a reference until completion), and complete
            // ones keep their state word while freed.
            self.cancel_for_shutdown(raw);
        }
        let large = self.large.collect(|slot| {
            // SAFETY: a large page's slot holds a task while on the list.
            unsafe { slot.cast::<Header>().as_ref() }
                .state
                .try_ref_inc()
        });
        for slot in large {
            let raw = RawTask::from_header(slot.cast());
            self.cancel_for_shutdown(raw);
            raw.drop_ref();
        }

        self.finished.store(true, Ordering::SeqCst);
        for worker in self.workers.iter() {
            for tier in [Priority::Normal, Priority::Low] {
                // SAFETY: no worker is active: this thread may act as owner.
                while let Some(entry) = unsafe { worker.ring(tier).pop() } {
                    self.discard(entry, tier);
                }
            }
        }
        self.drain_injectors();
        for worker in self.workers.iter() {
            // SAFETY: no worker will use its heap again.
            unsafe { worker.heap_mut().detach() };
        }
        for shard in self.shards.iter() {
            // SAFETY: the lock excludes submitters, who re-check `closed`.
            unsafe { shard.lock().heap.detach() };
        }
        self.platform.set_current_worker(was);
    }

    /// Claims and cancels a task the shutdown walk found, if no one else
    /// finished it.
    fn cancel_for_shutdown(&self, raw: RawTask) {
        if raw.state().claim_for_shutdown() {
            let tier = raw.state().load().priority();
            self.remote.tiers[tier.index()].cancelled.add_shared(1);
            // SAFETY: the claim gave us RUNNING (and the running reference).
            unsafe { raw.cancel(&self.platform, self as *const Self as *const ()) };
            self.task_finished();
        }
    }

    /// Drops a queue entry after shutdown.
    fn discard(&self, entry: Entry, tier: Priority) {
        let raw = entry.into_raw();
        match raw.state().claim(tier) {
            Claim::Stale { last } => {
                if last {
                    // SAFETY: last reference of a complete task.
                    unsafe { raw.dealloc() };
                }
            }
            Claim::Run | Claim::Cancel => {
                self.remote.tiers[tier.index()].cancelled.add_shared(1);
                // SAFETY: the claim gave us RUNNING.
                unsafe { raw.cancel(&self.platform, self as *const Self as *const ()) };
                self.task_finished();
            }
        }
    }

    fn drain_injectors(&self) {
        for tier in Priority::ALL {
            while let Some(entry) = self.injectors[tier.index()].pop() {
                self.discard(entry, tier);
            }
        }
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
            workers: self.workers.len(),
            parked_workers: self.idle.num_parked(),
            searching_workers: self.idle.num_searching(),
            live,
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
            if p != Priority::High {
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
        m.worker_busy = self
            .workers
            .iter()
            .map(|w| 1.0 - (w.counters.parked_nanos.get() as f64 / elapsed as f64).min(1.0))
            .collect();
        m
    }

    /// The name of task `id`, if it has one.
    pub(crate) fn task_name(&self, id: TaskId) -> Option<TaskName> {
        self.names.lock().get(&id).cloned()
    }

    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        let w = self.current_worker()?;
        let task = self.workers[w].current()?;
        let header = task.header();
        let now = self.platform.now_nanos();
        let s = task.state().load();
        let name = if s.is_named() {
            self.task_name(header.id)
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

impl<P: Platform> Drop for Shared<P> {
    fn drop(&mut self) {
        // Every task holds its page, and every page holds this scheduler:
        // no task and no entry can be left when this runs.
        debug_assert!(self.injectors.iter().all(|i| i.is_empty()));
    }
}

/// The scheduler of the task at `ptr`.
///
/// # Safety
///
/// The caller holds a reference to the task, which keeps its page, and so
/// the scheduler, alive for `'a`.
unsafe fn shared_of<'a, P: Platform>(ptr: NonNull<Header>) -> &'a Shared<P> {
    // SAFETY: per the contract.
    unsafe { &*Header::page(ptr).as_ref().scheduler().cast::<Shared<P>>() }
}

/// Vtable hook: queue an entry for the task at `ptr`.
pub(crate) unsafe fn schedule_entry<P: Platform>(ptr: NonNull<Header>, priority: Priority) {
    // SAFETY: the entry's reference keeps the task alive.
    let shared = unsafe { shared_of::<P>(ptr) };
    shared.schedule(Entry::from_raw(RawTask::from_header(ptr)), priority);
}

/// Vtable hook: free the task at `task`.
pub(crate) unsafe fn free_task<P: Platform>(task: NonNull<Header>) {
    // SAFETY: forwarded contract.
    unsafe { Shared::<P>::free_slot(task) }
}

/// Vtable hook: the priority of the task running on this thread, if this
/// thread is a worker of the scheduler that owns `ptr`.
pub(crate) unsafe fn current_priority<P: Platform>(ptr: NonNull<Header>) -> Option<Priority> {
    // SAFETY: the caller holds a reference to the task.
    let shared = unsafe { shared_of::<P>(ptr) };
    let w = shared.current_worker()?;
    let task = shared.workers[w].current()?;
    Some(task.state().load().priority())
}

/// Vtable hook: if this thread is the worker polling the task at `ptr`,
/// record a wake with it.
pub(crate) unsafe fn self_wake<P: Platform>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller holds a reference to the task.
    let shared = unsafe { shared_of::<P>(ptr) };
    let Some(w) = shared.current_worker() else {
        return false;
    };
    let worker = &shared.workers[w];
    if worker.current() != Some(RawTask::from_header(ptr)) {
        return false;
    }
    worker.set_self_woken(true);
    true
}

/// A handle to a scheduler: submit tasks, drive workers, shut down.
///
/// The host starts one thread per worker and calls
/// [`run_worker`](Scheduler::run_worker) on each, or, single-threaded,
/// calls [`run_until_idle`](Scheduler::run_until_idle) from its own loop.
/// Cloning the handle is cheap. Call [`shutdown`](Scheduler::shutdown)
/// before the last handle goes: tasks hold the scheduler's memory until
/// shutdown cancels them.
pub struct Scheduler<P: Platform> {
    shared: Arc<Shared<P>>,
}

impl<P: Platform> Clone for Scheduler<P> {
    fn clone(&self) -> Self {
        Scheduler {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Platform> Scheduler<P> {
    /// Makes a scheduler; no worker runs until the host calls
    /// [`run_worker`](Scheduler::run_worker) or
    /// [`run_until_idle`](Scheduler::run_until_idle).
    pub fn new(platform: P, config: Config) -> Result<Scheduler<P>, ConfigError> {
        config.validate()?;
        let n = config.worker_count;
        let seed = platform.random_seed();
        let workers = (0..n)
            .map(|i| CachePadded(Worker::new(i, seed)))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let shard_count = n.clamp(2, MAX_SHARDS);
        let shards = (0..shard_count)
            .map(|s| {
                let source = (crate::config::MAX_WORKERS + 1 + s) as u64;
                CachePadded(SpinLock::new(Shard {
                    heap: slab::Heap::new((n + s) as u32),
                    ids: IdClock::new(source),
                }))
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let max_tasks = config.max_tasks;
        let started_nanos = platform.now_nanos();
        let shared = Shared {
            platform,
            idle: Idle::new(n),
            config,
            workers,
            injectors: [Injector::new(), Injector::new(), Injector::new()],
            closed: AtomicBool::new(false),
            finishing: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            shards,
            large: LargeList::new(),
            remote: CachePadded(Counters::default()),
            names: SpinLock::new(BTreeMap::new()),
            pool: PagePool::new(),
            room: max_tasks.map(Room::new),
            started_nanos,
        };
        Ok(Scheduler {
            shared: Arc::new(shared),
        })
    }

    /// The platform this scheduler runs on.
    pub fn platform(&self) -> &P {
        &self.shared.platform
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The number of workers.
    pub fn worker_count(&self) -> usize {
        self.shared.workers.len()
    }

    /// Submits `future` at `priority`. If the scheduler has shut down, the
    /// future is dropped and the handle resolves to a cancelled
    /// [`JoinError`](crate::JoinError); use
    /// [`try_spawn`](Scheduler::try_spawn) to get the future back instead.
    pub fn spawn<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_spawn(future, priority)
            .unwrap_or_else(|_refused| JoinHandle::refused())
    }

    /// A handle for a submission that was refused: it resolves to a
    /// cancelled [`JoinError`](crate::JoinError).
    pub fn spawn_refused<T>(&self) -> JoinHandle<T> {
        JoinHandle::refused()
    }

    /// Submits `future` at `priority`, or hands it back inside the error if
    /// the scheduler refuses it.
    pub fn try_spawn<F>(
        &self,
        future: F,
        priority: Priority,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, TaskOptions::new(priority))
    }

    /// Submits `future` once there is room under the bound on live tasks
    /// (`Config::max_tasks`), waiting asynchronously until there is. Without
    /// a bound, or on a worker, it submits at the first poll.
    pub fn spawn_when_room<F>(&self, future: F, options: TaskOptions) -> SpawnWhenRoom<F, P>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        SpawnWhenRoom::new(self.shared.clone(), future, options)
    }

    /// Submits many tasks at `priority` with one wake-up, and returns the
    /// handles of those admitted, in order, with the futures that were not:
    /// the rest of the list from the first that met shutdown or, outside
    /// the pool, did not fit under `Config::max_tasks`.
    pub fn spawn_batch<F>(
        &self,
        futures: Vec<F>,
        priority: Priority,
    ) -> (Vec<JoinHandle<F::Output>>, Vec<F>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn_batch(&self.shared, futures, priority)
    }

    /// Submits `future` with options (priority, name).
    pub fn try_spawn_with<F>(
        &self,
        future: F,
        options: TaskOptions,
    ) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, options)
    }

    /// Runs worker `index`'s loop on the calling thread until shutdown.
    ///
    /// # Panics
    ///
    /// If `index` is not below the worker count, or worker `index` is
    /// already running on another thread.
    pub fn run_worker(&self, index: usize) {
        self.shared.run(index, false);
    }

    /// Runs worker `index` on the calling thread until it finds no work,
    /// and returns how many entries it ran. For a host that drives the
    /// scheduler from its own loop: after this returns, a submission calls
    /// `Platform::unpark(index)`, which tells the host to call again.
    ///
    /// # Panics
    ///
    /// As [`run_worker`](Scheduler::run_worker).
    pub fn run_until_idle(&self, index: usize) -> usize {
        self.shared.run(index, true)
    }

    /// Stops the scheduler: later submissions are refused, each worker
    /// finishes its current poll and leaves its loop, and every other task
    /// is cancelled (its future dropped once, its handle sees
    /// `Cancelled`). If no worker is running, that happens before this
    /// returns; otherwise the last worker to leave does it.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Whether [`shutdown`](Scheduler::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }

    /// Whether shutdown has completed: every task was cancelled or had
    /// finished, and the queues are empty.
    pub fn is_terminated(&self) -> bool {
        self.shared.is_finished()
    }

    /// Whether the calling thread is one of this scheduler's workers.
    pub fn is_worker_thread(&self) -> bool {
        self.shared.current_worker().is_some()
    }

    /// Tasks submitted and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.shared.live_tasks()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// The task running on the calling thread, if it is a worker of this
    /// scheduler polling a task.
    pub fn current_task(&self) -> Option<TaskInfo> {
        self.shared.current_task()
    }
}

impl<P: Platform> core::fmt::Debug for Scheduler<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.worker_count())
            .field("shut_down", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}
