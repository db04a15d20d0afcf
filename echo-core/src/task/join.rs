//! `JoinHandle`: the submitter's view of a task, and `JoinError`.

use super::info::TaskId;
use super::raw::RawTask;
use crate::Priority;
use crate::platform::PanicPayload;
use crate::task::state::{DropRef, HandleRelease, Notify, Reprioritize, Snapshot};
use core::any::Any;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// Why a task produced no value.
pub struct JoinError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// A panic payload that can only be reached by value or through `&mut`,
/// so sharing a `JoinError` between threads cannot reach the `!Sync`
/// payload. (The `Debug` impl only downcasts to `&str` and `String`,
/// which are `Sync`.)
struct SyncPayload(PanicPayload);

// SAFETY: see the type's docs: no `&self` access to the payload except the
// downcasts to `Sync` types in `panic_message`.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(id: TaskId, payload: PanicPayload) -> JoinError {
        JoinError {
            id,
            repr: Repr::Panic(SyncPayload(payload)),
        }
    }

    /// True if the task was cancelled (by `abort`, by shutdown, or because
    /// the submission was refused).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The panic payload, to resume the panic with
    /// `std::panic::resume_unwind` or to inspect it.
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked; see
    /// [`try_into_panic`](JoinError::try_into_panic).
    #[track_caller]
    pub fn into_panic(self) -> PanicPayload {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancelled task's error")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<PanicPayload, JoinError> {
        match self.repr {
            Repr::Panic(SyncPayload(p)) => Ok(p),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(SyncPayload(p)) => payload_str(p.as_ref()),
            Repr::Cancelled => None,
        }
    }
}

fn payload_str(p: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        p.downcast_ref::<alloc::string::String>()
            .map(|s| s.as_str())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "task {} was cancelled", self.id),
            (Repr::Panic(_), Some(msg)) => {
                write!(f, "task {} panicked with message {msg:?}", self.id)
            }
            (Repr::Panic(_), None) => write!(f, "task {} panicked", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled({})", self.id),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({}, {msg:?})", self.id),
            (Repr::Panic(_), None) => write!(f, "JoinError::Panic({}, ..)", self.id),
        }
    }
}

impl core::error::Error for JoinError {}

/// An owned permission to await a task's result.
///
/// A `JoinHandle<T>` is a future of `Result<T, JoinError>`. Dropping it
/// detaches the task (it keeps running); [`abort`](JoinHandle::abort)
/// cancels it. Awaiting it from a task of higher priority raises the
/// awaited task to that priority (priority inheritance).
///
/// Unlike tokio, a detached task that is pending with no waker left
/// anywhere (nothing can ever wake it) is cancelled at once: a worker drops
/// its future and its memory is freed, instead of keeping it until
/// shutdown. The metrics count it as `orphaned`. To keep a value alive
/// until shutdown, keep the handle (or a waker) rather than parking a
/// detached task on a future that never wakes.
///
/// Awaiting a handle gives `Ok(output)` if the task completed, even if
/// [`abort`](JoinHandle::abort) came after that; it gives a [`JoinError`]
/// if the task was cancelled first (by `abort`, by shutdown, or because the
/// submission was refused) or panicked.
///
/// # Panics
///
/// Polling the handle again after it has produced its result panics.
///
/// ```
/// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
/// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
/// # // A one-thread stand-in for echo-std's `Scheduler`.
/// # struct Host(Cell<Option<usize>>);
/// # // SAFETY (all three): only the doctest's one thread uses the host.
/// # unsafe impl Send for Host {}
/// # unsafe impl Sync for Host {}
/// # unsafe impl Platform for Host {
/// #     fn park(&self, _: usize) {}
/// #     fn unpark(&self, _: usize) {}
/// #     fn now_nanos(&self) -> u64 { 0 }
/// #     fn random_seed(&self) -> u64 { 1 }
/// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
/// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
/// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
/// # }
/// # struct Scheduler(echo_sched_core::Scheduler<Host>);
/// # impl Scheduler {
/// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
/// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
/// #         let mut f = pin!(f);
/// #         loop {
/// #             self.0.run_until_idle(0);
/// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
/// #             if let Poll::Ready(v) = ready { return v; }
/// #         }
/// #     }
/// #     fn shutdown(&self) { self.0.shutdown() }
/// # }
/// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
/// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
/// let handle = scheduler.submit(async { 6 * 7 }, Priority::High);
/// assert_eq!(scheduler.block_on(handle)?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinHandle<T> {
    raw: Option<RawTask>,
    /// The submission was refused: the handle resolves to `Cancelled`.
    refused: bool,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves `T` out of the task, so it is `Send` when
// `T` is. It has no `&self` method that touches `T`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw: Some(raw),
            refused: false,
            _output: PhantomData,
        }
    }

    /// The task, unless the submission was refused or the handle has
    /// produced its result.
    #[cfg(any(test, echo_loom))]
    pub(crate) fn raw(&self) -> Option<RawTask> {
        self.raw
    }

    /// A handle for a submission that was refused: it resolves to
    /// `Err(JoinError)` with `is_cancelled()`.
    pub(crate) fn refused() -> JoinHandle<T> {
        JoinHandle {
            raw: None,
            refused: true,
            _output: PhantomData,
        }
    }

    /// The task's id ([`TaskId::NONE`] for a refused submission or after
    /// the handle has produced its result).
    ///
    /// ```
    /// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
    /// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// # // A one-thread stand-in for echo-std's `Scheduler`.
    /// # struct Host(Cell<Option<usize>>);
    /// # // SAFETY (all three): only the doctest's one thread uses the host.
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { 0 }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// # struct Scheduler(echo_sched_core::Scheduler<Host>);
    /// # impl Scheduler {
    /// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
    /// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
    /// #         let mut f = pin!(f);
    /// #         loop {
    /// #             self.0.run_until_idle(0);
    /// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// #             if let Poll::Ready(v) = ready { return v; }
    /// #         }
    /// #     }
    /// #     fn shutdown(&self) { self.0.shutdown() }
    /// # }
    /// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
    /// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
    /// let handle = scheduler.submit(async {}, Priority::Normal);
    /// let id = handle.id();
    /// assert_ne!(id, TaskId::NONE);
    /// println!("waiting for task {id}");
    /// scheduler.block_on(handle)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> TaskId {
        self.raw.map_or(TaskId::NONE, RawTask::id)
    }

    /// Whether the task has finished (completed, panicked or been
    /// cancelled). It never blocks: poll it, or await the handle.
    ///
    /// ```
    /// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
    /// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// # // A one-thread stand-in for echo-std's `Scheduler`.
    /// # struct Host(Cell<Option<usize>>);
    /// # // SAFETY (all three): only the doctest's one thread uses the host.
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { 0 }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// # struct Scheduler(echo_sched_core::Scheduler<Host>);
    /// # impl Scheduler {
    /// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
    /// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
    /// #         let mut f = pin!(f);
    /// #         loop {
    /// #             self.0.run_until_idle(0);
    /// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// #             if let Poll::Ready(v) = ready { return v; }
    /// #         }
    /// #     }
    /// #     fn shutdown(&self) { self.0.shutdown() }
    /// # }
    /// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
    /// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
    /// let forever = scheduler.submit(std::future::pending::<()>(), Priority::Low);
    /// assert!(!forever.is_finished());
    /// scheduler.shutdown(); // cancels every task left
    /// assert!(forever.is_finished());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.is_none_or(|raw| raw.state().load().is_complete())
    }

    /// Cancels the task. If it is waiting or queued, a worker drops its
    /// future soon; if it is running, it stops after the poll in progress.
    /// Awaiting the handle then gives a cancelled `JoinError`, unless the
    /// task completed first, *including in the poll that was in progress
    /// when `abort` was called*: a poll that returns `Ready` delivers its
    /// output (as tokio does; async-task would drop it). Aborting a
    /// finished task does nothing.
    ///
    /// ```
    /// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
    /// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// # // A one-thread stand-in for echo-std's `Scheduler`.
    /// # struct Host(Cell<Option<usize>>);
    /// # // SAFETY (all three): only the doctest's one thread uses the host.
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { 0 }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// # struct Scheduler(echo_sched_core::Scheduler<Host>);
    /// # impl Scheduler {
    /// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
    /// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
    /// #         let mut f = pin!(f);
    /// #         loop {
    /// #             self.0.run_until_idle(0);
    /// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// #             if let Poll::Ready(v) = ready { return v; }
    /// #         }
    /// #     }
    /// #     fn shutdown(&self) { self.0.shutdown() }
    /// # }
    /// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
    /// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
    /// let download = scheduler.submit(std::future::pending::<()>(), Priority::Normal);
    /// download.abort();
    /// let err = scheduler.block_on(download).unwrap_err();
    /// assert!(err.is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&self) {
        if let Some(raw) = self.raw {
            if let Notify::Submit(p) = raw.state().abort() {
                // SAFETY: the transition took a reference for the entry;
                // the handle keeps its own.
                unsafe { raw.schedule(p, true) };
            }
        }
    }

    /// Changes the task's priority. A task already queued moves to the new
    /// tier's queue; a running or waiting task uses the new tier from its
    /// next wake. Returns whether the priority changed (false if it was
    /// already `priority`, or if the task has finished).
    ///
    /// ```
    /// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
    /// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// # // A one-thread stand-in for echo-std's `Scheduler`.
    /// # struct Host(Cell<Option<usize>>);
    /// # // SAFETY (all three): only the doctest's one thread uses the host.
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { 0 }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// # struct Scheduler(echo_sched_core::Scheduler<Host>);
    /// # impl Scheduler {
    /// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
    /// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
    /// #         let mut f = pin!(f);
    /// #         loop {
    /// #             self.0.run_until_idle(0);
    /// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// #             if let Poll::Ready(v) = ready { return v; }
    /// #         }
    /// #     }
    /// #     fn shutdown(&self) { self.0.shutdown() }
    /// # }
    /// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
    /// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
    /// // Indexing was background work, until the user asked for its result.
    /// let index = scheduler.submit(std::future::pending::<()>(), Priority::Low);
    /// assert!(index.set_priority(Priority::High));
    /// assert_eq!(index.priority(), Some(Priority::High));
    /// assert!(!index.set_priority(Priority::High)); // no change
    /// # index.abort();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_priority(&self, priority: Priority) -> bool {
        self.raw
            .is_some_and(|raw| reprioritize(raw, priority, false))
    }

    /// The task's current effective priority (raised by priority
    /// inheritance or [`set_priority`](JoinHandle::set_priority)), or
    /// `None` once it finished.
    ///
    /// ```
    /// # use echo_sched_core::{Config, PanicPayload, Platform, Priority, TaskId};
    /// # use core::{cell::Cell, future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// # // A one-thread stand-in for echo-std's `Scheduler`.
    /// # struct Host(Cell<Option<usize>>);
    /// # // SAFETY (all three): only the doctest's one thread uses the host.
    /// # unsafe impl Send for Host {}
    /// # unsafe impl Sync for Host {}
    /// # unsafe impl Platform for Host {
    /// #     fn park(&self, _: usize) {}
    /// #     fn unpark(&self, _: usize) {}
    /// #     fn now_nanos(&self) -> u64 { 0 }
    /// #     fn random_seed(&self) -> u64 { 1 }
    /// #     fn current_worker(&self) -> Option<usize> { self.0.get() }
    /// #     fn set_current_worker(&self, w: Option<usize>) { self.0.set(w) }
    /// #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
    /// # }
    /// # struct Scheduler(echo_sched_core::Scheduler<Host>);
    /// # impl Scheduler {
    /// #     fn submit<F: Future<Output: Send> + Send + 'static>(&self, f: F, p: Priority) -> echo_sched_core::JoinHandle<F::Output> { self.0.spawn(f, p) }
    /// #     fn block_on<F: Future>(&self, f: F) -> F::Output {
    /// #         let mut f = pin!(f);
    /// #         loop {
    /// #             self.0.run_until_idle(0);
    /// #             let ready = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// #             if let Poll::Ready(v) = ready { return v; }
    /// #         }
    /// #     }
    /// #     fn shutdown(&self) { self.0.shutdown() }
    /// # }
    /// # impl Drop for Scheduler { fn drop(&mut self) { self.0.shutdown() } }
    /// # let scheduler = Scheduler(echo_sched_core::Scheduler::new(Host(Cell::new(None)), Config::new(1)).unwrap());
    /// let backup = scheduler.submit(std::future::pending::<()>(), Priority::Low);
    /// assert_eq!(backup.priority(), Some(Priority::Low));
    /// scheduler.shutdown(); // cancels it
    /// assert_eq!(backup.priority(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn priority(&self) -> Option<Priority> {
        let s = self.raw?.state().load();
        (!s.is_complete()).then(|| s.priority())
    }

    /// Registers `waker` to be woken at completion. Returns false if the
    /// task has already completed (the output can be read).
    fn register(raw: RawTask, waker: &Waker) -> bool {
        let state = raw.state();
        let trailer = raw.trailer();
        let s = state.load();
        if s.is_complete() {
            return false;
        }
        if s.has_join_waker() {
            // The slot is lent to the completer, which only reads it; a
            // shared read here is fine.
            // SAFETY: JOIN_WAKER set and not complete: nobody writes it.
            let same = trailer
                .join_waker
                .with(|w| unsafe { (*w).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return true;
            }
            if state.unset_join_waker().is_err() {
                return false;
            }
        }
        // JOIN_WAKER is clear and the task not complete: the slot is ours.
        // SAFETY: see above.
        trailer
            .join_waker
            .with_mut(|w| unsafe { *w = Some(waker.clone()) });
        if state.set_join_waker().is_err() {
            // Completed meanwhile without seeing our waker: take it back.
            // SAFETY: JOIN_WAKER is still clear, so the slot is still ours.
            let w = trailer.join_waker.with_mut(|w| unsafe { (*w).take() });
            drop(w);
            return false;
        }
        true
    }

    /// Gives up the handle's reference and join interest; `read` says the
    /// output was already moved out.
    #[inline]
    fn release(raw: RawTask, read: bool) {
        match raw.state().release_handle() {
            // The common detach: the reference went in the same step.
            HandleRelease::Released(DropRef::Kept) => {}
            HandleRelease::Released(dropped) => raw.after_drop_ref(dropped),
            HandleRelease::Complete(prev) => Self::release_complete(raw, prev, read),
            HandleRelease::TookWaker => Self::release_took_waker(raw),
        }
    }

    /// Releases a complete task: drops the unread output, takes the waker
    /// slot back unless the completer still holds it, and drops the
    /// handle's reference.
    #[inline]
    fn release_complete(raw: RawTask, prev: Snapshot, read: bool) {
        if prev.has_output() && !read {
            // SAFETY: complete and we held JOIN_INTEREST: the output is
            // ours. Its drop is contained (it may panic, as may the
            // payload of a panic it holds).
            unsafe { raw.drop_output() };
        }
        let waker = if prev.has_join_waker() {
            None
        } else {
            // SAFETY: the completer is done with the slot (or never had
            // it), and we were the last to hold interest.
            raw.trailer()
                .join_waker
                .with_mut(|w| unsafe { (*w).take() })
        };
        // A complete task cannot become an orphan: the plain decrement.
        if raw.state().ref_dec() {
            // SAFETY: the last reference of a complete task whose stage is
            // empty (its output was read or dropped above).
            unsafe { raw.dealloc() };
        }
        // Last: a waker is foreign code and its drop may panic; the task's
        // reference is already given up.
        drop(waker);
    }

    /// Releases a task that is not complete, whose lent waker the release
    /// took back.
    #[cold]
    fn release_took_waker(raw: RawTask) {
        // SAFETY: clearing JOIN_WAKER before completion took the slot back.
        let waker = raw
            .trailer()
            .join_waker
            .with_mut(|w| unsafe { (*w).take() });
        raw.drop_ref();
        // Last, as above.
        drop(waker);
    }
}

/// Applies a priority change and queues the extra entry it may need.
pub(crate) fn reprioritize(raw: RawTask, priority: Priority, raise_only: bool) -> bool {
    match raw.state().set_priority(priority, raise_only) {
        Reprioritize::Unchanged => false,
        Reprioritize::Changed => true,
        Reprioritize::Requeue(p) => {
            // SAFETY: the transition took a reference for the new entry;
            // the caller's handle keeps its own.
            unsafe { raw.schedule(p, true) };
            true
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(raw) = self.raw else {
            if self.refused {
                return Poll::Ready(Err(JoinError::cancelled(TaskId::NONE)));
            }
            panic!("`JoinHandle` polled after it completed");
        };
        if Self::register(raw, cx.waker()) {
            // Priority inheritance: a waiting task lends its tier.
            // SAFETY: the handle's reference keeps the task alive.
            if let Some(mine) = unsafe { (raw.header().vtable.current_priority)(raw.as_ptr()) } {
                reprioritize(raw, mine, true);
            }
            return Poll::Pending;
        }
        // Complete: taking the output spends the awaiting task's budget; a
        // task that has spent it yields first (and takes it next poll).
        // SAFETY: the handle's reference keeps the task alive.
        if !unsafe { (raw.header().vtable.spend_budget)(raw.as_ptr()) } {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // The output (or its absence) is ours to take.
        let s = raw.state().load();
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        if s.has_output() {
            // SAFETY: COMPLETE with OUTPUT, and the handle owns the output;
            // `out` has the type the vtable writes.
            unsafe { (raw.header().vtable.read_output)(raw.as_ptr(), (&raw mut out).cast()) };
        } else {
            out = Poll::Ready(Err(JoinError::cancelled(raw.id())));
        }
        self.raw = None;
        Self::release(raw, s.has_output());
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            Self::release(raw, false);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
