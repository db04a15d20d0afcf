//! A stand-in host for the task code alone: the task unit tests and the
//! loom models run the real `RawTask`, waker and `JoinHandle` code against
//! it, with no scheduler around them.
//!
//! It keeps one queue of entries and runs them the way a worker does
//! (claim, poll with the task's own waker, then what the state word asks),
//! on whichever thread calls [`ModelHost::run_one`]. Tasks live in the
//! global allocator, each behind a small prefix that points to its host
//! (that is how `Schedule::of` finds it) and holds a loom-checked `alive`
//! flag: every hook reads it and `free` clears it, so loom reports a hook
//! that is not ordered before the task's last reference went away.
//!
//! Freed tasks are kept until the host drops, with the state word they had
//! when freed; a task whose state word changed after its free fails the
//! host's drop (a reference taken or dropped after the last one).

use super::harness::{NewTask, cell_layout};
use super::header::{Header, PollOutcome};
use super::info::TaskId;
use super::join::JoinHandle;
use super::raw::{Entry, RawTask};
use super::schedule::Schedule;
use super::state::{AfterPoll, Claim, Snapshot};
use super::waker::waker_ref;
use crate::Priority;
use crate::platform::PanicPayload;
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use alloc::alloc::{Layout, alloc, dealloc};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::ptr::{self, NonNull};
use core::task::{Context, Waker};

#[cfg(echo_loom)]
use loom::sync::Mutex;
#[cfg(echo_loom)]
use loom::thread_local;
#[cfg(not(echo_loom))]
use std::sync::Mutex;
#[cfg(not(echo_loom))]
use std::thread_local;

/// The cooperative budget a poll starts with, unless set otherwise.
const DEFAULT_BUDGET: u32 = 128;

/// What the calling thread is polling, for the hooks that ask.
#[derive(Clone, Copy)]
struct Polling {
    host: *const ModelHost,
    task: RawTask,
    self_woken: bool,
    budget: u32,
}

#[cfg(not(echo_loom))]
thread_local! {
    static POLLING: Cell<Option<Polling>> = const { Cell::new(None) };
}
// Loom's macro takes no `const` block; its thread locals are per loom
// thread.
#[cfg(echo_loom)]
thread_local! {
    static POLLING: Cell<Option<Polling>> = Cell::new(None);
}

/// Written just before each task cell.
struct Prefix {
    host: *const ModelHost,
    /// Cleared by `free`; read by every hook.
    alive: UnsafeCell<bool>,
    /// The whole allocation, and where the cell starts in it.
    layout: Layout,
    cell_offset: usize,
}

/// A freed task, kept until the host drops.
struct Freed {
    task: NonNull<Header>,
    /// The state word at the free: it must not change afterwards.
    state: Snapshot,
}

/// A task that [`ModelHost::claim_next`] claimed from the queue.
#[derive(Debug)]
pub struct Claimed {
    task: RawTask,
    claim: Claim,
}

impl Claimed {
    /// What the claim gave.
    pub fn claim(&self) -> Claim {
        self.claim
    }
}

/// A host that runs tasks with no scheduler: see the module docs.
///
/// Counters (`polls`, `frees`, ...) count over every task of this host.
pub struct ModelHost {
    queue: Mutex<VecDeque<(Entry, Priority)>>,
    freed: Mutex<Vec<Freed>>,
    budget: u32,
    next_id: AtomicCount,
    spawned: AtomicCount,
    polls: AtomicCount,
    frees: AtomicCount,
    orphans: AtomicCount,
    self_wakes: AtomicCount,
    lost_payloads: AtomicCount,
    /// A relaxed read-modify-write of this loom atomic at every hook gives
    /// loom a scheduling point there (its reduction only remembers an
    /// atomic's last access, so a thread's own load can hide another
    /// thread's earlier one). It orders nothing, so it hides no missing
    /// synchronization.
    points: AtomicUsize,
}

/// A counter that only the test reads back. Not a loom atomic: counting is
/// no part of the protocol, and loom would explore its orders for nothing.
#[derive(Default)]
struct AtomicCount(core::sync::atomic::AtomicUsize);

impl AtomicCount {
    fn inc(&self) -> usize {
        self.0.fetch_add(1, core::sync::atomic::Ordering::SeqCst)
    }

    fn get(&self) -> usize {
        self.0.load(core::sync::atomic::Ordering::SeqCst)
    }
}

// SAFETY: the queue and the freed list are behind locks; the raw pointers
// in `Freed` are only dereferenced by the host's drop, which is exclusive.
unsafe impl Send for ModelHost {}
// SAFETY: as above; every other field is atomic.
unsafe impl Sync for ModelHost {}

impl Default for ModelHost {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelHost {
    /// A host with an empty queue and the default poll budget.
    pub fn new() -> ModelHost {
        ModelHost::with_budget(DEFAULT_BUDGET)
    }

    /// A host whose polls start with `budget` units of cooperative budget.
    pub fn with_budget(budget: u32) -> ModelHost {
        ModelHost {
            queue: Mutex::new(VecDeque::new()),
            freed: Mutex::new(Vec::new()),
            budget,
            next_id: AtomicCount::default(),
            spawned: AtomicCount::default(),
            polls: AtomicCount::default(),
            frees: AtomicCount::default(),
            orphans: AtomicCount::default(),
            self_wakes: AtomicCount::default(),
            lost_payloads: AtomicCount::default(),
            points: AtomicUsize::new(0),
        }
    }

    /// Makes a task for `future`, queued at `priority`, as a spawn does:
    /// three references (the entry, the handle and the registry's, which
    /// completion drops).
    pub fn spawn<F>(&self, future: F, priority: Priority) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (size, align) = cell_layout::<F>();
        let align = align.max(core::mem::align_of::<Prefix>());
        // The prefix ends where the cell starts.
        let cell_offset = core::mem::size_of::<Prefix>().next_multiple_of(align);
        let layout = Layout::from_size_align(cell_offset + size, align).expect("task layout");
        // SAFETY: the layout has a non-zero size (it holds the prefix).
        let base = NonNull::new(unsafe { alloc(layout) }).expect("out of memory");
        // SAFETY: `cell_offset` is inside the allocation, and the prefix
        // fits before it, aligned: the cell's offset is a multiple of the
        // prefix's alignment, and so is the prefix's size.
        let task = unsafe {
            let cell = base.add(cell_offset);
            cell.sub(core::mem::size_of::<Prefix>())
                .cast::<Prefix>()
                .write(Prefix {
                    host: self,
                    alive: UnsafeCell::new(true),
                    layout,
                    cell_offset,
                });
            let id = TaskId::from_u64(self.next_id.inc() as u64 + 1);
            let new = NewTask {
                priority,
                id,
                large: false,
                named: false,
            };
            RawTask::write_new::<F, ModelHost>(cell, future, new)
        };
        self.spawned.inc();
        // SAFETY: a new task's queue reference goes to its first entry.
        self.push(unsafe { Entry::from_raw(task) }, priority);
        JoinHandle::new(task)
    }

    /// A waker for the task of `handle`, as a poll would hand out (it holds
    /// a reference). Panics if the handle has produced its result.
    pub fn waker<T>(&self, handle: &JoinHandle<T>) -> Waker {
        let task = handle.raw().expect("the handle has no task");
        (*waker_ref(task)).clone()
    }

    /// Runs the next queued entry, as a worker does. False if the queue was
    /// empty.
    pub fn run_one(&self) -> bool {
        match self.claim_next() {
            Some(claimed) => {
                self.run_claimed(claimed);
                true
            }
            None => false,
        }
    }

    /// Runs entries until the queue is empty.
    pub fn run_until_empty(&self) {
        while self.run_one() {}
    }

    /// Takes the next entry and claims it (the first half of
    /// [`run_one`](ModelHost::run_one)).
    pub fn claim_next(&self) -> Option<Claimed> {
        let (entry, tier) = self.queue.lock().unwrap().pop_front()?;
        self.point();
        let task = entry.into_raw();
        let claim = task.state().claim(tier);
        Some(Claimed { task, claim })
    }

    /// Does what a claim asks: frees a stale entry's task if it was the
    /// last reference, cancels, or polls.
    pub fn run_claimed(&self, claimed: Claimed) {
        let task = claimed.task;
        match claimed.claim {
            Claim::Stale { last } => {
                if last {
                    // SAFETY: the last reference; a stale entry outlives
                    // only a complete task.
                    unsafe { task.dealloc() };
                }
            }
            // SAFETY: the claim gave this thread RUNNING.
            Claim::Cancel | Claim::Orphaned => unsafe { task.cancel(self) },
            Claim::Run => self.poll(task),
        }
    }

    /// The shutdown walk's step for one task: cancels it unless it is
    /// complete or a worker owns it. True if it cancelled.
    pub fn cancel_for_shutdown<T>(&self, handle: &JoinHandle<T>) -> bool {
        let task = handle.raw().expect("the handle has no task");
        if !task.state().claim_for_shutdown() {
            return false;
        }
        // SAFETY: the claim gave this thread RUNNING.
        unsafe { task.cancel(self) };
        true
    }

    /// A scheduling point for loom, for a model to put before each thing
    /// it does to a task (see the `points` field).
    pub fn point(&self) {
        self.points.fetch_add(1, Ordering::Relaxed);
    }

    /// Entries in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().unwrap().len()
    }

    /// The tiers of the queued entries, oldest first.
    pub fn queued_priorities(&self) -> Vec<Priority> {
        self.queue.lock().unwrap().iter().map(|&(_, p)| p).collect()
    }

    /// Polls run.
    pub fn polls(&self) -> usize {
        self.polls.get()
    }

    /// Tasks freed.
    pub fn frees(&self) -> usize {
        self.frees.get()
    }

    /// Tasks made and not freed.
    pub fn live(&self) -> usize {
        self.spawned.get() - self.frees.get()
    }

    /// Orphans queued for cancellation.
    pub fn orphans(&self) -> usize {
        self.orphans.get()
    }

    /// Wakes a task gave itself during its poll, kept by the host rather
    /// than in the state word.
    pub fn self_wakes(&self) -> usize {
        self.self_wakes.get()
    }

    /// Panic payloads leaked because they kept panicking when dropped.
    pub fn lost_payloads(&self) -> usize {
        self.lost_payloads.get()
    }

    fn push(&self, entry: Entry, priority: Priority) {
        self.queue.lock().unwrap().push_back((entry, priority));
    }

    /// Polls a task this thread holds RUNNING for, then does what the
    /// state word asks, as `worker.rs` does.
    fn poll(&self, task: RawTask) {
        self.point();
        let outer = POLLING.with(|p| {
            p.replace(Some(Polling {
                host: self,
                task,
                self_woken: false,
                budget: self.budget,
            }))
        });
        let waker = waker_ref(task);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: RUNNING is ours, and this host is the task's.
        let outcome = unsafe { task.poll((self as *const Self).cast(), &mut cx) };
        let polling = POLLING.with(|p| p.replace(outer)).expect("set above");
        self.polls.inc();
        match outcome {
            PollOutcome::Pending => match task.state().after_poll_woken(polling.self_woken) {
                AfterPoll::Idle => {}
                // SAFETY: the poller's reference becomes the entry's.
                AfterPoll::Reschedule(p) => self.push(unsafe { Entry::from_raw(task) }, p),
                // SAFETY: still RUNNING.
                AfterPoll::Cancel | AfterPoll::Orphaned => unsafe { task.cancel(self) },
            },
            // SAFETY: RUNNING, and the output is stored.
            PollOutcome::Ready | PollOutcome::Panicked => unsafe { task.complete(self, true) },
        }
    }

    /// What the calling thread polls for this host, if anything.
    fn polling(&self) -> Option<Polling> {
        POLLING.with(Cell::get).filter(|p| ptr::eq(p.host, self))
    }

    /// The prefix of the task at `task`.
    fn prefix<'a>(task: NonNull<Header>) -> &'a Prefix {
        // SAFETY: every task of this host is written right after its
        // prefix, which lives as long as the allocation (until the host
        // drops).
        unsafe {
            &*task
                .as_ptr()
                .cast::<u8>()
                .sub(core::mem::size_of::<Prefix>())
                .cast::<Prefix>()
        }
    }
}

// SAFETY: `of` reads the host from the prefix `spawn` wrote before the
// task (the host outlives its tasks: the test keeps it until they are
// freed, and its drop checks that); `free` only marks the task freed, and
// the host gives the memory back when it drops.
unsafe impl Schedule for ModelHost {
    unsafe fn of<'a>(task: NonNull<Header>) -> &'a Self {
        let prefix = Self::prefix(task);
        // SAFETY: the host outlives its tasks (see above).
        let host = unsafe { &*prefix.host };
        host.point();
        // SAFETY: a shared read of a loom-checked cell: loom reports it if
        // it is not ordered before `free`'s write.
        prefix
            .alive
            .with(|a| assert!(unsafe { *a }, "a hook ran after the task was freed"));
        host
    }

    unsafe fn schedule(task: RawTask, priority: Priority, _held: bool) {
        // SAFETY: the entry's reference keeps the task alive.
        let host = unsafe { Self::of(task.as_ptr()) };
        // SAFETY: the caller hands its reference to the entry.
        host.push(unsafe { Entry::from_raw(task) }, priority);
    }

    unsafe fn schedule_orphan(task: RawTask, priority: Priority) {
        // SAFETY: as above.
        let host = unsafe { Self::of(task.as_ptr()) };
        host.orphans.inc();
        // SAFETY: as above.
        host.push(unsafe { Entry::from_raw(task) }, priority);
    }

    unsafe fn free(task: NonNull<Header>) {
        let prefix = Self::prefix(task);
        // SAFETY: the host outlives its tasks.
        let host = unsafe { &*prefix.host };
        prefix.alive.with_mut(|a| {
            // SAFETY: the last reference is exclusive; loom checks it.
            let a = unsafe { &mut *a };
            assert!(*a, "task freed twice");
            *a = false;
        });
        // SAFETY: the header stays readable until the host drops.
        let s = unsafe { task.as_ref() }.state.load();
        assert!(s.is_complete(), "freed a task that is not complete: {s:?}");
        assert_eq!(s.ref_count(), 0, "freed with references left: {s:?}");
        host.frees.inc();
        host.freed.lock().unwrap().push(Freed { task, state: s });
    }

    fn current_priority(&self) -> Option<Priority> {
        let polling = self.polling()?;
        Some(polling.task.state().load().priority())
    }

    fn self_wake(&self, task: RawTask) -> bool {
        match self.polling() {
            Some(mut p) if p.task == task => {
                p.self_woken = true;
                POLLING.with(|c| c.set(Some(p)));
                self.self_wakes.inc();
                true
            }
            _ => false,
        }
    }

    fn spend_budget(&self) -> bool {
        let Some(mut p) = self.polling() else {
            return true;
        };
        if p.budget == 0 {
            return false;
        }
        p.budget -= 1;
        POLLING.with(|c| c.set(Some(p)));
        true
    }

    fn payload_lost(&self) {
        self.lost_payloads.inc();
    }

    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    }
}

impl Drop for ModelHost {
    fn drop(&mut self) {
        let unwinding = std::thread::panicking();
        let freed = core::mem::take(&mut *self.freed.lock().unwrap());
        for Freed { task, state } in freed {
            // SAFETY: the header and the prefix stay readable until here.
            let now = unsafe { task.as_ref() }.state.load();
            if !unwinding {
                assert_eq!(now, state, "a freed task's state word changed");
            }
            let prefix = Self::prefix(task);
            let (layout, offset) = (prefix.layout, prefix.cell_offset);
            // SAFETY: the task was freed and nothing else points into its
            // allocation; the prefix is dropped once, then the memory goes.
            unsafe {
                let base = task.cast::<u8>().sub(offset);
                ptr::drop_in_place(ptr::from_ref(prefix).cast_mut());
                dealloc(base.as_ptr(), layout);
            }
        }
    }
}
