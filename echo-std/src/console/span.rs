//! The task's `runtime.spawn` span and the future that enters it.
//!
//! The span carries Echo's task id, which the core assigns as it makes
//! the task, after the future is wrapped. So the span lives in a slot
//! shared by the spawner and the task: whichever comes first makes it (the
//! spawner, from the new `JoinHandle`'s id, or the task's first poll, from
//! the running task's id), and it is made once. The running task's id
//! comes from a hook the spawner passes (`context::current_id`), so that
//! this module, below the context in the layers, does not import it.

use crate::JoinHandle;
use crate::console::Origin;
use crate::console::waker::Borrowed;
use echo_sched_core::{TaskId, TaskOptions};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tracing::Span;

/// What the span is made of, and the span once made.
pub(crate) struct Slot {
    span: OnceLock<Span>,
    kind: &'static str,
    options: TaskOptions,
    origin: Origin,
    /// The running task's id (`TaskId::NONE` outside a task).
    current: fn() -> TaskId,
}

impl Slot {
    /// The span, made for task `id` if it does not exist yet.
    fn span(&self, id: impl FnOnce() -> TaskId) -> &Span {
        self.span.get_or_init(|| {
            let location = self.origin.location;
            tracing::trace_span!(
                target: "echo::task",
                "runtime.spawn",
                kind = self.kind,
                task.name = self.options.name.as_ref().map(|n| n.as_str()),
                task.id = id().as_u64(),
                priority = self.options.priority.name(),
                loc.file = location.file(),
                loc.line = u64::from(location.line()),
                loc.col = u64::from(location.column()),
            )
        })
    }

    /// The spawner's side: makes the span for the task just submitted (if
    /// its first poll has not already).
    pub(crate) fn spawned<T>(this: Option<Arc<Self>>, handle: &JoinHandle<T>) {
        if let Some(this) = this {
            this.span(|| handle.id());
        }
    }
}

/// A task's future, entering the task's span around each poll and
/// handing it wakers that report to the console.
pub(crate) struct Traced<F> {
    future: F,
    /// `None` when no subscriber wanted trace-level spans at the spawn.
    slot: Option<Arc<Slot>>,
}

/// Wraps `future` for a task of `kind` with these options, spawned at
/// `origin`; the slot goes to [`Slot::spawned`] once the task exists.
/// `current` gives the running task's id, for a first poll that comes
/// before `Slot::spawned`.
///
/// While no subscriber enables the trace level anywhere (one relaxed load
/// of tracing's global maximum level), the task gets no slot and no span,
/// and its polls only test that: a subscriber installed later sees the
/// tasks spawned after it.
#[inline]
pub(crate) fn instrument<F: Future>(
    future: F,
    options: &TaskOptions,
    kind: &'static str,
    origin: Origin,
    current: fn() -> TaskId,
) -> (Traced<F>, Option<Arc<Slot>>) {
    if !tracing::level_enabled!(tracing::Level::TRACE) {
        return (Traced { future, slot: None }, None);
    }
    let slot = Arc::new(Slot {
        span: OnceLock::new(),
        kind,
        options: options.clone(),
        origin,
        current,
    });
    (
        Traced {
            future,
            slot: Some(slot.clone()),
        },
        Some(slot),
    )
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `Traced`, which has no `Drop` of its own and is `Unpin` only when
        // `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let Some(slot) = &this.slot else {
            return future.poll(cx);
        };
        let span = slot.span(slot.current);
        let _entered = span.enter();
        match span.id() {
            Some(id) => {
                let borrowed = Borrowed::new(cx.waker(), id.into_u64());
                let waker = borrowed.waker();
                future.poll(&mut Context::from_waker(&waker))
            }
            // No subscriber wants the span: the task's own waker will do.
            None => future.poll(cx),
        }
    }
}
