//! A named task's future: the name travels with the future, in the task's
//! own allocation, so the scheduler keeps no table of names (and no lock
//! for one), and the name is dropped with the future, on the worker that
//! completes or cancels the task.
//!
//! Its vtable (`raw.rs`, `VtableFor::NAMED`) reads the name back while the
//! future is alive; every other task's vtable answers `None`.

use super::info::TaskName;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// A future with its task's name.
pub(crate) struct Named<F> {
    pub(crate) name: TaskName,
    pub(crate) future: F,
}

impl<F: Future> Future for Named<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned along with `Named`: it is never moved
        // out while pinned (only `into_future`, on an unpinned value, takes
        // it), and `Named` has no `Drop` of its own.
        unsafe { self.map_unchecked_mut(|n| &mut n.future) }.poll(cx)
    }
}

impl<F> Named<F> {
    /// The future, without its name (a refused submission hands it back).
    pub(crate) fn into_future(self) -> F {
        self.future
    }
}
