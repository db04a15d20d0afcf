//! `JoinSet`: a set of tasks whose results come back in the order the
//! tasks finish.
//!
//! How it finds finished tasks without polling every handle: each task's
//! future is wrapped so that it carries a `Finished` guard holding the
//! task's key in the set. When the task's future returns, the wrapper
//! hands the output to the guard and drops it; when the future never
//! returns (it panicked, was cancelled, or was refused at submission),
//! the guard drops with the future. Either way it drops exactly once, and
//! then pushes its key, with the output if there is one, on the set's
//! `Ready` queue and wakes the task waiting in `join_next`. So the queue
//! holds the tasks in the order they finished, and a completed task's
//! output needs no handle at all.
//!
//! Invariants:
//! - Each task is on the `Ready` queue exactly once, and only once its
//!   future has returned or been dropped.
//! - A task on the queue without an output panicked or was cancelled: its
//!   handle (kept only for that and for `abort`) gives the `JoinError`.
//!   The guard drops just before the core marks the task complete, so
//!   that handle may still be pending for a moment; it then waits, with
//!   the caller's waker registered, in `failing`, which only ever holds
//!   such tasks.
//! - Only finished tasks' handles are polled, so waiting in `join_next`
//!   lends no priority to the set's running tasks.

use crate::context::Handle;
use echo_sched_core::{JoinError, JoinHandle, Priority};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A set of tasks, all with output `T`, awaited in the order they finish.
///
/// [`spawn`](JoinSet::spawn) adds a task; [`join_next`](JoinSet::join_next)
/// waits for the next one to finish (in completion order, not submission
/// order) and gives its result. [`abort_all`](JoinSet::abort_all) cancels
/// them all, and dropping the set does too.
///
/// ```
/// use echo_std::task::JoinSet;
/// use echo_std::{Priority, Scheduler};
///
/// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
/// let total = scheduler.block_on(async {
///     let mut set = JoinSet::new();
///     for i in 1..=4u32 {
///         set.spawn(async move { i * 10 }, Priority::Normal);
///     }
///     let mut total = 0;
///     while let Some(result) = set.join_next().await {
///         total += result.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 100);
/// ```
pub struct JoinSet<T> {
    /// The handles of the tasks not yet returned by `join_next`, for
    /// `abort` and for the errors of tasks that produced no output.
    tasks: HashMap<u64, JoinHandle<()>>,
    /// Tasks taken off the ready queue without an output whose handles
    /// were still pending.
    failing: VecDeque<u64>,
    ready: Arc<Mutex<Ready<T>>>,
    next_key: u64,
}

/// The finished tasks (key, and output unless it panicked or was
/// cancelled) in the order they finished, and the waker of the task
/// waiting for one.
struct Ready<T> {
    finished: VecDeque<(u64, Option<T>)>,
    waker: Option<Waker>,
}

fn lock<T>(ready: &Mutex<Ready<T>>) -> MutexGuard<'_, Ready<T>> {
    // Nothing panics while holding the lock; recover anyway.
    ready.lock().unwrap_or_else(|e| e.into_inner())
}

/// Carried by a task's future; reports the task finished when dropped
/// (by [`deliver`](Finished::deliver) or with the future).
struct Finished<T> {
    key: u64,
    /// Set by the wrapper when the task's future returns.
    output: Option<T>,
    ready: Arc<Mutex<Ready<T>>>,
}

impl<T> Finished<T> {
    /// Reports the task's output (consuming the guard, which drops here).
    fn deliver(mut self, output: T) {
        self.output = Some(output);
    }
}

impl<T> Drop for Finished<T> {
    fn drop(&mut self) {
        let waker = {
            let mut ready = lock(&self.ready);
            ready.finished.push_back((self.key, self.output.take()));
            ready.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// ```
    /// let set: echo_std::task::JoinSet<u32> = echo_std::task::JoinSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: HashMap::new(),
            failing: VecDeque::new(),
            ready: Arc::new(Mutex::new(Ready {
                finished: VecDeque::new(),
                waker: None,
            })),
            next_key: 0,
        }
    }

    /// The number of tasks in the set: spawned and not yet returned by
    /// [`join_next`](JoinSet::join_next), finished or not.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     assert!(set.is_empty());
    ///     set.spawn(async { 1 }, Priority::Low);
    ///     assert_eq!(set.len(), 1);
    ///     set.join_next().await;
    ///     assert_eq!(set.len(), 0);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set has no tasks; see [`len`](JoinSet::len).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task in the set. They stay in the set:
    /// [`join_next`](JoinSet::join_next) returns each one's result, a
    /// cancelled [`JoinError`] unless it had already finished.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(std::future::pending::<()>(), Priority::Normal);
    ///     set.abort_all();
    ///     assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort_all(&mut self) {
        for handle in self.tasks.values() {
            handle.abort();
        }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Submits `future` at `priority` to the current scheduler (the one
    /// running the calling task, or the enclosing `block_on`'s) and adds
    /// it to the set. Returns nothing: to tell results apart, make the
    /// output say which task it came from.
    ///
    /// After that scheduler has shut down, the task is refused and
    /// [`join_next`](JoinSet::join_next) returns a cancelled
    /// [`JoinError`] for it.
    ///
    /// # Panics
    ///
    /// If the calling thread belongs to no scheduler; use
    /// [`spawn_on`](JoinSet::spawn_on) there.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
    /// let names = scheduler.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(async { "low" }, Priority::Low);
    ///     set.spawn(async { "high" }, Priority::High);
    ///     let mut names = vec![];
    ///     while let Some(name) = set.join_next().await {
    ///         names.push(name.unwrap());
    ///     }
    ///     names.sort();
    ///     names
    /// });
    /// assert_eq!(names, ["high", "low"]);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F, priority: Priority)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let Ok(handle) = Handle::try_current() else {
            panic!(
                "echo: JoinSet::spawn called outside an Echo scheduler: call it from a \
                 task, or inside Scheduler::block_on, or use JoinSet::spawn_on"
            );
        };
        self.spawn_on(future, priority, &handle);
    }

    /// Submits `future` at `priority` through `handle` (as
    /// [`Handle::spawn`] does) and adds it to the set.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// let mut set = JoinSet::new();
    /// set.spawn_on(async { "hi" }, Priority::High, &scheduler.handle());
    /// let first = scheduler.block_on(set.join_next());
    /// assert_eq!(first.unwrap().unwrap(), "hi");
    /// ```
    #[cfg_attr(feature = "console", track_caller)]
    pub fn spawn_on<F>(&mut self, future: F, priority: Priority, handle: &Handle)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let key = self.next_key;
        self.next_key += 1;
        let finished = Finished {
            key,
            output: None,
            ready: self.ready.clone(),
        };
        let task = handle.spawn(
            async move {
                let output = future.await;
                finished.deliver(output);
            },
            priority,
        );
        self.tasks.insert(key, task);
    }

    /// Waits for the next task to finish and returns its result, or
    /// `None` if the set is empty. Tasks come back in the order they
    /// finished. The task is removed from the set.
    ///
    /// Cancel safe: if the returned future is dropped before it is ready,
    /// no result is lost.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(async { panic!("boom") }, Priority::Normal);
    ///     assert!(set.join_next().await.unwrap().unwrap_err().is_panic());
    ///     assert!(set.join_next().await.is_none());
    /// });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The polling form of [`join_next`](JoinSet::join_next), for
    /// hand-written futures: `Ready(None)` when the set is empty, otherwise
    /// `Pending` until a task has finished (the waker is woken then).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use echo_std::{Priority, Scheduler, task::JoinSet};
    /// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
    /// scheduler.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(async { 5 }, Priority::Normal);
    ///     let five = poll_fn(|cx| set.poll_join_next(cx)).await;
    ///     assert_eq!(five.unwrap().unwrap(), 5);
    /// });
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        if let Some(error) = self.poll_failing(cx) {
            return Poll::Ready(Some(Err(error)));
        }
        loop {
            let next = {
                let mut ready = lock(&self.ready);
                let next = ready.finished.pop_front();
                if next.is_none() {
                    // Seen empty and waker left in one critical section:
                    // the next finish wakes us.
                    match &mut ready.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                }
                next
            };
            match next {
                None => return Poll::Pending,
                Some((key, Some(output))) => {
                    // The handle has nothing more to say; dropping it
                    // detaches a task that is completing anyway.
                    self.tasks.remove(&key);
                    return Poll::Ready(Some(Ok(output)));
                }
                Some((key, None)) => {
                    self.failing.push_back(key);
                    if let Some(error) = self.poll_failing(cx) {
                        return Poll::Ready(Some(Err(error)));
                    }
                }
            }
        }
    }

    /// The error of the first task in `failing` whose handle has resolved.
    fn poll_failing(&mut self, cx: &mut Context<'_>) -> Option<JoinError> {
        for i in 0..self.failing.len() {
            let key = self.failing[i];
            let Some(handle) = self.tasks.get_mut(&key) else {
                continue;
            };
            if let Poll::Ready(result) = Pin::new(handle).poll(cx) {
                self.failing.remove(i);
                self.tasks.remove(&key);
                let Err(error) = result else {
                    unreachable!("a task that returned handed its output to the set")
                };
                return Some(error);
            }
        }
        None
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Cancels every task still in the set.
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}
