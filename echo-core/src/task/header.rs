//! The layout of a task: one allocation holding the header, then the
//! future or its output, then the trailer with the join waker.
//!
//! ```text
//! Cell<F> (repr C)
//! ┌ Header ─────────────── 32 bytes on 64-bit, 24 on 32-bit
//! │ state       the atomic state word (see `state/mod.rs`)
//! │ vtable      the type-specific functions
//! │ id          the task id, which also records the creation time
//! │ inbox_next  the task's link in the scheduler's inbox (`inbox.rs`)
//! ├ Stage ───────────────── union: the future, or its output
//! ├ Trailer ─────────────── 16 bytes on 64-bit
//! │ join_waker  the JoinHandle's waker (see the JOIN_WAKER rules)
//! └
//! ```
//!
//! So a task costs 48 bytes beyond its future (or output, if larger) on
//! 64-bit targets, 32 on 32-bit ones.
//!
//! The stage has no tag of its own: the state word says which member is
//! live (not COMPLETE: the future; COMPLETE with OUTPUT: the output;
//! otherwise nothing).
//!
//! The task's host is found by `Schedule::of` (see `schedule.rs`). The
//! scheduler finds itself through the task's slab page, which is found
//! from the task's address (`Header::page`): a small task's page is the
//! `PAGE_BYTES`-aligned block around it; a large task (LARGE bit) sits
//! `vtable.large_offset` bytes after its page header. A name, rarely
//! given, travels with the future (`named.rs`, NAMED bit) rather than in
//! every task.

use super::info::{TaskId, TaskName};
use super::state::State;
use crate::Priority;
use crate::inbox::InboxNode;
use crate::platform::PanicPayload;
use crate::slab::{PAGE_BYTES, Page};
use crate::sync::{AtomicPtr, UnsafeCell};
use alloc::boxed::Box;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::task::{Context, Waker};

/// The fixed part every task starts with.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: TaskId,
    /// The inbox link: null while the task is not in its scheduler's
    /// inbox (see `inbox.rs`).
    pub(crate) inbox_next: AtomicPtr<Header>,
}

// SAFETY: `inbox_next` is null when a task is written (`RawTask::write_new`)
// and only the inbox uses it.
unsafe impl InboxNode for Header {
    #[inline]
    fn link(&self) -> &AtomicPtr<Header> {
        &self.inbox_next
    }
}

// The slab writes a free slot's link over the vtable pointer, so the state
// word stays readable (see the slab's invariants).
const _: () = assert!(core::mem::offset_of!(Header, vtable) == crate::slab::LINK_OFFSET);

/// A panic payload behind one thin pointer, so that `Result<T, PanicBox>`
/// stays small.
pub(crate) type PanicBox = Box<PanicPayload>;

/// The future, or what it produced.
pub(crate) union Stage<F: Future> {
    pub(crate) future: ManuallyDrop<F>,
    pub(crate) output: ManuallyDrop<Result<F::Output, PanicBox>>,
}

/// The fields after the stage.
pub(crate) struct Trailer {
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
}

/// The whole task allocation.
#[repr(C)]
pub(crate) struct Cell<F: Future> {
    pub(crate) header: Header,
    pub(crate) stage: UnsafeCell<Stage<F>>,
    pub(crate) trailer: Trailer,
}

/// How a poll ended. On `Ready` and `Panicked` the output is stored and the
/// future is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollOutcome {
    Pending,
    Ready,
    Panicked,
}

/// The functions that depend on the future's type and the host (`S` in
/// `raw.rs`); the host hooks each call one `Schedule` function.
pub(crate) struct Vtable {
    /// Polls the future (the caller holds RUNNING). `sched` is the
    /// host pointer, passed to avoid finding it from the header.
    pub(crate) poll: unsafe fn(NonNull<Header>, *const (), &mut Context<'_>) -> PollOutcome,
    /// Drops the future (the caller holds RUNNING). If dropping panicked,
    /// stores the panic as the output and returns true.
    pub(crate) drop_future: unsafe fn(NonNull<Header>, *const ()) -> bool,
    /// Drops the stored output (the caller owns it), containing panics.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Moves the stored output into `*dst`, a `Poll<Result<T, JoinError>>`.
    pub(crate) read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Pushes a queue entry (whose reference the caller hands over).
    pub(crate) schedule: unsafe fn(NonNull<Header>, Priority, bool),
    /// As `schedule`, for the cancellation of an orphan (counted).
    pub(crate) schedule_orphan: unsafe fn(NonNull<Header>, Priority),
    /// Frees the task (zero references).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// The priority of the task the calling thread polls for this task's
    /// host, if any.
    pub(crate) current_priority: unsafe fn(NonNull<Header>) -> Option<Priority>,
    /// If the calling thread is polling this task right now, records a
    /// wake with its host and returns true.
    pub(crate) self_wake: unsafe fn(NonNull<Header>) -> bool,
    /// Spends a unit of the cooperative budget of the task the calling
    /// thread polls for this task's host (if any); false if that budget is
    /// spent.
    pub(crate) spend_budget: unsafe fn(NonNull<Header>) -> bool,
    /// The task's name, if its future is a `Named` one (the caller holds
    /// RUNNING: the future is alive); `None` for every other task.
    pub(crate) name: unsafe fn(NonNull<Header>) -> Option<TaskName>,
    /// Where the trailer starts.
    pub(crate) trailer_offset: usize,
    /// For a large task: its distance from its page header.
    pub(crate) large_offset: usize,
}

impl Header {
    /// The slab page holding the task at `this`.
    ///
    /// # Safety
    ///
    /// `this` points to a live task (or a freed slot whose page is alive).
    #[inline]
    pub(crate) unsafe fn page(this: NonNull<Header>) -> NonNull<Page> {
        // SAFETY: per the contract, the header is readable; LARGE never
        // changes after creation.
        let h = unsafe { this.as_ref() };
        let task = this.as_ptr().cast::<u8>();
        // Address arithmetic keeps the task pointer's provenance: the page
        // is in the same allocation.
        let page = if h.state.load_relaxed().is_large() {
            task.wrapping_sub(h.vtable.large_offset)
        } else {
            task.map_addr(|a| a & !(PAGE_BYTES - 1))
        };
        // SAFETY: a page address is never null.
        unsafe { NonNull::new_unchecked(page.cast::<Page>()) }
    }

    /// The trailer of the task this header starts.
    ///
    /// # Safety
    ///
    /// `this` points to a live task.
    #[inline]
    pub(crate) unsafe fn trailer<'a>(this: NonNull<Header>) -> &'a Trailer {
        // SAFETY: the vtable's offset is that of this task's `Cell<F>`.
        unsafe {
            let offset = this.as_ref().vtable.trailer_offset;
            &*this.as_ptr().cast::<u8>().add(offset).cast::<Trailer>()
        }
    }
}
