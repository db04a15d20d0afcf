//! Waiting for room under the bound on live tasks (`room.rs`): the future
//! of [`Scheduler::spawn_when_room`](crate::Scheduler::spawn_when_room).
//!
//! No lost wake-up: after a refusal for `Full` it registers with the room,
//! then tries once more (see `room.rs`).

use crate::config::{Refusal, SubmitError};
use crate::platform::Platform;
use crate::runtime::{Shared, TaskOptions};
use crate::sync::Arc;
use crate::task::JoinHandle;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Submits a task once the scheduler has room for it; the future of
/// [`Scheduler::spawn_when_room`](crate::Scheduler::spawn_when_room).
///
/// Resolves to the task's handle, or to the future inside an error if the
/// scheduler shut down first.
#[must_use = "futures do nothing unless awaited"]
pub struct SpawnWhenRoom<F: Future, P: Platform> {
    shared: Arc<Shared<P>>,
    future: Option<F>,
    options: TaskOptions,
}

// The inner future is only ever moved, never pinned, so this future may
// move freely.
impl<F: Future, P: Platform> Unpin for SpawnWhenRoom<F, P> {}

impl<F: Future, P: Platform> SpawnWhenRoom<F, P> {
    pub(crate) fn new(shared: Arc<Shared<P>>, future: F, options: TaskOptions) -> Self {
        SpawnWhenRoom {
            shared,
            future: Some(future),
            options,
        }
    }
}

impl<F, P> Future for SpawnWhenRoom<F, P>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    P: Platform,
{
    type Output = Result<JoinHandle<F::Output>, SubmitError<F>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let future = this
            .future
            .take()
            .expect("SpawnWhenRoom polled after completion");
        match Shared::spawn(&this.shared, future, this.options.clone()) {
            Ok(handle) => Poll::Ready(Ok(handle)),
            Err(e) if e.reason() == Refusal::Full => {
                let future = e.into_inner();
                let room = this
                    .shared
                    .room()
                    .expect("only a bounded scheduler is full");
                room.register(cx.waker());
                // Room released between the refusal and the registration
                // would not wake us: try once more.
                match Shared::spawn(&this.shared, future, this.options.clone()) {
                    Ok(handle) => Poll::Ready(Ok(handle)),
                    Err(e) if e.reason() == Refusal::Full => {
                        this.future = Some(e.into_inner());
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<F: Future, P: Platform> fmt::Debug for SpawnWhenRoom<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnWhenRoom")
            .field("priority", &self.options.priority)
            .field("done", &self.future.is_none())
            .finish()
    }
}
