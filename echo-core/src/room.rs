//! The bound on live tasks (`Config::max_tasks`), and waiting for room.
//!
//! Policy:
//! - A submission from outside the pool is admitted only while fewer than
//!   `max` tasks are live (submitted and not finished). `try_spawn` returns
//!   the future with `Refusal::Full`; [`SpawnWhenRoom`] waits for room.
//! - A submission from a task running on a worker is always admitted, even
//!   over the bound. Making it wait could deadlock (the room it waits for
//!   may only come from its own children), and refusing it would lose work
//!   that a detached spawn never checks. So the bound holds against floods
//!   from outside, and work spawned by running tasks is not throttled.
//!
//! No lost wake-up: a waiter registers its waker and sets `has_waiters`,
//! then tries again to take room; a finishing task releases room, then
//! reads `has_waiters`. With both sequentially consistent, either the
//! finisher sees the waiter, or the waiter's retry sees the room.

use crate::config::{Refusal, SubmitError};
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::runtime::TaskOptions;
use crate::spin::SpinLock;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};
use crate::task::JoinHandle;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// Live-task accounting against a bound.
pub(crate) struct Room {
    max: usize,
    live: AtomicUsize,
    has_waiters: AtomicBool,
    waiters: SpinLock<Vec<Waker>>,
}

impl Room {
    pub(crate) fn new(max: usize) -> Room {
        Room {
            max,
            live: AtomicUsize::new(0),
            has_waiters: AtomicBool::new(false),
            waiters: SpinLock::new(Vec::new()),
        }
    }

    /// Takes room for one task if there is any.
    pub(crate) fn try_admit(&self) -> bool {
        let mut live = self.live.load(Ordering::SeqCst);
        loop {
            if live >= self.max {
                return false;
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => live = actual,
            }
        }
    }

    /// Takes room for one task, over the bound if need be.
    pub(crate) fn admit(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    /// A task finished (or an admission was not used): give its room back
    /// and wake the waiters.
    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        if self.has_waiters.load(Ordering::SeqCst) {
            let waiters = {
                let mut w = self.waiters.lock();
                self.has_waiters.store(false, Ordering::SeqCst);
                core::mem::take(&mut *w)
            };
            // Every waiter retries; those that find no room register again.
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Wakes every waiter (at shutdown, so they see it).
    pub(crate) fn wake_all(&self) {
        let waiters = core::mem::take(&mut *self.waiters.lock());
        for w in waiters {
            w.wake();
        }
    }

    /// Registers `waker` to be woken when room is released.
    fn register(&self, waker: &Waker) {
        let mut w = self.waiters.lock();
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
        self.has_waiters.store(true, Ordering::SeqCst);
    }
}

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
