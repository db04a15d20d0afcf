//! Tasks: the allocation layout, the state machine, wakers and handles.

pub(crate) mod harness;
pub(crate) mod header;
pub(crate) mod info;
pub(crate) mod join;
#[cfg(any(test, echo_loom))]
pub(crate) mod model_host;
pub(crate) mod named;
pub(crate) mod raw;
pub(crate) mod schedule;
pub(crate) mod state;
#[cfg(all(test, not(echo_loom)))]
mod tests;
pub(crate) mod waker;

pub use info::{TaskId, TaskInfo, TaskName};
pub use join::{JoinError, JoinHandle};
