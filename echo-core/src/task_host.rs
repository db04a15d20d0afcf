//! The scheduler's side of a task: the hooks a task's vtable calls to
//! reach its scheduler (queue an entry, free the task, ask the worker
//! polling it). A task finds its `Shared` through its slab page.

use crate::Priority;
use crate::platform::Platform;
use crate::scheduler::Shared;
use crate::task::header::Header;
use crate::task::raw::{Entry, RawTask};
use core::ptr::NonNull;

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

/// Vtable hook: queue an entry for the task at `ptr` from any thread (a
/// waker, an abort, a raise), handing over the reference the caller holds
/// for it.
///
/// On one of this scheduler's workers the entry goes to that worker's
/// ring (the worker's own handle keeps the scheduler alive). Elsewhere it
/// goes to an injector, and the task's page is all that keeps the
/// scheduler alive: once pushed, the entry may be claimed, the task freed,
/// and its page may drop the last reference to the scheduler (a wake
/// after shutdown, with every handle gone). So the pusher holds a
/// reference of its own to the task across the push, and uses no borrow
/// of the scheduler after dropping it.
pub(crate) unsafe fn schedule_entry<P: Platform>(ptr: NonNull<Header>, priority: Priority) {
    let raw = RawTask::from_header(ptr);
    {
        // SAFETY: the entry's reference keeps the task, and so the
        // scheduler, alive for this borrow.
        let shared = unsafe { shared_of::<P>(ptr) };
        if let Some(w) = shared.current_worker() {
            shared.schedule_on_worker(w, Entry::from_raw(raw), priority);
            return;
        }
        raw.state().ref_inc();
        shared.push_injector(Entry::from_raw(raw), priority);
    }
    // The borrow of the scheduler has ended: this may free the task and,
    // with it, the scheduler.
    raw.drop_ref();
}

/// Vtable hook: queue the cancellation of an orphan (a task that nothing
/// can wake any more), counting it.
pub(crate) unsafe fn schedule_orphan<P: Platform>(ptr: NonNull<Header>, priority: Priority) {
    {
        // SAFETY: the entry's reference keeps the task alive.
        let shared = unsafe { shared_of::<P>(ptr) };
        shared.remote.tiers[priority.index()].orphaned.add_shared(1);
    }
    // SAFETY: forwarded contract.
    unsafe { schedule_entry::<P>(ptr, priority) };
}

/// A panic payload that kept panicking when dropped was leaked: count it.
///
/// # Safety
///
/// The caller holds a reference to the task at `ptr`.
pub(crate) unsafe fn payload_lost<P: Platform>(ptr: NonNull<Header>) {
    // SAFETY: per the contract.
    let shared = unsafe { shared_of::<P>(ptr) };
    shared.remote.lost_payloads.add_shared(1);
}

/// The platform of the task at `ptr`'s scheduler.
///
/// # Safety
///
/// The caller holds a reference to the task, for `'a`.
pub(crate) unsafe fn platform_of<'a, P: Platform>(ptr: NonNull<Header>) -> &'a P {
    // SAFETY: per the contract.
    unsafe { shared_of::<P>(ptr) }.platform()
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

/// Vtable hook: spend a unit of the cooperative budget of the task polled
/// on this thread, if this thread is a worker of `ptr`'s scheduler (see
/// `timer/mod.rs`). False if the budget was spent.
pub(crate) unsafe fn spend_budget<P: Platform>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller holds a reference to the task.
    let shared = unsafe { shared_of::<P>(ptr) };
    shared.spend_budget()
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
