//! Wakers that tell the console what happens to them.
//!
//! A poll lends the task a [`Borrowed`] waker: it points at a value on the
//! poll's stack (the task's own waker and its span's id), takes no
//! reference and allocates nothing, like the core's borrowed waker. A
//! clone of it, or of a clone, is an [`Owned`] waker: an `Arc` holding a
//! clone of the task's waker and the span's id, which outlives the poll.
//! Every operation emits its `runtime::waker` event and then does the
//! same thing to the task's own waker.
//!
//! Invariant: a borrowed waker's data pointer is only used while the poll
//! that made it runs. `Context` lends it as `&Waker`, so code can keep it
//! past the poll only by cloning it, which makes an owned waker.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// Emits the event console-subscriber's layer reads for a waker operation.
#[inline]
fn emit(op: &'static str, span: u64) {
    tracing::trace!(target: "runtime::waker", op, task.id = span);
}

/// A poll's waker: the task's own, and the id of its span.
pub(crate) struct Borrowed<'a> {
    inner: &'a Waker,
    span: u64,
}

static BORROWED: RawWakerVTable = RawWakerVTable::new(
    borrowed_clone,
    borrowed_wake_by_ref,
    borrowed_wake_by_ref,
    borrowed_drop,
);

impl<'a> Borrowed<'a> {
    pub(crate) fn new(inner: &'a Waker, span: u64) -> Borrowed<'a> {
        Borrowed { inner, span }
    }

    /// A waker for this poll. Never dropped (a borrowed waker holds
    /// nothing) and never woken by value (only lent as `&Waker`).
    pub(crate) fn waker(&self) -> ManuallyDrop<Waker> {
        let data = (self as *const Borrowed<'_>).cast::<()>();
        // SAFETY: the vtable's functions uphold the `RawWaker` contract for
        // a pointer to a live `Borrowed` (see the module's invariant).
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &BORROWED)) })
    }
}

/// # Safety
///
/// `data` points to a live `Borrowed`.
unsafe fn borrowed<'a>(data: *const ()) -> &'a Borrowed<'a> {
    // SAFETY: per the contract.
    unsafe { &*data.cast::<Borrowed<'a>>() }
}

unsafe fn borrowed_clone(data: *const ()) -> RawWaker {
    // SAFETY: the poll that lent this waker is running.
    let b = unsafe { borrowed(data) };
    emit("waker.clone", b.span);
    Owned::raw(Arc::new(Owned {
        inner: b.inner.clone(),
        span: b.span,
    }))
}

unsafe fn borrowed_wake_by_ref(data: *const ()) {
    // SAFETY: as above.
    let b = unsafe { borrowed(data) };
    emit("waker.wake_by_ref", b.span);
    b.inner.wake_by_ref();
}

unsafe fn borrowed_drop(_: *const ()) {}

/// A waker that outlives the poll: a clone of the task's waker and the id
/// of its span.
pub(crate) struct Owned {
    inner: Waker,
    span: u64,
}

static OWNED: RawWakerVTable =
    RawWakerVTable::new(owned_clone, owned_wake, owned_wake_by_ref, owned_drop);

impl Owned {
    fn raw(this: Arc<Owned>) -> RawWaker {
        RawWaker::new(Arc::into_raw(this).cast::<()>(), &OWNED)
    }
}

unsafe fn owned_clone(data: *const ()) -> RawWaker {
    let data = data.cast::<Owned>();
    // SAFETY: `data` came from `Arc::into_raw` and this waker holds one of
    // its counts.
    unsafe { Arc::increment_strong_count(data) };
    // SAFETY: as above; the count just taken keeps it alive.
    emit("waker.clone", unsafe { (*data).span });
    RawWaker::new(data.cast::<()>(), &OWNED)
}

unsafe fn owned_wake(data: *const ()) {
    // SAFETY: waking by value consumes this waker's count.
    let this = unsafe { Arc::from_raw(data.cast::<Owned>()) };
    emit("waker.wake", this.span);
    match Arc::try_unwrap(this) {
        Ok(owned) => owned.inner.wake(),
        Err(shared) => shared.inner.wake_by_ref(),
    }
}

unsafe fn owned_wake_by_ref(data: *const ()) {
    // SAFETY: this waker holds a count, so the `Owned` is alive.
    let this = unsafe { &*data.cast::<Owned>() };
    emit("waker.wake_by_ref", this.span);
    this.inner.wake_by_ref();
}

unsafe fn owned_drop(data: *const ()) {
    // SAFETY: dropping this waker gives up its count.
    let this = unsafe { Arc::from_raw(data.cast::<Owned>()) };
    emit("waker.drop", this.span);
}
