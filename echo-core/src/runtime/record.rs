//! The workers' side of the timeline recorder (feature `recorder`, see
//! `recorder/`): each hook is one load and a branch while recording is
//! off (`Config::timeline_capacity` = 0), and appends to the calling
//! worker's own track while it is on. Every hook takes the owner proof of
//! the worker whose track it writes, which is what makes that worker's
//! thread the track's one writer.

use crate::Priority;
use crate::platform::Platform;
use crate::recorder::{Timeline, TimelineEvent};
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::task::TaskId;

impl<P: Platform> Shared<P> {
    /// The time, if workers record (the start of a poll, a park or a
    /// timer firing).
    #[inline]
    pub(crate) fn record_clock(&self) -> Option<u64> {
        if self.recorder.is_on() {
            Some(self.platform.now_nanos())
        } else {
            None
        }
    }

    /// Appends `event` to the owner's track.
    #[inline]
    fn record(&self, o: &Owner<'_>, event: TimelineEvent) {
        // SAFETY: `o` proves this thread runs worker `o.index()`.
        unsafe { self.recorder.push(o.index(), event) };
    }

    /// A poll of `task` at `tier` that began at `start` has ended.
    #[inline]
    pub(crate) fn record_poll(
        &self,
        o: &Owner<'_>,
        task: TaskId,
        tier: Priority,
        start: Option<u64>,
    ) {
        if let Some(start) = start {
            let nanos = self.platform.now_nanos().saturating_sub(start);
            self.record(
                o,
                TimelineEvent::Poll {
                    task,
                    tier,
                    start,
                    nanos,
                },
            );
        }
    }

    /// A park that began at `start` has ended.
    #[inline]
    pub(crate) fn record_park(&self, o: &Owner<'_>, start: Option<u64>) {
        if let Some(start) = start {
            let nanos = self.platform.now_nanos().saturating_sub(start);
            self.record(o, TimelineEvent::Park { start, nanos });
        }
    }

    /// A firing of expired timers that began at `start` has ended.
    #[inline]
    pub(crate) fn record_timer_fire(&self, o: &Owner<'_>, start: Option<u64>) {
        if let Some(start) = start {
            let nanos = self.platform.now_nanos().saturating_sub(start);
            self.record(o, TimelineEvent::TimerFire { start, nanos });
        }
    }

    /// The owner stole `count` entries of `tier` from `victim`.
    #[inline]
    pub(crate) fn record_steal(&self, o: &Owner<'_>, victim: usize, tier: Priority, count: usize) {
        if let Some(at) = self.record_clock() {
            self.record(
                o,
                TimelineEvent::Steal {
                    at,
                    victim,
                    tier,
                    count,
                },
            );
        }
    }

    /// The owner woke `task`, queueing it at `tier`.
    #[inline]
    pub(crate) fn record_wake(&self, o: &Owner<'_>, task: TaskId, tier: Priority) {
        if let Some(at) = self.record_clock() {
            self.record(o, TimelineEvent::Wake { at, task, tier });
        }
    }

    /// The owner spawned `task` at `tier`.
    #[inline]
    pub(crate) fn record_spawn(&self, o: &Owner<'_>, task: TaskId, tier: Priority) {
        if let Some(at) = self.record_clock() {
            self.record(o, TimelineEvent::Spawn { at, task, tier });
        }
    }

    /// A copy of every worker's recording so far.
    pub(crate) fn timeline(&self) -> Timeline {
        self.recorder.snapshot(self.started_nanos)
    }
}
