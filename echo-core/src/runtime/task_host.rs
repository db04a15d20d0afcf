//! The scheduler as the host of its tasks: `Shared<P>` implements the task
//! layer's `Schedule` trait (see `task/schedule.rs`), so that a task's
//! vtable can queue its entries, free its memory and ask the worker
//! polling it, without the task code naming the scheduler.
//!
//! A task finds its `Shared` through its slab page: the page of a task is
//! found from the task's address (`Header::page`), and every page holds a
//! reference to its scheduler.

use crate::Priority;
use crate::platform::{PanicPayload, Platform};
use crate::runtime::Shared;
use crate::runtime::route::Wake;
use crate::task::header::Header;
use crate::task::raw::{Entry, RawTask};
use crate::task::schedule::Schedule;
use core::ptr::NonNull;

// SAFETY: a task of a `Shared<P>` lives in one of that scheduler's slab
// pages (`spawn.rs` writes it there with this vtable), and the page holds
// a reference to the scheduler until the task's slot is freed; `free`
// frees only that slot.
unsafe impl<P: Platform> Schedule for Shared<P> {
    #[inline]
    unsafe fn of<'a>(task: NonNull<Header>) -> &'a Self {
        // SAFETY: per the contract, the caller's reference keeps the task,
        // and so its page and the page's scheduler, alive for `'a`.
        unsafe { &*Header::page(task).as_ref().scheduler().cast::<Shared<P>>() }
    }

    /// On one of this scheduler's workers the entry goes to that worker's
    /// ring (the worker's own handle keeps the scheduler alive). Elsewhere
    /// (another thread, an interrupt handler) it goes to the inbox, and
    /// the task's page is all that keeps the scheduler alive: once pushed,
    /// the entry may be claimed, the task freed, and its page may drop the
    /// last reference to the scheduler (a wake after shutdown, with every
    /// handle gone). So the pusher holds a reference of its own to the
    /// task across the push, and uses no borrow of the scheduler after
    /// dropping it.
    unsafe fn schedule(task: RawTask, priority: Priority, held: bool) {
        if held {
            // The caller's own reference keeps the task, and so the
            // scheduler, alive across the push.
            // SAFETY: as just said.
            let shared = unsafe { Self::of(task.as_ptr()) };
            match shared.current_owner() {
                Some(mut o) => {
                    #[cfg(feature = "recorder")]
                    shared.record_wake(&o, task.id(), priority);
                    // SAFETY: the caller's reference goes to the entry.
                    let entry = unsafe { Entry::from_raw(task) };
                    shared.route(entry, priority, Some(&mut o), Wake::Now)
                }
                None => shared.route_from_outside(task),
            }
            return;
        }
        {
            // SAFETY: the entry's reference keeps the task, and so the
            // scheduler, alive for this borrow.
            let shared = unsafe { Self::of(task.as_ptr()) };
            if let Some(mut o) = shared.current_owner() {
                #[cfg(feature = "recorder")]
                shared.record_wake(&o, task.id(), priority);
                // SAFETY: the caller's reference goes to the entry.
                let entry = unsafe { Entry::from_raw(task) };
                shared.route(entry, priority, Some(&mut o), Wake::Now);
                return;
            }
            task.state().ref_inc();
            // The caller's reference goes to the inbox; the one just taken
            // is dropped below.
            shared.route_from_outside(task);
        }
        // The borrow of the scheduler has ended: this may free the task
        // and, with it, the scheduler.
        task.drop_ref();
    }

    /// Counts the orphan, then queues it like any entry.
    unsafe fn schedule_orphan(task: RawTask, priority: Priority) {
        {
            // SAFETY: the entry's reference keeps the task alive.
            let shared = unsafe { Self::of(task.as_ptr()) };
            shared.remote.tiers[priority.index()].orphaned.add_shared(1);
        }
        // SAFETY: forwarded contract; the orphan's only reference is the
        // entry's.
        unsafe { Self::schedule(task, priority, false) };
    }

    unsafe fn free(task: NonNull<Header>) {
        // SAFETY: forwarded contract; the task is in a page of a
        // `Shared<P>`.
        unsafe { Shared::<P>::free_slot(task) }
    }

    /// Only a worker of this scheduler polls its tasks.
    fn current_priority(&self) -> Option<Priority> {
        let task = self.current_owner()?.current()?;
        Some(task.state().load().priority())
    }

    /// The worker keeps the wake in a plain flag, read when the poll ends:
    /// no atomic read-modify-write for `yield_now`.
    fn self_wake(&self, task: RawTask) -> bool {
        let Some(mut o) = self.current_owner() else {
            return false;
        };
        if o.current() != Some(task) {
            return false;
        }
        o.set_self_woken(true);
        true
    }

    /// See `timer/mod.rs`.
    #[inline]
    fn spend_budget(&self) -> bool {
        Shared::spend_budget(self)
    }

    fn payload_lost(&self) {
        self.remote.lost_payloads.add_shared(1);
    }

    #[inline]
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        self.platform.catch_unwind(f)
    }
}
