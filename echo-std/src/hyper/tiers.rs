//! Tiers per route: which Echo tier serves each request, chosen by the
//! request's path, so that one server (and one HTTP/2 connection) carries
//! High and Low methods side by side. gRPC paths are
//! `/package.Service/Method`, so a prefix picks a service or a method.
//!
//! Where a request runs, and at which tier:
//!
//! - **HTTP/2**: hyper calls the service on the connection's task, then
//!   spawns the returned future as a stream task through the server's
//!   executor, at the connection's tier. On its first poll the stream
//!   moves itself to its route's tier and, if that differs, yields once,
//!   so that all of its work (the handler, its streaming request and
//!   response bodies) runs at the route's tier.
//! - **HTTP/1**: the future runs inside the connection's task; a request
//!   raises the connection to its route's tier (never lowers it).
//! - **The connection** runs at the most urgent tier among the routes it
//!   has carried (raise-only), starting from the server's connection tier:
//!   it reads every stream's frames, so a High method's request waits for
//!   no Low work to reach its stream. The server may watch a High
//!   connection's socket (see the `hyper` module, "High readiness").

use echo_sched_core::{Priority, TaskId};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Which tier serves each request, by path prefix.
///
/// Routes are tried in the order they were added; the first prefix that
/// the request's path starts with gives its tier, else the default.
///
/// ```
/// use echo_std::hyper::Tiers;
/// use echo_std::Priority;
///
/// let tiers = Tiers::new(Priority::Normal)
///     .route("/editor.Ui/", Priority::High)          // a whole gRPC service
///     .route("/editor.Index/Rebuild", Priority::Low); // one method
/// assert_eq!(tiers.tier_of("/editor.Ui/Frame"), Priority::High);
/// assert_eq!(tiers.tier_of("/editor.Index/Rebuild"), Priority::Low);
/// assert_eq!(tiers.tier_of("/editor.Index/Lookup"), Priority::Normal);
/// ```
#[derive(Clone, Debug)]
pub struct Tiers {
    routes: Vec<(String, Priority)>,
    default: Priority,
}

impl Tiers {
    /// Every request at `default`, until routes are added.
    pub fn new(default: Priority) -> Tiers {
        Tiers {
            routes: Vec::new(),
            default,
        }
    }

    /// Serves requests whose path starts with `prefix` at `priority`.
    pub fn route(mut self, prefix: impl Into<String>, priority: Priority) -> Tiers {
        self.routes.push((prefix.into(), priority));
        self
    }

    /// The tier of a request for `path`.
    pub fn tier_of(&self, path: &str) -> Priority {
        self.routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(self.default, |&(_, p)| p)
    }

    /// The tier of requests no route matches.
    pub fn default_tier(&self) -> Priority {
        self.default
    }
}

impl Default for Tiers {
    /// Every request at Normal.
    fn default() -> Tiers {
        Tiers::new(Priority::Normal)
    }
}

/// One connection's tier: the most urgent its routes have asked for.
pub(crate) struct ConnectionTier {
    /// `Priority::index` of the tier (lower is more urgent).
    index: AtomicUsize,
    /// Called once, on the connection's task, when it becomes High.
    on_high: Box<dyn Fn() + Send + Sync>,
}

impl ConnectionTier {
    pub(crate) fn new(start: Priority, on_high: Box<dyn Fn() + Send + Sync>) -> ConnectionTier {
        ConnectionTier {
            index: AtomicUsize::new(start.index()),
            on_high,
        }
    }

    /// Raises the calling task (the connection's) to `tier` if that is
    /// more urgent than its tier so far.
    fn raise(&self, tier: Priority) {
        let was = Priority::ALL[self.index.load(Ordering::Relaxed)];
        if tier.is_above(was) {
            // Only the connection's task calls this: no lost update.
            self.index.store(tier.index(), Ordering::Relaxed);
            crate::task::set_priority(tier);
            if tier == Priority::High {
                (self.on_high)();
            }
        }
    }
}

/// A service whose requests run at their route's tier (see the module
/// docs); one per connection.
pub(crate) struct TieredService<S> {
    pub(crate) inner: S,
    pub(crate) tiers: Arc<Tiers>,
    pub(crate) connection: Arc<ConnectionTier>,
}

impl<S, B> ::hyper::service::Service<::hyper::Request<B>> for TieredService<S>
where
    S: ::hyper::service::Service<::hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tiered<S::Future>;

    fn call(&self, request: ::hyper::Request<B>) -> Self::Future {
        let tier = self.tiers.tier_of(request.uri().path());
        self.connection.raise(tier);
        Tiered {
            future: self.inner.call(request),
            tier,
            caller: crate::task::current().map(|t| t.id()),
            placed: false,
        }
    }
}

/// A request's future: moves the task that polls it to the route's tier
/// if that task is not the one that made it (an HTTP/2 stream's).
pub(crate) struct Tiered<F> {
    future: F,
    tier: Priority,
    /// The task that called the service (the connection's).
    caller: Option<TaskId>,
    /// The first poll has placed the task.
    placed: bool,
}

impl<F: Future> Future for Tiered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned structurally (never moved out of a
        // pinned `Tiered`, which has no `Drop`); the other fields are
        // plain data, not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.placed {
            this.placed = true;
            if let Some(me) = crate::task::current() {
                if Some(me.id()) != this.caller
                    && me.priority() != this.tier
                    && crate::task::set_priority(this.tier)
                {
                    // Queued again at the route's tier before any work.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        // SAFETY: see above.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}
