//! What a task can learn about itself: id, priority, age, name.

use crate::Priority;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

/// A task's id, unique within its scheduler.
///
/// ```
/// # use echo_core::TaskId;
/// let id = TaskId::from_u64(7);
/// assert_eq!(id.as_u64(), 7);
/// assert_eq!(id.to_string(), "7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    /// The id of a submission that was refused and never became a task.
    pub const NONE: TaskId = TaskId(0);

    /// Wraps a raw id.
    pub const fn from_u64(id: u64) -> TaskId {
        TaskId(id)
    }

    /// The raw id.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A task's name: cheap to clone, one pointer wide so that it costs an
/// unnamed task only 8 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TaskName(Arc<String>);

impl TaskName {
    /// Makes a name.
    pub fn new(name: impl Into<String>) -> TaskName {
        TaskName(Arc::new(name.into()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for TaskName {
    fn from(s: &str) -> Self {
        TaskName::new(s)
    }
}

impl From<String> for TaskName {
    fn from(s: String) -> Self {
        TaskName::new(s)
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A snapshot of a running task's identity, taken with
/// [`Scheduler::current_task`](crate::Scheduler::current_task).
#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub(crate) id: TaskId,
    pub(crate) priority: Priority,
    pub(crate) created_nanos: u64,
    pub(crate) age: Duration,
    pub(crate) name: Option<TaskName>,
}

impl TaskInfo {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's effective priority when the snapshot was taken (raised
    /// by priority inheritance or `set_priority`, if that happened).
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(TaskName::as_str)
    }

    /// When the task was created, on the platform's clock.
    pub fn created_nanos(&self) -> u64 {
        self.created_nanos
    }

    /// How long the task had existed when the snapshot was taken.
    pub fn age(&self) -> Duration {
        self.age
    }
}
