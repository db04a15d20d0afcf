//! Tasks: the allocation layout, the state machine, wakers and handles.

pub(crate) mod header;
pub(crate) mod info;
pub(crate) mod join;
pub(crate) mod raw;
pub(crate) mod schedule;
pub(crate) mod state;
pub(crate) mod waker;

pub(crate) use header::FREE_LINK_OFFSET;
pub use info::{TaskId, TaskInfo, TaskName};
pub use join::{JoinError, JoinHandle};
