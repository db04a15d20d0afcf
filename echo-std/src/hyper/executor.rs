//! `EchoExecutor`: hyper's `Executor` on Echo, at a tier the app chooses.
//!
//! hyper spawns the tasks it needs through `hyper::rt::Executor`: a
//! server's HTTP/2 streams (one task per request), a client's HTTP/2
//! connection driver, upgraded connections. tonic's client does too
//! (`Endpoint::executor`). Each one becomes an Echo task here.
//!
//! Invariant: every future given to `execute` is spawned exactly once, on
//! the scheduler of the calling thread or of the executor's `Handle`, and
//! when the executor belongs to a [`Server`](super::Server) it is also
//! entered in that server's task group before it can run, so that the
//! server's drop finds it.

use crate::context::Handle;
use crate::hyper::group::Group;
use echo_sched_core::Priority;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// A `hyper::rt::Executor` that spawns each future as an Echo task at the
/// tier it was made with.
///
/// [`new`](EchoExecutor::new) spawns on the scheduler of the calling
/// thread (a task, or inside `block_on`), as [`echo_std::spawn`](crate::spawn)
/// does, and panics elsewhere; [`with_handle`](EchoExecutor::with_handle)
/// spawns through a [`Handle`], from any thread.
///
/// ```
/// use echo_std::hyper::EchoExecutor;
/// use echo_std::{Priority, Scheduler};
/// use hyper::rt::Executor;
///
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let ui = EchoExecutor::with_handle(scheduler.handle(), Priority::High);
/// ui.execute(async move {
///     tx.send(echo_std::task::current().unwrap().priority()).unwrap();
/// });
/// assert_eq!(rx.recv()?, Priority::High);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With hyper's HTTP/2 client (tonic's `Endpoint::executor` takes the
/// same value):
///
/// ```no_run
/// # async fn connect(io: hyper_util::rt::TokioIo<tokio::net::TcpStream>) -> hyper::Result<()> {
/// use echo_std::hyper::{EchoExecutor, EchoTimer};
/// use echo_std::Priority;
/// let (sender, connection) = hyper::client::conn::http2::Builder::new(EchoExecutor::new(Priority::High))
///     .timer(EchoTimer::new())
///     .handshake::<_, http_body_util::Empty<hyper::body::Bytes>>(io)
///     .await?;
/// echo_std::spawn(connection, Priority::High);
/// # drop(sender); Ok(()) }
/// ```
#[derive(Clone)]
pub struct EchoExecutor {
    /// The tier of what it spawns; `None`: the tier of the spawning task
    /// (a server's streams start at their connection's tier).
    priority: Option<Priority>,
    handle: Option<Handle>,
    /// A server's executor enters what it spawns in the server's group.
    group: Option<Arc<Group>>,
}

impl EchoExecutor {
    /// Spawns at `priority` on the scheduler of the thread that calls
    /// `execute`.
    ///
    /// `execute` panics if that thread belongs to no scheduler (it is not
    /// a worker, not inside `block_on` and not a blocking-pool thread).
    pub fn new(priority: Priority) -> EchoExecutor {
        EchoExecutor {
            priority: Some(priority),
            handle: None,
            group: None,
        }
    }

    /// Spawns at `priority` on `handle`'s scheduler, from any thread.
    pub fn with_handle(handle: Handle, priority: Priority) -> EchoExecutor {
        EchoExecutor {
            priority: Some(priority),
            handle: Some(handle),
            group: None,
        }
    }

    /// A server's executor: spawns at the spawning task's tier (Normal
    /// off a task) and enters each task in `group`.
    pub(crate) fn for_server(group: Arc<Group>) -> EchoExecutor {
        EchoExecutor {
            priority: None,
            handle: None,
            group: Some(group),
        }
    }

    /// The tier it spawns at (`None`: the spawning task's).
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }

    fn tier_now(&self) -> Priority {
        self.priority.unwrap_or_else(|| {
            crate::task::current().map_or(Priority::Normal, |task| task.priority())
        })
    }
}

impl<F> ::hyper::rt::Executor<F> for EchoExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let priority = self.tier_now();
        match &self.group {
            Some(group) => group.spawn(future, priority, self.handle.as_ref()),
            None => {
                // Detached: hyper keeps what it needs of the task (a
                // stream's handle, a connection's channel) itself.
                drop(match &self.handle {
                    Some(handle) => handle.spawn(future, priority),
                    None => crate::spawn(future, priority),
                });
            }
        }
    }
}

impl fmt::Debug for EchoExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoExecutor")
            .field("priority", &self.priority)
            .field("handle", &self.handle.is_some())
            .finish_non_exhaustive()
    }
}
