//! The task waker: a pointer to the task header and one reference.

use super::header::Header;
use super::raw::RawTask;
use super::state::Notify;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::task::{RawWaker, RawWakerVTable, Waker};

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn raw(data: *const ()) -> RawTask {
    // SAFETY: every waker made here carries the header pointer of a task
    // it holds a reference to (a borrowed waker borrows one held by the
    // poller).
    unsafe { RawTask::from_header(NonNull::new_unchecked(data.cast_mut().cast::<Header>())) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    raw(data).state().ref_inc();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake(data: *const ()) {
    let task = raw(data);
    match task.state().wake_by_val() {
        Notify::Nothing => {}
        // SAFETY: the transition turned this waker's reference into the
        // entry's; nothing else is held.
        Notify::Submit(p) => unsafe { task.schedule(p, false) },
        // SAFETY: that was the last reference.
        Notify::Dealloc => unsafe { task.dealloc() },
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let task = raw(data);
    // A task waking itself while it is polled (`yield_now`) tells its
    // worker directly, without an atomic read-modify-write. A task this
    // thread polls is RUNNING, as this thread saw when it claimed it, so a
    // relaxed load rules the rest out (an interrupt handler's wake, say)
    // without asking the host.
    if task.state().load_relaxed().is_running() && task.self_wake() {
        return;
    }
    if let Notify::Submit(p) = task.state().wake_by_ref() {
        // SAFETY: the transition took a new reference for the entry; this
        // waker keeps its own until it returns.
        unsafe { task.schedule(p, true) };
    }
}

unsafe fn drop_waker(data: *const ()) {
    raw(data).drop_ref();
}

/// A waker for the task being polled, borrowing the poller's reference
/// instead of taking one. Cloning it takes a real reference.
pub(crate) fn waker_ref(task: RawTask) -> ManuallyDrop<Waker> {
    let data = task.as_ptr().as_ptr().cast_const().cast::<()>();
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for a
    // task pointer; `ManuallyDrop` keeps this borrowed waker from dropping a
    // reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &WAKER_VTABLE)) })
}
