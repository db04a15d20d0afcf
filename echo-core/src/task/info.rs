//! What a task can learn about itself: id, priority, age, name.

use crate::Priority;
use crate::sync::PlainArc as Arc;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

/// A task's id, unique within its scheduler.
///
/// An id also records when the task was made: its high bits are the
/// creation time in 32 ns ticks of the platform clock (made strictly
/// increasing per worker, so two tasks never share one), its low 11 bits
/// name the worker or submission shard that made it, so the header needs
/// no separate creation time. The clock field lasts 9 years of uptime.
///
/// ```
/// # use echo_sched_core::TaskId;
/// let id = TaskId::from_u64(7);
/// assert_eq!(id.as_u64(), 7);
/// assert_eq!(id.to_string(), "7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

/// Bits of an id that name its source (a worker or a shard).
pub(crate) const ID_SOURCE_BITS: u32 = 11;
/// log2 of the id clock's tick in nanoseconds.
const TICK_SHIFT: u32 = 5;

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

    /// Whether the task is in the 1-in-64 sample whose first-poll latency
    /// the metrics record. A multiplicative hash of the id (Fibonacci
    /// hashing) spreads ids made at a regular pace evenly, where their low
    /// bits alone would not.
    #[inline]
    pub(crate) const fn is_sampled(self) -> bool {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58 == 0
    }

    /// The creation time the id records, on the platform clock, to 32 ns.
    pub const fn created_nanos(self) -> u64 {
        (self.0 >> ID_SOURCE_BITS) << TICK_SHIFT
    }
}

/// Makes ids for one source (a worker or a shard): creation time in ticks,
/// bumped past the previous id's so that ids never repeat.
#[derive(Debug)]
pub(crate) struct IdClock {
    source: u64,
    last_tick: u64,
}

impl IdClock {
    pub(crate) const fn new(source: u64) -> IdClock {
        IdClock {
            source,
            last_tick: 0,
        }
    }

    /// The id of a task made at `now_nanos`.
    #[inline]
    pub(crate) fn next(&mut self, now_nanos: u64) -> TaskId {
        let tick = (now_nanos >> TICK_SHIFT).max(self.last_tick + 1);
        self.last_tick = tick;
        TaskId((tick << ID_SOURCE_BITS) | self.source)
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_record_creation_time() {
        let mut a = IdClock::new(1);
        let mut b = IdClock::new(2);
        let x = a.next(1_000_000);
        let y = a.next(1_000_000); // same instant: bumped
        let z = b.next(1_000_000);
        assert!(x != y && y != z && x != z);
        assert!(y > x);
        assert_eq!(x.created_nanos(), 1_000_000);
        assert_eq!(z.created_nanos(), 1_000_000);
        assert_eq!(y.created_nanos(), 1_000_032);
        assert!(
            a.next(0) > y,
            "a clock going backwards still moves ids forward"
        );
    }

    #[test]
    fn about_one_id_in_64_is_sampled_at_any_pace() {
        for step in [1u64, 2, 4, 7, 32, 64, 1000] {
            let mut ids = IdClock::new(3);
            let n = 64 * 1000;
            let sampled = (0..n)
                .filter(|&i| ids.next(i * step * 32).is_sampled())
                .count();
            assert!(
                (800..1200).contains(&sampled),
                "step {step}: {sampled} of {n}"
            );
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A task's name: cheap to clone, one pointer wide. It travels with the
/// task's future, so an unnamed task pays nothing for it.
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
