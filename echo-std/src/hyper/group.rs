//! A server's tasks (its accept loop, connections and HTTP/2 streams), so
//! that dropping the server cancels every one of them.
//!
//! Invariants:
//! - A task is entered before it is spawned (its key reserved with no
//!   handle), so a task that finishes before its spawner stores the
//!   handle still finds its key, removes it, and the late handle is
//!   dropped instead of stored: no finished task stays in the map.
//! - A task removes its key when its future is dropped (finished,
//!   cancelled or refused), exactly once.
//! - After `close`, nothing is entered: a spawn then drops its future
//!   instead. The tasks found at `close` are aborted, and a spawn that
//!   was under way then finds its key gone with the group closed and
//!   aborts its own task.

use crate::context::Handle;
use echo_sched_core::{JoinHandle, Priority};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// The live tasks of one server.
#[derive(Default)]
pub(crate) struct Group {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each live task's handle; `None` between its entry and its spawn's
    /// return.
    tasks: HashMap<u64, Option<JoinHandle<()>>>,
    next_key: u64,
    closed: bool,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `future` at `priority` on `handle`'s scheduler, or the
    /// current one, as a member of the group.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F, priority: Priority, handle: Option<&Handle>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let key = {
            let mut inner = self.lock();
            if inner.closed {
                return;
            }
            let key = inner.next_key;
            inner.next_key += 1;
            inner.tasks.insert(key, None);
            key
        };
        let member = Member {
            future,
            _guard: Leave {
                group: self.clone(),
                key,
            },
        };
        let join = match handle {
            Some(handle) => handle.spawn(member, priority),
            None => crate::spawn(member, priority),
        };
        let mut inner = self.lock();
        let closed = inner.closed;
        match inner.tasks.get_mut(&key) {
            Some(slot) => *slot = Some(join),
            // Closed while it was being spawned: `close` could not see it.
            None if closed => {
                drop(inner);
                join.abort();
            }
            // Already finished.
            None => {}
        }
    }

    /// Live members.
    pub(crate) fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    /// Refuses new members and aborts every live one.
    pub(crate) fn close(&self) {
        let tasks: Vec<_> = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.tasks.drain().filter_map(|(_, h)| h).collect()
        };
        // Outside the lock: an abort may drop a future at once, whose
        // `Leave` takes the lock.
        for task in tasks {
            task.abort();
        }
    }
}

/// A member's future; its output is dropped.
struct Member<F> {
    future: F,
    _guard: Leave,
}

impl<F: Future> Future for Member<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is pinned structurally: it is never moved out
        // of a pinned `Member` (which has no `Drop` of its own).
        let future = unsafe { self.map_unchecked_mut(|m| &mut m.future) };
        future.poll(cx).map(drop)
    }
}

/// Removes a member's key when its future is dropped.
struct Leave {
    group: Arc<Group>,
    key: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        // The handle, if stored, is dropped outside the lock (detaching).
        let handle = self.group.lock().tasks.remove(&self.key);
        drop(handle);
    }
}
