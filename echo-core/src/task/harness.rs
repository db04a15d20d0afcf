//! The harness: the functions behind each task's vtable, generic over its
//! future `F` and its host `S`, and what needs both (writing a new task,
//! completing and cancelling one). Everything else holds a task as a
//! `RawTask` and reaches these through the vtable.

use super::header::{Cell, Header, PanicBox, PollOutcome, Stage, Trailer, Vtable};
use super::info::{TaskId, TaskName};
use super::join::JoinError;
use super::named::Named;
use super::raw::RawTask;
use super::schedule::Schedule;
use super::state::State;
use crate::Priority;
use crate::platform::PanicPayload;
use crate::sync::{AtomicPtr, UnsafeCell};
use alloc::boxed::Box;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::task::{Context, Poll};

/// The vtable of tasks running future `F` on host `S`.
struct VtableFor<F, S>(PhantomData<(F, S)>);

impl<F, S> VtableFor<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    const VTABLE: Vtable = Vtable {
        poll: poll::<F, S>,
        drop_future: drop_future::<F, S>,
        drop_output: drop_output::<F, S>,
        read_output: read_output::<F>,
        schedule: schedule::<S>,
        schedule_orphan: schedule_orphan::<S>,
        dealloc: dealloc::<F, S>,
        current_priority: current_priority::<S>,
        self_wake: self_wake::<S>,
        spend_budget: spend_budget::<S>,
        name: no_name,
        trailer_offset: mem::offset_of!(Cell<F>, trailer),
        large_offset: crate::slab::large_offset(mem::align_of::<Cell<F>>()),
    };
}

impl<F, S> VtableFor<Named<F>, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    /// The vtable of a named task: as any other, but it reads its name.
    const NAMED: Vtable = Vtable {
        name: name_of::<F>,
        ..Self::VTABLE
    };
}

/// What a new task is made with.
pub(crate) struct NewTask {
    pub(crate) priority: Priority,
    pub(crate) id: TaskId,
    /// The task has a page of its own (see `Header::page`).
    pub(crate) large: bool,
    /// Its future is a `Named` one.
    pub(crate) named: bool,
}

impl RawTask {
    /// Writes a new task into `slot`: queued, with a handle, three
    /// references (entry, handle, registry).
    ///
    /// # Safety
    ///
    /// `slot` is unused memory of at least `size_of::<Cell<F>>()` bytes,
    /// aligned for it, where `S::of` finds its host (for the scheduler: in
    /// a slab page of that scheduler, a small page if `!new.large`, else a
    /// large page at `large_offset` from its header).
    pub(crate) unsafe fn write_new<F, S>(slot: NonNull<u8>, future: F, new: NewTask) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        debug_assert!(!new.named);
        // SAFETY: forwarded contract.
        unsafe { Self::write_with(slot, future, new, &VtableFor::<F, S>::VTABLE) }
    }

    /// As [`write_new`](RawTask::write_new), for a named task: its vtable
    /// reads the name from the future.
    ///
    /// # Safety
    ///
    /// As `write_new`, for `Cell<Named<F>>`.
    pub(crate) unsafe fn write_new_named<F, S>(
        slot: NonNull<u8>,
        future: Named<F>,
        new: NewTask,
    ) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        debug_assert!(new.named);
        // SAFETY: forwarded contract.
        unsafe { Self::write_with(slot, future, new, &VtableFor::<Named<F>, S>::NAMED) }
    }

    /// Writes the task, with `vtable`, which is `F`'s.
    ///
    /// # Safety
    ///
    /// As `write_new`; `vtable` was built for `F`.
    unsafe fn write_with<F>(
        slot: NonNull<u8>,
        future: F,
        new: NewTask,
        vtable: &'static Vtable,
    ) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cell = slot.cast::<Cell<F>>().as_ptr();
        // SAFETY: per the contract, `cell` is valid for writes; each field
        // is written in place so a large future is not copied twice.
        unsafe {
            ptr::addr_of_mut!((*cell).header).write(Header {
                state: State::new(new.priority, new.large, new.named),
                vtable,
                id: new.id,
                inbox_next: AtomicPtr::new(ptr::null_mut()),
            });
            ptr::addr_of_mut!((*cell).stage).write(UnsafeCell::new(Stage {
                future: ManuallyDrop::new(future),
            }));
            ptr::addr_of_mut!((*cell).trailer).write(Trailer {
                join_waker: UnsafeCell::new(None),
            });
        }
        // SAFETY: a task was just written at `slot`, and the caller gets
        // the references counted in its state word.
        unsafe { RawTask::from_header(slot.cast()) }
    }

    /// Finishes a task whose future is gone: publishes COMPLETE, hands the
    /// output to the JoinHandle or drops it, wakes the handle, and drops the
    /// worker's and the registry's references.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING, `host` is the task's host; if
    /// `with_output`, the output is stored.
    pub(crate) unsafe fn complete<S: Schedule>(self, host: &S, with_output: bool) {
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
            let woke = host.catch_unwind(|| {
                trailer.join_waker.with(|w| {
                    // SAFETY: lent to us, as above.
                    if let Some(w) = unsafe { &*w } {
                        w.wake_by_ref();
                    }
                })
            });
            if let Err(payload) = woke {
                host.drop_payload(payload);
            }
            let after = self.state().unset_join_waker_after_complete();
            if !after.has_join_interest() {
                // The handle went away meanwhile and left the waker to us.
                // SAFETY: see above; the handle no longer exists.
                let waker = trailer.join_waker.with_mut(|w| unsafe { (*w).take() });
                if let Err(payload) = host.catch_unwind(|| drop(waker)) {
                    host.drop_payload(payload);
                }
            }
        }
        if self.state().ref_dec_n(2) {
            // SAFETY: last references; COMPLETE, stage empty or output
            // dropped above (a handle that read it has dropped its ref).
            unsafe { self.dealloc() };
        }
    }

    /// Cancels a task whose future the caller owns (RUNNING): drops the
    /// future and completes. The handle sees `Cancelled`, or the panic if
    /// dropping the future panicked.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING, and `host` is the task's host.
    pub(crate) unsafe fn cancel<S: Schedule>(self, host: &S) {
        // SAFETY: forwarded contract.
        let panicked = unsafe { self.drop_future((host as *const S).cast()) };
        // SAFETY: forwarded contract; the output is stored iff it panicked.
        unsafe { self.complete(host, panicked) };
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

unsafe fn poll<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    sched: *const (),
    cx: &mut Context<'_>,
) -> PollOutcome {
    // SAFETY: the vtable is only called with its own task and host.
    let host = unsafe { &*sched.cast::<S>() };
    // SAFETY: as above.
    let stage = unsafe { stage::<F>(ptr) };
    // A panic in the drop of the future while the poll's panic unwinds.
    let mut unwind_drop_panic: Option<PanicPayload> = None;
    let result = stage.with_mut(|s| {
        // SAFETY: RUNNING gives this thread the future.
        let future = unsafe { &mut (*s).future };
        let guard = DropOnUnwind {
            future,
            host,
            panic: &mut unwind_drop_panic,
        };
        host.catch_unwind(move || {
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
            match unsafe { drop_future_in_place::<F, S>(host, stage) } {
                None => (Ok(value), PollOutcome::Ready),
                Some(p) => {
                    // The handle gets the drop's panic; the value goes.
                    if let Err(payload) = host.catch_unwind(|| drop(value)) {
                        host.drop_payload(payload);
                    }
                    (Err(Box::new(p)), PollOutcome::Panicked)
                }
            }
        }
        Err(panic) => {
            // The guard dropped the future while the panic unwound; the
            // handle gets the poll's panic.
            if let Some(payload) = unwind_drop_panic.take() {
                host.drop_payload(payload);
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
struct DropOnUnwind<'a, F, S: Schedule> {
    future: &'a mut ManuallyDrop<F>,
    host: &'a S,
    panic: &'a mut Option<PanicPayload>,
}

impl<F, S: Schedule> Drop for DropOnUnwind<'_, F, S> {
    fn drop(&mut self) {
        let future = &mut *self.future;
        // SAFETY: the guard only drops while a poll unwinds (it is
        // forgotten otherwise); the future is live and dropped once here.
        let dropped = self
            .host
            .catch_unwind(|| unsafe { ManuallyDrop::drop(future) });
        *self.panic = dropped.err();
    }
}

/// Drops the future in the stage, containing a panic.
///
/// # Safety
///
/// The caller holds RUNNING and the stage holds the future.
unsafe fn drop_future_in_place<F: Future, S: Schedule>(
    host: &S,
    stage: &UnsafeCell<Stage<F>>,
) -> Option<PanicPayload> {
    stage
        .with_mut(|s| {
            host.catch_unwind(|| {
                // SAFETY: per the contract, the future is live; this drops
                // it exactly once.
                unsafe { ManuallyDrop::drop(&mut (*s).future) }
            })
        })
        .err()
}

unsafe fn drop_future<F: Future, S: Schedule>(ptr: NonNull<Header>, sched: *const ()) -> bool {
    // SAFETY: the vtable is only called with its own task and host.
    let host = unsafe { &*sched.cast::<S>() };
    // SAFETY: as above.
    let stage = unsafe { stage::<F>(ptr) };
    // SAFETY: the caller holds RUNNING and the future is live.
    match unsafe { drop_future_in_place::<F, S>(host, stage) } {
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

unsafe fn drop_output<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    if !mem::needs_drop::<F::Output>() {
        // Only a panic payload can need dropping (or panic doing it).
        // SAFETY: the caller owns the stored output.
        let ok = unsafe { stage::<F>(ptr).with(|s| (*s).output.is_ok()) };
        if ok {
            return;
        }
    }
    // SAFETY: the caller owns the stored output; the task is alive, and so
    // its host.
    let host = unsafe { S::of(ptr) };
    // SAFETY: as above; the output is dropped once, here.
    let dropped = host.catch_unwind(|| unsafe {
        stage::<F>(ptr).with_mut(|s| ManuallyDrop::drop(&mut (*s).output))
    });
    if let Err(payload) = dropped {
        host.drop_payload(payload);
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

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<Cell<F>>().as_ptr();
    // SAFETY: zero references: nobody else can reach the task. The stage is
    // empty (see `State`'s invariants); the trailer is dropped here.
    unsafe {
        ptr::drop_in_place(ptr::addr_of_mut!((*cell).trailer));
        S::free(ptr);
    }
}

// The host hooks behind each vtable: each finds the host from the header
// (or passes the task on) and makes one call.

unsafe fn schedule<S: Schedule>(ptr: NonNull<Header>, priority: Priority, held: bool) {
    // SAFETY: forwarded contract.
    unsafe { S::schedule(RawTask::from_header(ptr), priority, held) }
}

unsafe fn schedule_orphan<S: Schedule>(ptr: NonNull<Header>, priority: Priority) {
    // SAFETY: as above.
    unsafe { S::schedule_orphan(RawTask::from_header(ptr), priority) }
}

unsafe fn current_priority<S: Schedule>(ptr: NonNull<Header>) -> Option<Priority> {
    // SAFETY: the caller holds a reference to the task.
    unsafe { S::of(ptr) }.current_priority()
}

unsafe fn self_wake<S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller holds a reference to the task.
    let task = unsafe { RawTask::from_header(ptr) };
    // SAFETY: as above.
    unsafe { S::of(ptr) }.self_wake(task)
}

unsafe fn spend_budget<S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller holds a reference to the task.
    unsafe { S::of(ptr) }.spend_budget()
}

unsafe fn no_name(_: NonNull<Header>) -> Option<TaskName> {
    None
}

unsafe fn name_of<F: Future>(ptr: NonNull<Header>) -> Option<TaskName> {
    // SAFETY: this vtable is `Named<F>`'s, and the caller holds RUNNING, so
    // the stage holds the future.
    let named = unsafe { stage::<Named<F>>(ptr).with(|s| &*(*s).future) };
    Some(named.name.clone())
}

/// The task cell size for future `F`, for choosing a slab class.
pub(crate) const fn cell_layout<F: Future>() -> (usize, usize) {
    (mem::size_of::<Cell<F>>(), mem::align_of::<Cell<F>>())
}
