//! Type-erased task pointers and queue entries: what holds a task without
//! knowing its future or its host. The functions behind each task's
//! vtable, which know both, are in `harness.rs`.

use super::header::{Header, PollOutcome, Trailer};
use super::info::{TaskId, TaskName};
use super::state::{DropRef, State};
use crate::Priority;
use core::ptr::NonNull;
use core::task::Context;

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
    /// Wraps a task whose reference the caller hands over.
    ///
    /// # Safety
    ///
    /// The caller owns one reference to `raw` (counted in its state word)
    /// and gives it to the entry: from here on only the entry's consumer
    /// (`claim`, or `drop_ref`) may give it up.
    #[inline]
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Entry {
        Entry(raw)
    }

    /// The task, giving up the entry (its reference goes with the caller).
    pub(crate) fn into_raw(self) -> RawTask {
        self.0
    }
}

impl RawTask {
    /// The task whose header is at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is the header of a task written by [`write_new`]
    /// (RawTask::write_new), still allocated: the caller holds a reference
    /// to it, or (the shutdown walk) holds the lock or exclusion that keeps
    /// its slot from being freed while the `RawTask` is used. A `RawTask`
    /// is a plain pointer: making one takes and gives no reference.
    #[inline]
    pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> RawTask {
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
    /// The caller holds RUNNING, and `sched` points to the task's host.
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
    /// The caller holds RUNNING, and `sched` points to the task's host.
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
    /// The caller hands over one reference for the entry; if `held`, it
    /// holds another until the call returns (see `Schedule::schedule`).
    pub(crate) unsafe fn schedule(self, priority: Priority, held: bool) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.schedule)(self.0, priority, held) }
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

    /// The task's name, if it has one.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING (the future, which holds the name, is
    /// alive).
    pub(crate) unsafe fn name(self) -> Option<TaskName> {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.name)(self.0) }
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
}
