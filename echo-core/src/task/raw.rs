//! Type-erased task pointers, queue entries, and the generic functions
//! behind each task's vtable.

use super::header::{Cell, Header, PanicBox, PollOutcome, Stage, Trailer, Vtable};
use super::info::TaskId;
use super::join::JoinError;
use super::state::{DropRef, State};
use crate::Priority;
use crate::platform::{PanicPayload, Platform};
use crate::scheduler::Shared;
use crate::sync::UnsafeCell;
use crate::task_host;
use alloc::boxed::Box;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::task::{Context, Poll};

/// A pointer to a task. Copying it takes no reference: whoever holds one
/// must also hold (or be) a reference for as long as they use it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(NonNull<Header>);

// SAFETY: tasks are `Send` (their futures and outputs are), and all shared
// access goes through the atomic state word.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

/// A queue entry: a task pointer that owns one reference. It has no `Drop`;
/// every entry is consumed by `claim` (or dropped with `drop_ref`).
#[derive(Debug)]
pub(crate) struct Entry(RawTask);

impl Entry {
    /// Wraps a pointer whose reference the caller hands over.
    pub(crate) fn from_raw(raw: RawTask) -> Entry {
        Entry(raw)
    }

    /// The task, giving up the entry (its reference goes with the caller).
    pub(crate) fn into_raw(self) -> RawTask {
        self.0
    }
}

/// The vtable of tasks running future `F` on platform `P`.
struct VtableFor<F, P>(PhantomData<(F, P)>);

impl<F, P> VtableFor<F, P>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    P: Platform,
{
    const VTABLE: Vtable = Vtable {
        poll: poll::<F, P>,
        drop_future: drop_future::<F, P>,
        drop_output: drop_output::<F, P>,
        read_output: read_output::<F>,
        schedule: task_host::schedule_entry::<P>,
        schedule_orphan: task_host::schedule_orphan::<P>,
        dealloc: dealloc::<F, P>,
        current_priority: task_host::current_priority::<P>,
        self_wake: task_host::self_wake::<P>,
        spend_budget: task_host::spend_budget::<P>,
        trailer_offset: mem::offset_of!(Cell<F>, trailer),
        large_offset: crate::slab::large_offset(mem::align_of::<Cell<F>>()),
    };
}

/// What a new task is made with.
pub(crate) struct NewTask {
    pub(crate) priority: Priority,
    pub(crate) id: TaskId,
    /// The task has a page of its own (see `Header::page`).
    pub(crate) large: bool,
    /// The scheduler keeps a name for it.
    pub(crate) named: bool,
}

impl RawTask {
    /// Writes a new task into `slot`: queued, with a handle, three
    /// references (entry, handle, registry).
    ///
    /// # Safety
    ///
    /// `slot` is unused memory of at least `size_of::<Cell<F>>()` bytes,
    /// aligned for it, in a slab page of a `Shared<P>`: a small page if
    /// `!new.large`, else a large page at `large_offset` from its header.
    pub(crate) unsafe fn write_new<F, P>(slot: NonNull<u8>, future: F, new: NewTask) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        P: Platform,
    {
        let cell = slot.cast::<Cell<F>>().as_ptr();
        // SAFETY: per the contract, `cell` is valid for writes; each field
        // is written in place so a large future is not copied twice.
        unsafe {
            ptr::addr_of_mut!((*cell).header).write(Header {
                state: State::new(new.priority, new.large, new.named),
                vtable: &VtableFor::<F, P>::VTABLE,
                id: new.id,
            });
            ptr::addr_of_mut!((*cell).stage).write(UnsafeCell::new(Stage {
                future: ManuallyDrop::new(future),
            }));
            ptr::addr_of_mut!((*cell).trailer).write(Trailer {
                join_waker: UnsafeCell::new(None),
            });
        }
        RawTask(slot.cast())
    }

    pub(crate) fn from_header(ptr: NonNull<Header>) -> RawTask {
        RawTask(ptr)
    }

    pub(crate) fn as_ptr(self) -> NonNull<Header> {
        self.0
    }

    #[inline]
    pub(crate) fn header<'a>(self) -> &'a Header {
        // SAFETY: a `RawTask` is only used while a reference keeps the task
        // alive (see the type's docs).
        unsafe { self.0.as_ref() }
    }

    #[inline]
    pub(crate) fn state<'a>(self) -> &'a State {
        &self.header().state
    }

    #[inline]
    pub(crate) fn id(self) -> TaskId {
        self.header().id
    }

    #[inline]
    pub(crate) fn trailer<'a>(self) -> &'a Trailer {
        // SAFETY: the task is alive (see `header`).
        unsafe { Header::trailer(self.0) }
    }

    /// Polls the future.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING, and `sched` is the task's scheduler.
    #[inline]
    pub(crate) unsafe fn poll(self, sched: *const (), cx: &mut Context<'_>) -> PollOutcome {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.poll)(self.0, sched, cx) }
    }

    /// Drops the future; true if that panicked and the panic was stored as
    /// the output.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING, and `sched` is the task's scheduler.
    pub(crate) unsafe fn drop_future(self, sched: *const ()) -> bool {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.drop_future)(self.0, sched) }
    }

    /// Drops the stored output, containing a panic of its drop (or of the
    /// drop of that panic's payload, at any depth).
    ///
    /// # Safety
    ///
    /// The task is COMPLETE with OUTPUT and the caller owns the output.
    pub(crate) unsafe fn drop_output(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.drop_output)(self.0) }
    }

    /// Pushes a queue entry for this task at `priority`.
    ///
    /// # Safety
    ///
    /// The caller hands over one reference for the entry.
    pub(crate) unsafe fn schedule(self, priority: Priority) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.schedule)(self.0, priority) }
    }

    /// Frees the task.
    ///
    /// # Safety
    ///
    /// The reference count is zero and the stage is empty.
    pub(crate) unsafe fn dealloc(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.dealloc)(self.0) }
    }

    /// Records a wake with the worker polling this task, if that is the
    /// calling thread.
    #[inline]
    pub(crate) fn self_wake(self) -> bool {
        // SAFETY: the caller (a waker) holds a reference.
        unsafe { (self.header().vtable.self_wake)(self.0) }
    }

    /// Drops one reference (a waker's, a handle's), freeing the task if it
    /// was the last, or queueing its cancellation if it left the task an
    /// orphan (see `state.rs`).
    pub(crate) fn drop_ref(self) {
        self.after_drop_ref(self.state().drop_ref());
    }

    /// Does what a dropped reference's outcome asks.
    #[inline]
    pub(crate) fn after_drop_ref(self, dropped: DropRef) {
        match dropped {
            DropRef::Kept => {}
            // SAFETY: that was the last reference; a task with no
            // references is COMPLETE and its stage is empty (the registry
            // holds a reference until completion).
            DropRef::Last => unsafe { self.dealloc() },
            // SAFETY: the transition turned our reference into the entry's.
            DropRef::Orphaned(p) => unsafe { (self.header().vtable.schedule_orphan)(self.0, p) },
        }
    }

    /// Finishes a task whose future is gone: publishes COMPLETE, hands the
    /// output to the JoinHandle or drops it, wakes the handle, and drops the
    /// worker's and the registry's references.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING; if `with_output`, the output is stored.
    pub(crate) unsafe fn complete<P: Platform>(self, platform: &P, with_output: bool) {
        let prev = self.state().complete(with_output);
        if !prev.has_join_interest() {
            if with_output {
                // Nobody will read it. Dropping it is contained: the worker
                // must survive user data that panics on drop.
                // SAFETY: no handle, so the completer owns the output.
                unsafe { self.drop_output() };
            }
        } else if prev.has_join_waker() {
            let trailer = self.trailer();
            // SAFETY: JOIN_WAKER was set at completion, so the waker is lent
            // to us and the handle does not touch it until we unset the bit.
            let woke = platform.catch_unwind(|| {
                trailer.join_waker.with(|w| {
                    // SAFETY: lent to us, as above.
                    if let Some(w) = unsafe { &*w } {
                        w.wake_by_ref();
                    }
                })
            });
            self.drop_payload(platform, woke.err());
            let after = self.state().unset_join_waker_after_complete();
            if !after.has_join_interest() {
                // The handle went away meanwhile and left the waker to us.
                // SAFETY: see above; the handle no longer exists.
                let waker = trailer.join_waker.with_mut(|w| unsafe { (*w).take() });
                let dropped = platform.catch_unwind(|| drop(waker));
                self.drop_payload(platform, dropped.err());
            }
        }
        if self.state().ref_dec_n(2) {
            // SAFETY: last references; COMPLETE, stage empty or output
            // dropped above (a handle that read it has dropped its ref).
            unsafe { self.dealloc() };
        }
    }

    /// Drops a caught panic's payload, containing panics of that drop at
    /// any depth; a payload that is lost counts in the metrics.
    fn drop_payload<P: Platform>(self, platform: &P, payload: Option<PanicPayload>) {
        if let Some(payload) = payload {
            lost_if::<P>(self.0, crate::platform::drop_payload(platform, payload));
        }
    }

    /// Cancels a task whose future the caller owns (RUNNING): drops the
    /// future and completes. The handle sees `Cancelled`, or the panic if
    /// dropping the future panicked.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING, and `sched` is the task's scheduler, a
    /// `Shared<P>`.
    pub(crate) unsafe fn cancel<P: Platform>(self, platform: &P, sched: *const ()) {
        // SAFETY: forwarded contract.
        let panicked = unsafe { self.drop_future(sched) };
        // SAFETY: forwarded contract; the output is stored iff it panicked.
        unsafe { self.complete(platform, panicked) };
    }
}

/// The stage of the task at `ptr`.
///
/// # Safety
///
/// `ptr` is a live task running future `F`.
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> &'a UnsafeCell<Stage<F>> {
    // SAFETY: per the contract, the header starts a `Cell<F>`.
    unsafe { &(*ptr.cast::<Cell<F>>().as_ptr()).stage }
}

unsafe fn poll<F: Future, P: Platform>(
    ptr: NonNull<Header>,
    sched: *const (),
    cx: &mut Context<'_>,
) -> PollOutcome {
    // SAFETY: the vtable is only called with its own task and scheduler.
    let shared = unsafe { &*sched.cast::<Shared<P>>() };
    // SAFETY: as above.
    let stage = unsafe { stage::<F>(ptr) };
    let platform = shared.platform();
    // A panic in the drop of the future while the poll's panic unwinds.
    let mut unwind_drop_panic: Option<PanicPayload> = None;
    let result = stage.with_mut(|s| {
        // SAFETY: RUNNING gives this thread the future.
        let future = unsafe { &mut (*s).future };
        let guard = DropOnUnwind {
            future,
            platform,
            panic: &mut unwind_drop_panic,
        };
        platform.catch_unwind(move || {
            // SAFETY: the future is pinned: the task never moves.
            let poll = unsafe { Pin::new_unchecked(&mut **guard.future) }.poll(cx);
            // Not unwinding: the future stays (or is dropped below).
            mem::forget(guard);
            poll
        })
    });
    let (output, outcome) = match result {
        Ok(Poll::Pending) => return PollOutcome::Pending,
        Ok(Poll::Ready(value)) => {
            // The future is done: drop it now, not when the handle reads.
            // SAFETY: RUNNING; the future is live and dropped once here.
            match unsafe { drop_future_in_place::<F, P>(shared, stage) } {
                None => (Ok(value), PollOutcome::Ready),
                Some(p) => {
                    // The handle gets the drop's panic; the value goes.
                    let dropped = platform.catch_unwind(|| drop(value));
                    if let Err(payload) = dropped {
                        lost_if::<P>(ptr, crate::platform::drop_payload(platform, payload));
                    }
                    (Err(Box::new(p)), PollOutcome::Panicked)
                }
            }
        }
        Err(panic) => {
            // The guard dropped the future while the panic unwound; the
            // handle gets the poll's panic.
            if let Some(payload) = unwind_drop_panic.take() {
                lost_if::<P>(ptr, crate::platform::drop_payload(platform, payload));
            }
            (Err(Box::new(panic)), PollOutcome::Panicked)
        }
    };
    // SAFETY: the future is gone; the stage is ours to fill.
    stage.with_mut(|s| unsafe { ptr::addr_of_mut!((*s).output).write(ManuallyDrop::new(output)) });
    outcome
}

/// Drops the future if a poll unwinds through it, so that the future's
/// `Drop` runs while the panic is in flight (and sees
/// `std::thread::panicking()`), as a future dropped by its own panic would.
/// A panic of that drop is caught inside the drop (a panic escaping a
/// destructor during unwinding would abort) and kept for the caller.
struct DropOnUnwind<'a, F, P: Platform> {
    future: &'a mut ManuallyDrop<F>,
    platform: &'a P,
    panic: &'a mut Option<PanicPayload>,
}

impl<F, P: Platform> Drop for DropOnUnwind<'_, F, P> {
    fn drop(&mut self) {
        let future = &mut *self.future;
        // SAFETY: the guard only drops while a poll unwinds (it is
        // forgotten otherwise); the future is live and dropped once here.
        let dropped = self
            .platform
            .catch_unwind(|| unsafe { ManuallyDrop::drop(future) });
        *self.panic = dropped.err();
    }
}

/// Counts a lost panic payload for the task at `ptr`.
fn lost_if<P: Platform>(ptr: NonNull<Header>, lost: bool) {
    if lost {
        // SAFETY: the callers hold a reference to the task.
        unsafe { task_host::payload_lost::<P>(ptr) };
    }
}

/// Drops the future in the stage, containing a panic.
///
/// # Safety
///
/// The caller holds RUNNING and the stage holds the future.
unsafe fn drop_future_in_place<F: Future, P: Platform>(
    shared: &Shared<P>,
    stage: &UnsafeCell<Stage<F>>,
) -> Option<PanicPayload> {
    stage
        .with_mut(|s| {
            shared.platform().catch_unwind(|| {
                // SAFETY: per the contract, the future is live; this drops
                // it exactly once.
                unsafe { ManuallyDrop::drop(&mut (*s).future) }
            })
        })
        .err()
}

unsafe fn drop_future<F: Future, P: Platform>(ptr: NonNull<Header>, sched: *const ()) -> bool {
    // SAFETY: the vtable is only called with its own task and scheduler.
    let shared = unsafe { &*sched.cast::<Shared<P>>() };
    // SAFETY: as above.
    let stage = unsafe { stage::<F>(ptr) };
    // SAFETY: the caller holds RUNNING and the future is live.
    match unsafe { drop_future_in_place::<F, P>(shared, stage) } {
        None => false,
        Some(panic) => {
            let output: Result<F::Output, PanicBox> = Err(Box::new(panic));
            // SAFETY: the stage is empty and ours.
            stage.with_mut(|s| unsafe {
                ptr::addr_of_mut!((*s).output).write(ManuallyDrop::new(output))
            });
            true
        }
    }
}

unsafe fn drop_output<F: Future, P: Platform>(ptr: NonNull<Header>) {
    if !mem::needs_drop::<F::Output>() {
        // Only a panic payload can need dropping (or panic doing it).
        // SAFETY: the caller owns the stored output.
        let ok = unsafe { stage::<F>(ptr).with(|s| (*s).output.is_ok()) };
        if ok {
            return;
        }
    }
    // SAFETY: the caller owns the stored output; the task is alive, and so
    // its scheduler.
    let platform = unsafe { task_host::platform_of::<P>(ptr) };
    // SAFETY: as above; the output is dropped once, here.
    let dropped = platform.catch_unwind(|| unsafe {
        stage::<F>(ptr).with_mut(|s| ManuallyDrop::drop(&mut (*s).output))
    });
    if let Err(payload) = dropped {
        lost_if::<P>(ptr, crate::platform::drop_payload(platform, payload));
    }
}

unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller (the JoinHandle) owns the stored output and passes
    // a `Poll<Result<F::Output, JoinError>>` slot.
    unsafe {
        let output = stage::<F>(ptr).with_mut(|s| ManuallyDrop::take(&mut (*s).output));
        let id = ptr.as_ref().id;
        let result = output.map_err(|panic| JoinError::panic(id, *panic));
        *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(result);
    }
}

unsafe fn dealloc<F: Future, P: Platform>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<Cell<F>>().as_ptr();
    // SAFETY: zero references: nobody else can reach the task. The stage is
    // empty (see `State`'s invariants); the trailer is dropped here.
    unsafe {
        ptr::drop_in_place(ptr::addr_of_mut!((*cell).trailer));
        task_host::free_task::<P>(ptr);
    }
}

/// The task cell size for future `F`, for choosing a slab class.
pub(crate) const fn cell_layout<F: Future>() -> (usize, usize) {
    (mem::size_of::<Cell<F>>(), mem::align_of::<Cell<F>>())
}
