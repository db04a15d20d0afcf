//! The timers of a build without the `timers` feature: none is ever armed,
//! so every question about them has the answer "none" and the wheels, their
//! locks and the firing code are not in the image. The sleeper role stays:
//! it is part of how workers park.

use super::Sleeper;
use crate::platform::Platform;

/// No timers: what the workers ask of them, answered for a scheduler that
/// has none.
pub(crate) struct Timers {
    pub(crate) sleeper: Sleeper,
}

impl Timers {
    pub(crate) fn new(_workers: usize) -> Timers {
        Timers {
            sleeper: Sleeper::new(),
        }
    }

    /// No deadline for worker `w` to look at.
    #[inline(always)]
    pub(crate) fn next_for(&self, _w: usize, _scan: usize) -> u64 {
        u64::MAX
    }

    /// The shard to look at next: there is none.
    #[inline(always)]
    pub(crate) fn scan_after(&self, scan: usize) -> usize {
        scan
    }

    /// No earliest deadline.
    #[inline(always)]
    pub(crate) fn earliest(&self) -> u64 {
        u64::MAX
    }

    /// No live timer.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        0
    }

    /// Nothing is ever due.
    #[inline(always)]
    pub(crate) fn has_due<P: Platform>(&self, _now_nanos: u64, _platform: &P) -> bool {
        false
    }

    /// Nothing to fire; `cover` stays.
    #[inline(always)]
    pub(crate) fn fire_due<P: Platform>(
        &self,
        _w: usize,
        _scan: usize,
        _now_nanos: u64,
        cover: u64,
        _platform: &P,
    ) -> u64 {
        cover
    }

    /// No deadline elsewhere.
    #[inline(always)]
    pub(crate) fn earliest_elsewhere(&self, _w: usize) -> u64 {
        u64::MAX
    }
}
