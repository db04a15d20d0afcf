//! Task-local values: `task_local!` declares a key, `LocalKey::scope`
//! wraps a future so that the value is visible during every poll of it.
//!
//! Invariants:
//! - The value lives in the wrapping future, not in the thread. For the
//!   length of each poll it is moved into the key's thread-local slot of
//!   the thread doing the poll, and moved back out when the poll returns
//!   (also when it unwinds). So it follows the task from worker to worker
//!   and is never seen by another task polled on the same thread.
//! - Scopes nest: entering saves the slot's previous content (an outer
//!   scope's value) and leaving restores it.
//! - The wrapped future is also dropped inside the scope, so its
//!   destructors can read the value.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: Type;`, any number of them,
/// each with its own visibility and attributes.
///
/// A key has no value until [`LocalKey::scope`] (for a future) or
/// [`LocalKey::sync_scope`] (for a closure) gives it one.
///
/// ```
/// use echo_std::{Priority, Scheduler};
///
/// echo_std::task_local! {
///     /// The request being served.
///     static REQUEST_ID: u64;
///     pub static USER: String;
/// }
///
/// let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
/// let job = scheduler.submit(
///     REQUEST_ID.scope(7, async {
///         echo_std::yield_now().await;
///         REQUEST_ID.get()
///     }),
///     Priority::Normal,
/// );
/// assert_eq!(scheduler.block_on(job).unwrap(), 7);
/// assert!(REQUEST_ID.try_with(|id| *id).is_err());
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $ty:ty; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$ty> = {
            ::std::thread_local! {
                static SLOT: ::std::cell::RefCell<::std::option::Option<$ty>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey { __slot: SLOT }
        };
        $crate::task_local!($($rest)*);
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local!).
///
/// ```
/// echo_std::task_local! { static TENANT: String; }
/// let key: &'static echo_std::task::LocalKey<String> = &TENANT;
/// assert_eq!(key.sync_scope("acme".into(), || TENANT.get()), "acme");
/// ```
pub struct LocalKey<T: 'static> {
    /// The thread's slot; filled only while a scope is being polled on
    /// this thread. Public only for the macro.
    #[doc(hidden)]
    pub __slot: std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    /// Wraps `future` so that the key holds `value` during each of its
    /// polls, on whichever thread polls it. The future's output is the
    /// wrapped future's.
    ///
    /// ```
    /// echo_std::task_local! { static DEPTH: u32; }
    /// let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
    /// let depths = scheduler.block_on(DEPTH.scope(1, async {
    ///     let inner = DEPTH.scope(2, async { DEPTH.get() }).await;
    ///     (inner, DEPTH.get())
    /// }));
    /// assert_eq!(depths, (2, 1));
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            value: Some(value),
            future: Some(Box::pin(future)),
        }
    }

    /// Runs `f` with the key holding `value`, on the calling thread, and
    /// returns what `f` returns.
    ///
    /// # Panics
    ///
    /// If called from inside [`with`](LocalKey::with) or
    /// [`try_with`](LocalKey::try_with) of the same key.
    ///
    /// ```
    /// echo_std::task_local! { static LABEL: &'static str; }
    /// assert_eq!(LABEL.sync_scope("a", || LABEL.get()), "a");
    /// ```
    #[track_caller]
    pub fn sync_scope<R>(&'static self, value: T, f: impl FnOnce() -> R) -> R {
        let mut value = Some(value);
        let _entered = Entered::new(self, &mut value);
        f()
    }

    /// Calls `f` with a reference to the value of the current scope.
    ///
    /// # Panics
    ///
    /// Outside any scope of this key (for example in a task that did not
    /// wrap its future with [`scope`](LocalKey::scope)); use
    /// [`try_with`](LocalKey::try_with) to get an error instead.
    ///
    /// ```
    /// echo_std::task_local! { static NAME: String; }
    /// let len = NAME.sync_scope("echo".to_owned(), || NAME.with(|n| n.len()));
    /// assert_eq!(len, 4);
    /// ```
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Calls `f` with a reference to the value of the current scope.
    ///
    /// # Errors
    ///
    /// [`AccessError`] outside any scope of this key.
    ///
    /// ```
    /// echo_std::task_local! { static NAME: String; }
    /// assert!(NAME.try_with(|n| n.clone()).is_err());
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        // The slot is gone only while the thread is exiting: then no scope
        // can be running on it either.
        self.__slot
            .try_with(|slot| slot.borrow().as_ref().map(f))
            .ok()
            .flatten()
            .ok_or(AccessError(()))
    }

    /// A clone of the value of the current scope.
    ///
    /// # Panics
    ///
    /// Outside any scope of this key, as [`with`](LocalKey::with).
    ///
    /// ```
    /// echo_std::task_local! { static ID: u64; }
    /// assert_eq!(ID.sync_scope(3, || ID.get()), 3);
    /// ```
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey(..)")
    }
}

/// While alive, the key's slot holds the value taken from `home`; on drop
/// the value goes back to `home` and the slot gets its previous content.
struct Entered<'a, T: 'static> {
    key: &'static LocalKey<T>,
    home: &'a mut Option<T>,
    previous: Option<T>,
}

impl<'a, T: 'static> Entered<'a, T> {
    #[track_caller]
    fn new(key: &'static LocalKey<T>, home: &'a mut Option<T>) -> Self {
        let previous = key.__slot.with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => std::mem::replace(&mut *slot, home.take()),
            Err(_) => {
                panic!("echo: a task-local scope was entered from inside `with` of the same key")
            }
        });
        Entered {
            key,
            home,
            previous,
        }
    }
}

impl<T: 'static> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Leaving a scope cannot happen inside `with` (a scope entered
        // there panicked in `new`), so the slot is not borrowed.
        let _ = self.key.__slot.try_with(|slot| {
            *self.home = std::mem::replace(&mut *slot.borrow_mut(), previous);
        });
    }
}

/// The future returned by [`LocalKey::scope`]: the wrapped future, polled
/// with the key holding the scope's value.
///
/// ```
/// use echo_std::task::TaskLocalFuture;
/// echo_std::task_local! { static N: u8; }
/// let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
/// let scoped: TaskLocalFuture<u8, _> = N.scope(4, async { N.get() * 2 });
/// assert_eq!(scheduler.block_on(scoped), 8);
/// ```
///
/// # Panics
///
/// A poll panics if it happens inside [`LocalKey::with`] of the same key
/// (a scope cannot be entered while the value is borrowed).
#[must_use = "futures do nothing unless awaited"]
pub struct TaskLocalFuture<T: 'static, F> {
    key: &'static LocalKey<T>,
    /// The scope's value, between polls.
    value: Option<T>,
    /// `None` once dropped (in `Drop`, inside the scope).
    future: Option<Pin<Box<F>>>,
}

// The value is moved in and out of the slot at every poll, so it is never
// pinned, and the future is boxed: moving the wrapper is always fine.
impl<T: 'static, F> Unpin for TaskLocalFuture<T, F> {}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let future = this
            .future
            .as_mut()
            .expect("`TaskLocalFuture` polled after it was dropped");
        let _entered = Entered::new(this.key, &mut this.value);
        future.as_mut().poll(cx)
    }
}

impl<T: 'static, F> Drop for TaskLocalFuture<T, F> {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        // Drop the future inside the scope so its destructors see the
        // value; if the slot is borrowed (dropped inside `with`), or the
        // thread is exiting, drop it outside.
        let in_with = self
            .key
            .__slot
            .try_with(|slot| slot.try_borrow_mut().is_err())
            .unwrap_or(true);
        if in_with {
            drop(future);
        } else {
            let _entered = Entered::new(self.key, &mut self.value);
            drop(future);
        }
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture").finish_non_exhaustive()
    }
}

/// The error of [`LocalKey::try_with`]: the key has no value here (no
/// scope of it is being polled on this thread).
///
/// ```
/// echo_std::task_local! { static N: u8; }
/// let err: echo_std::task::AccessError = N.try_with(|n| *n).unwrap_err();
/// assert!(err.to_string().contains("outside any scope"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessError(());

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessError")
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("echo: task-local value read outside any scope of its key")
    }
}

impl std::error::Error for AccessError {}
