//! The platform's hook into an I/O reactor (feature `tokio`): what the
//! workers drive besides their own queues.
//!
//! The platform holds one as a trait object, so that this layer need not
//! know the reactor's type (the `tokio_bridge` module implements it). A
//! worker reaches it only when it parks with a deadline or takes a
//! scheduling point's non-blocking turn, both far rarer than polls, so the
//! dynamic call costs nothing measurable.

use crate::host::park::Parker;
use std::time::Instant;

/// An event loop that the workers drive.
pub(crate) trait EventLoop: Send + Sync {
    /// A busy worker's turn: looks for ready events without blocking.
    fn poll(&self);

    /// The sleeper's park: waits inside the event loop until `parker` is
    /// unparked or `deadline` passes. Returns false if it did not wait
    /// (the caller then parks on `parker` itself).
    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) -> bool;
}
