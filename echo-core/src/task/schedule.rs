//! What the task layer needs from the host that runs its tasks.
//!
//! A task's vtable is built for one host type `S: Schedule` (see
//! `raw.rs`): its entries call `S`'s functions with the task's header
//! pointer, so the code of tasks, wakers and join handles never names the
//! scheduler. The scheduler implements this trait in `task_host.rs`; the
//! task code's own tests and loom models run it against `model_host.rs`.
//!
//! Cost: each hook is one indirect call through the task's vtable into a
//! function monomorphized for `S`, which finds the host from the header
//! (`Schedule::of`) and does its work there; nothing is allocated and no
//! atomic is added.
//!
//! Hooks that can free the task (`schedule`, `schedule_orphan`, `free`)
//! take no `&self`: once they hand the task on, another thread may free
//! it, and with it the last thing keeping the host alive.

use super::header::Header;
use super::raw::RawTask;
use crate::Priority;
use crate::platform::PanicPayload;
use core::ptr::NonNull;

/// Nested payloads dropped before giving up (see [`Schedule::drop_payload`]).
const MAX_NESTED_PAYLOADS: usize = 16;

/// The host of a task: where its entries go, where its memory returns, and
/// what it knows about the thread running it.
///
/// # Safety
///
/// `of` must return the host that made the task (the one whose vtable was
/// built for it), alive for as long as the caller holds a reference to the
/// task; `free` must only release the task's own memory.
pub(crate) unsafe trait Schedule: Sync + Sized + 'static {
    /// The host of the task at `task`.
    ///
    /// # Safety
    ///
    /// The caller holds a reference to the task, which keeps the host alive
    /// for `'a`.
    unsafe fn of<'a>(task: NonNull<Header>) -> &'a Self;

    /// Queues an entry for `task` at `priority` from any thread (a waker, an
    /// abort, a change of priority). `held` says that the caller keeps a
    /// reference of its own across the call (a waker woken by reference, a
    /// `JoinHandle`), which keeps the task, and so the host, alive while it
    /// queues; otherwise the host takes care of that itself.
    ///
    /// # Safety
    ///
    /// The caller hands over one reference to the task, for the entry, and
    /// if `held`, holds another until the call returns.
    unsafe fn schedule(task: RawTask, priority: Priority, held: bool);

    /// As [`schedule`](Schedule::schedule), for the cancellation of an
    /// orphan: a task that nothing can wake any more.
    ///
    /// # Safety
    ///
    /// As `schedule`.
    unsafe fn schedule_orphan(task: RawTask, priority: Priority);

    /// Gives the task's memory back.
    ///
    /// # Safety
    ///
    /// The task has no references left, its stage is empty and its trailer
    /// dropped. This may drop the last reference to the host.
    unsafe fn free(task: NonNull<Header>);

    /// The priority of the task the calling thread polls for this host, if
    /// it polls one (priority inheritance).
    fn current_priority(&self) -> Option<Priority>;

    /// If the calling thread is polling `task` for this host right now,
    /// records a wake with it (applied when the poll ends) and returns true.
    fn self_wake(&self, task: RawTask) -> bool;

    /// Spends a unit of the cooperative budget of the task the calling
    /// thread polls for this host, if any; false if that budget is spent.
    fn spend_budget(&self) -> bool;

    /// Counts a panic payload that kept panicking when dropped and was
    /// leaked.
    fn payload_lost(&self);

    /// Runs `f`, containing a panic where the host can.
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload>;

    /// Drops a caught panic's payload, containing a panic of that drop, and
    /// of the drop of that panic's payload, and so on. After
    /// `MAX_NESTED_PAYLOADS` nested panics a payload that keeps panicking is
    /// forgotten and counted with [`payload_lost`](Schedule::payload_lost),
    /// so a hostile payload can neither kill the thread nor loop forever.
    fn drop_payload(&self, mut payload: PanicPayload) {
        for _ in 0..MAX_NESTED_PAYLOADS {
            match self.catch_unwind(move || drop(payload)) {
                Ok(()) => return,
                Err(next) => payload = next,
            }
        }
        core::mem::forget(payload);
        self.payload_lost();
    }
}
