//! Submission: making tasks on a worker (its own heap, no atomics) or from
//! outside the pool (a locked shard), alone or in batches, under the bound
//! on live tasks.
//!
//! A submission is refused, with its future handed back, after shutdown
//! (`ShutDown`), at the bound from outside the pool (`Full`), or when the
//! slab has no memory for the task (`NoMemory`: the platform gave no chunk,
//! or the global allocator no large page). A refusal leaves nothing behind:
//! the room it was admitted to is given back, no name is recorded, no
//! counter moves.

use crate::Priority;
use crate::config::{Refusal, SubmitError};
use crate::platform::Platform;
use crate::room::Room;
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::runtime::route::Wake;
use crate::slab::{self, ChunkSource, Heap, KeepAlive, class_for};
use crate::sync::Arc;
use crate::task::harness::{NewTask, cell_layout};
use crate::task::info::IdClock;
use crate::task::named::Named;
use crate::task::raw::{Entry, RawTask};
use crate::task::{JoinHandle, TaskId, TaskName};
use alloc::alloc::Layout;
use alloc::vec::Vec;
use core::future::Future;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// Shards serving submissions from outside the pool.
pub(crate) const MAX_SHARDS: usize = 16;

/// Options for one submission.
///
/// ```
/// use echo_sched_core::{Priority, TaskOptions};
/// let opts = TaskOptions::new(Priority::Low).name("indexer");
/// assert_eq!(opts.priority, Priority::Low);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskOptions {
    /// The tier to run at.
    pub priority: Priority,
    /// A name, visible in [`TaskInfo`](crate::TaskInfo).
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
pub(crate) struct Shard {
    pub(crate) heap: slab::Heap,
    pub(crate) ids: IdClock,
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

unsafe fn chunk_alloc<P: Platform>(ctx: *const (), layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: the pool's context is the `Shared<P>` that owns it (the
    // `KeepAlive` pointer of its pages), alive while the pool is used.
    unsafe { (*ctx.cast::<Shared<P>>()).platform.alloc_chunk(layout) }
}

unsafe fn chunk_free<P: Platform>(ctx: *const (), chunk: NonNull<u8>, layout: Layout) {
    // SAFETY: as above; the pool gives back only chunks that this
    // platform's `alloc_chunk` gave, with their layout, once unused.
    unsafe {
        (*ctx.cast::<Shared<P>>())
            .platform
            .free_chunk(chunk, layout)
    }
}

/// The slab pool's chunk source for a scheduler on `P`: the platform's
/// `alloc_chunk` and `free_chunk`.
pub(crate) fn chunk_source<P: Platform>() -> ChunkSource {
    ChunkSource {
        alloc: chunk_alloc::<P>,
        free: chunk_free::<P>,
    }
}

impl<P: Platform> Shared<P> {
    fn keep_alive(this: &Arc<Self>) -> KeepAlive {
        KeepAlive {
            ptr: Arc::as_ptr(this).cast(),
            acquire: keep_acquire::<P>,
            release: keep_release::<P>,
        }
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
        if this.lifecycle.is_closed() {
            return Err(SubmitError::new(future, Refusal::ShutDown));
        }
        match this.current_owner() {
            Some(mut o) => {
                // Inside the pool: always admitted (see `room.rs`).
                if let Some(room) = &this.room {
                    room.admit();
                }
                Self::spawn_local(this, &mut o, future, opts, Wake::Now).map_err(|future| {
                    this.task_finished();
                    SubmitError::new(future, Refusal::NoMemory)
                })
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

    /// Makes and queues a task on the owner's worker; a batch passes
    /// `Wake::Batch` and wakes once at its end. Hands the future back if
    /// the slab has no memory for it (the caller gives back its room).
    fn spawn_local<F>(
        this: &Arc<Self>,
        o: &mut Owner<'_>,
        future: F,
        opts: TaskOptions,
        wake: Wake,
    ) -> Result<JoinHandle<F::Output>, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let priority = opts.priority;
        let raw = Self::make_local(this, o, future, opts)?;
        #[cfg(feature = "recorder")]
        this.record_spawn(o, raw.id(), priority);
        // SAFETY: a new task's queue reference goes to its first entry.
        this.route(unsafe { Entry::from_raw(raw) }, priority, Some(o), wake);
        Ok(JoinHandle::new(raw))
    }

    /// Allocates, writes and counts a task on the owner's worker (making
    /// a task calls no user code, so the heap borrow spans none).
    fn make_local<F>(
        this: &Arc<Self>,
        o: &mut Owner<'_>,
        future: F,
        opts: TaskOptions,
    ) -> Result<RawTask, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let priority = opts.priority;
        let id = o.next_task_id(this.platform.now_nanos());
        let raw = Self::make_task(this, &mut o.heap(), id, future, opts)?;
        o.counters().tiers[priority.index()].submitted.inc();
        Ok(raw)
    }

    /// Writes a task into a slot of `heap`'s class for its future (or a
    /// large page of its own), its name with the future if it has one
    /// (`task/named.rs`); or hands the future back if there is no memory
    /// for the slot.
    fn make_task<F>(
        this: &Arc<Self>,
        heap: &mut Heap,
        id: TaskId,
        future: F,
        opts: TaskOptions,
    ) -> Result<RawTask, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (priority, named) = (opts.priority, opts.name.is_some());
        let new = |large| NewTask {
            priority,
            id,
            large,
            named,
        };
        match opts.name {
            None => Self::write_task(this, heap, future, new, RawTask::write_new::<F, Shared<P>>),
            Some(name) => Self::write_task(
                this,
                heap,
                Named { name, future },
                new,
                RawTask::write_new_named::<F, Shared<P>>,
            )
            .map_err(Named::into_future),
        }
    }

    /// Allocates a slot for `Cell<G>` and writes the task there with
    /// `write`, or hands the future back if there is no memory.
    fn write_task<G>(
        this: &Arc<Self>,
        heap: &mut Heap,
        future: G,
        new: impl FnOnce(bool) -> NewTask,
        write: unsafe fn(NonNull<u8>, G, NewTask) -> RawTask,
    ) -> Result<RawTask, G>
    where
        G: Future + Send + 'static,
        G::Output: Send + 'static,
    {
        let class = ClassOf::<G>::CLASS.filter(|_| this.config.pooled_slab);
        let keep = Self::keep_alive(this);
        let slot = match class {
            Some(class) => heap.alloc(class, &keep, &this.pool),
            None => this
                .large
                .alloc(ClassOf::<G>::SIZE, ClassOf::<G>::ALIGN, &keep),
        };
        let Some(slot) = slot else {
            return Err(future);
        };
        // SAFETY: the slot fits `Cell<G>` (class chosen from its layout) and
        // belongs to this scheduler's slab, small or large as `new` says;
        // `write` is `write_new` or `write_new_named` for `G`.
        Ok(unsafe { write(slot.ptr, future, new(class.is_none())) })
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
            if this.lifecycle.is_closed() || shard.heap.is_detached() {
                return Err(SubmitError::new(future, Refusal::ShutDown));
            }
            Self::make_remote(this, &mut shard, future, opts)
                .map_err(|future| SubmitError::new(future, Refusal::NoMemory))?
        };
        this.remote.tiers[priority.index()].submitted.add_shared(1);
        // SAFETY: a new task's queue reference goes to its first entry.
        this.route(unsafe { Entry::from_raw(raw) }, priority, None, Wake::Now);
        Ok(JoinHandle::new(raw))
    }

    /// Allocates and writes a task in a shard (whose lock the caller holds,
    /// having checked `closed` under it), or hands the future back.
    fn make_remote<F>(
        this: &Arc<Self>,
        shard: &mut Shard,
        future: F,
        opts: TaskOptions,
    ) -> Result<RawTask, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = shard.ids.next(this.platform.now_nanos());
        Self::make_task(this, &mut shard.heap, id, future, opts)
    }

    /// Submits many tasks with one wake-up. Returns the handles of the tasks
    /// admitted, in order, and the futures that were not (the rest of the
    /// list, from the first that met shutdown, did not fit under the bound,
    /// or found no memory).
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
        if this.lifecycle.is_closed() {
            return (handles, futures);
        }
        let mut rest = futures.into_iter();
        if let Some(mut o) = this.current_owner() {
            let mut refused = None;
            for future in rest.by_ref() {
                if let Some(room) = &this.room {
                    room.admit();
                }
                let opts = TaskOptions::new(priority);
                match Self::spawn_local(this, &mut o, future, opts, Wake::Batch) {
                    Ok(handle) => handles.push(handle),
                    Err(future) => {
                        this.task_finished();
                        refused = Some(future);
                        break;
                    }
                }
            }
            this.wake_for_batch();
            return (handles, refused.into_iter().chain(rest).collect());
        }
        let mut made = Vec::with_capacity(handles.capacity());
        {
            let mut shard = this.lock_shard();
            if this.lifecycle.is_closed() || shard.heap.is_detached() {
                return (handles, rest.collect());
            }
            while let Some(future) = rest.next() {
                if let Some(room) = &this.room {
                    if !room.try_admit() {
                        rest = put_back(future, rest);
                        break;
                    }
                }
                let opts = TaskOptions::new(priority);
                match Self::make_remote(this, &mut shard, future, opts) {
                    Ok(raw) => made.push(raw),
                    Err(future) => {
                        this.task_finished();
                        rest = put_back(future, rest);
                        break;
                    }
                }
            }
        }
        this.remote.tiers[priority.index()]
            .submitted
            .add_shared(made.len());
        for &raw in &made {
            // SAFETY: a new task's queue reference goes to its first entry.
            this.route(unsafe { Entry::from_raw(raw) }, priority, None, Wake::Batch);
            handles.push(JoinHandle::new(raw));
        }
        this.wake_for_batch();
        (handles, rest.collect())
    }

    /// A shard for this thread: hashed from a stack address (stable per
    /// thread, different between threads), taking any free one first.
    /// Under loom every thread starts at shard 0: a model must run the same
    /// way each time it replays a schedule, and loom's thread stacks move
    /// between executions.
    fn lock_shard(&self) -> crate::spin::SpinGuard<'_, Shard> {
        let marker = 0u8;
        let addr = core::ptr::addr_of!(marker).addr() as u64;
        let hash = (addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let n = self.shards.len();
        let start = if cfg!(echo_loom) {
            0
        } else {
            hash as usize % n
        };
        for i in 0..n {
            if let Some(guard) = self.shards[(start + i) % n].try_lock() {
                return guard;
            }
        }
        self.shards[start].lock()
    }
}

/// `first`, then the rest of `rest`, as one list's iterator.
fn put_back<F>(first: F, rest: alloc::vec::IntoIter<F>) -> alloc::vec::IntoIter<F> {
    let mut left = Vec::with_capacity(rest.len() + 1);
    left.push(first);
    left.extend(rest);
    left.into_iter()
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use crate::platform::{PanicPayload, Platform};
    use crate::test_host::TestHost;
    use crate::{Config, Priority, Scheduler, TaskOptions};
    use alloc::alloc::Layout;
    use core::future::Future;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::task::{Context, Poll, Waker};

    /// The test host, with chunk memory that runs out when told to.
    #[derive(Default)]
    struct Tight {
        host: TestHost,
        no_memory: AtomicBool,
    }

    // SAFETY: `current_worker` is the test host's, which is sound (one
    // thread drives it).
    unsafe impl Platform for Tight {
        fn park(&self, worker: usize) {
            self.host.park(worker)
        }
        fn unpark(&self, worker: usize) {
            self.host.unpark(worker)
        }
        fn now_nanos(&self) -> u64 {
            self.host.now_nanos()
        }
        fn random_seed(&self) -> u64 {
            self.host.random_seed()
        }
        fn current_worker(&self) -> Option<usize> {
            self.host.current_worker()
        }
        fn set_current_worker(&self, worker: Option<usize>) {
            self.host.set_current_worker(worker)
        }
        fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
            self.host.catch_unwind(f)
        }
        fn alloc_chunk(&self, layout: Layout) -> Option<NonNull<u8>> {
            if self.no_memory.load(Ordering::Relaxed) {
                return None;
            }
            // SAFETY: a chunk has a non-zero size.
            NonNull::new(unsafe { alloc::alloc::alloc(layout) })
        }
    }

    #[test]
    fn a_refused_named_task_is_handed_back_and_a_named_task_keeps_its_name() {
        let sched = Scheduler::new(Tight::default(), Config::new(1)).unwrap();
        sched.platform().no_memory.store(true, Ordering::Relaxed);
        let refused = sched
            .try_spawn_with(async { 1 }, TaskOptions::new(Priority::Low).name("index"))
            .unwrap_err();
        assert!(refused.is_no_memory());
        assert_eq!(sched.metrics().total().submitted, 0);

        // With memory, the task runs with its name, read from its future.
        sched.platform().no_memory.store(false, Ordering::Relaxed);
        let inner = sched.clone();
        let handle = sched
            .try_spawn_with(
                async move {
                    let me = inner.current_task().expect("polled by a worker");
                    me.name.map(|n| alloc::string::String::from(n.as_str()))
                },
                TaskOptions::new(Priority::Low).name("index"),
            )
            .unwrap();
        drop(refused.into_inner());
        sched.run_until_idle(0);
        let mut handle = core::pin::pin!(handle);
        let named = handle
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(named, Poll::Ready(Ok(Some(ref n))) if n == "index"),
            "{named:?}"
        );
        sched.run_until_idle(0);
        sched.shutdown();
        assert_eq!(sched.shared.pool.chunks(), 0, "every chunk went back");
    }
}
