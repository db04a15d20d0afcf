//! The timeline recorder (feature `recorder`): what each worker did, and
//! when, for a trace viewer.
//!
//! Each worker owns one [`Track`] (`track.rs`), a bounded append-only
//! buffer that needs no lock: its worker is the only writer, and any thread
//! may copy it while it records. A worker records:
//! - each poll: the task's id, the tier it ran at, its start and duration;
//! - each park: when it began and how long it lasted;
//! - each steal: the victim, the tier and how many entries moved;
//! - each firing of expired timers: when and how long;
//! - each wake and spawn it performs (from a poll or a timer firing): the
//!   task and its tier, so a viewer can draw an arrow from the wake to the
//!   poll it caused. A task waking itself while it is polled (`yield_now`)
//!   is not recorded: its next poll is its own doing, and on yield-heavy
//!   loads that record would cost a clock read a poll.
//!
//! Times are the platform clock's nanoseconds. Wakes and spawns made off
//! the workers (other threads, interrupt handlers) are not recorded: they
//! have no track, and a shared one would need a lock or a read-modify-write
//! the interrupt path must not take.
//!
//! Invariants: a track is written only by its worker's thread (an `Owner`
//! proof); with `Config::timeline_capacity` at 0 nothing is allocated and
//! every hook is one load and a branch; without the feature there are no
//! hooks at all.

mod track;

pub use track::Track;

use crate::Priority;
use crate::padded::CachePadded;
use crate::task::TaskId;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// One thing a worker did, as the [timeline](crate::Scheduler::timeline)
/// records it. Times are nanoseconds of the platform clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimelineEvent {
    /// The worker polled `task` at `tier` from `start` for `nanos`.
    Poll {
        /// The task polled.
        task: TaskId,
        /// The tier of the entry the worker ran.
        tier: Priority,
        /// When the poll began.
        start: u64,
        /// How long it took.
        nanos: u64,
    },
    /// The worker parked from `start` for `nanos` (no work anywhere).
    Park {
        /// When the worker began to park.
        start: u64,
        /// How long until it was awake again.
        nanos: u64,
    },
    /// The worker took `count` entries of `tier` from `victim`'s ring.
    Steal {
        /// When.
        at: u64,
        /// The worker stolen from.
        victim: usize,
        /// The tier of the ring.
        tier: Priority,
        /// Entries moved, the one run next included.
        count: usize,
    },
    /// The worker fired expired timers from `start` for `nanos`.
    TimerFire {
        /// When the firing began.
        start: u64,
        /// How long it took.
        nanos: u64,
    },
    /// The worker woke `task`, queueing it at `tier` (inside a poll or a
    /// timer firing).
    Wake {
        /// When.
        at: u64,
        /// The task woken.
        task: TaskId,
        /// The tier it was queued at.
        tier: Priority,
    },
    /// The worker spawned `task` at `tier` (from a poll).
    Spawn {
        /// When.
        at: u64,
        /// The new task.
        task: TaskId,
        /// Its tier.
        tier: Priority,
    },
}

impl TimelineEvent {
    /// When the event began.
    pub fn start(&self) -> u64 {
        match *self {
            TimelineEvent::Poll { start, .. }
            | TimelineEvent::Park { start, .. }
            | TimelineEvent::TimerFire { start, .. } => start,
            TimelineEvent::Steal { at, .. }
            | TimelineEvent::Wake { at, .. }
            | TimelineEvent::Spawn { at, .. } => at,
        }
    }
}

/// What one worker recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerTimeline {
    /// The events in the order the worker recorded them (so by start
    /// time).
    pub events: Vec<TimelineEvent>,
    /// Events refused because the worker's buffer was full.
    pub dropped: usize,
}

/// A copy of every worker's recording: see
/// [`Scheduler::timeline`](crate::Scheduler::timeline).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// When the scheduler was made, on the platform clock.
    pub started_nanos: u64,
    /// One entry per worker, by index.
    pub workers: Vec<WorkerTimeline>,
}

/// The tracks of one scheduler, one per worker.
pub(crate) struct Recorder {
    tracks: Box<[CachePadded<Track<TimelineEvent>>]>,
}

impl Recorder {
    /// `capacity` events per worker for `workers` workers; 0 records
    /// nothing and allocates nothing.
    pub(crate) fn new(workers: usize, capacity: usize) -> Recorder {
        let tracks = if capacity == 0 {
            Box::default()
        } else {
            (0..workers)
                .map(|_| CachePadded(Track::new(capacity)))
                .collect()
        };
        Recorder { tracks }
    }

    /// Whether workers record.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        !self.tracks.is_empty()
    }

    /// Appends to worker `w`'s track.
    ///
    /// # Safety
    ///
    /// The caller runs worker `w` (holds its owner proof).
    #[inline]
    pub(crate) unsafe fn push(&self, w: usize, event: TimelineEvent) {
        if let Some(track) = self.tracks.get(w) {
            // SAFETY: only worker `w`'s thread pushes to track `w`.
            unsafe { track.push(event) };
        }
    }

    /// A copy of every track.
    pub(crate) fn snapshot(&self, started_nanos: u64) -> Timeline {
        Timeline {
            started_nanos,
            workers: self
                .tracks
                .iter()
                .map(|t| WorkerTimeline {
                    events: t.snapshot(),
                    dropped: t.dropped(),
                })
                .collect(),
        }
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_event_takes_32_bytes() {
        // What `Config::timeline_capacity` promises per event.
        assert_eq!(core::mem::size_of::<TimelineEvent>(), 32);
    }
}
