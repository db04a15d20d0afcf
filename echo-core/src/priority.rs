//! The priority tiers, and what the scheduler derives from their order.
//!
//! Everything per tier in the scheduler is an array indexed by
//! `Priority::index` and sized `Priority::COUNT`, and every loop over tiers
//! walks `ALL` or `RINGED`, so that a new tier is a variant here plus its
//! turn interval in `Config`. The most urgent tier is the one without
//! per-worker rings: its tasks go to its injector, which every worker
//! reads at every scheduling point.

use core::fmt;

/// How urgently a task should run.
///
/// Ordering puts the most urgent tier first: `High < Normal < Low`, so
/// sorting a list of priorities yields High first, and `min` of two
/// priorities is the more urgent one.
///
/// ```
/// # use echo_sched_core::Priority;
/// assert!(Priority::High < Priority::Normal);
/// assert_eq!(Priority::default(), Priority::Normal);
/// assert_eq!(Priority::Low.min(Priority::High), Priority::High);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Priority {
    /// Latency-critical work (a UI frame, an input handler). A High task is
    /// visible to every worker at its next scheduling point.
    High = 0,
    /// Ordinary background work. The default.
    #[default]
    Normal = 1,
    /// Work that may wait (indexing, clean-up). It still runs at a
    /// guaranteed minimum rate while it has work.
    Low = 2,
}

impl Priority {
    /// All tiers, most urgent first.
    ///
    /// ```
    /// # use echo_sched_core::Priority;
    /// let names: Vec<&str> = Priority::ALL.iter().map(|p| p.name()).collect();
    /// assert_eq!(names, ["high", "normal", "low"]);
    /// ```
    pub const ALL: [Priority; Priority::COUNT] = [Priority::High, Priority::Normal, Priority::Low];

    /// The number of tiers.
    pub const COUNT: usize = 3;

    /// The tiers with per-worker rings and owed anti-starvation turns: all
    /// but the most urgent, most urgent first.
    pub(crate) const RINGED: [Priority; Priority::COUNT - 1] = {
        let mut tiers = [Priority::Normal; Priority::COUNT - 1];
        let mut i = 1;
        while i < Priority::COUNT {
            tiers[i - 1] = Priority::ALL[i];
            i += 1;
        }
        tiers
    };

    /// Whether tasks of this tier queue in per-worker rings (every tier but
    /// the most urgent).
    #[inline]
    pub(crate) const fn has_ring(self) -> bool {
        self.index() > 0
    }

    /// This tier's position in `RINGED` (its ring's index in a worker).
    #[inline]
    pub(crate) const fn ring_index(self) -> usize {
        debug_assert!(self.has_ring(), "the most urgent tier has no ring");
        self.index() - 1
    }

    /// The tier's index in [`Priority::ALL`]: 0 for High, 2 for Low. Handy
    /// for per-tier arrays.
    ///
    /// ```
    /// # use echo_sched_core::Priority;
    /// let mut frames_per_tier = [0u32; 3];
    /// frames_per_tier[Priority::Normal.index()] += 1;
    /// assert_eq!(frames_per_tier, [0, 1, 0]);
    /// ```
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The tier with the given index in [`Priority::ALL`], or `None` past
    /// the last tier.
    ///
    /// ```
    /// # use echo_sched_core::Priority;
    /// assert_eq!(Priority::from_index(0), Some(Priority::High));
    /// assert_eq!(Priority::from_index(Priority::Low.index()), Some(Priority::Low));
    /// assert_eq!(Priority::from_index(Priority::COUNT), None);
    /// ```
    #[inline]
    pub const fn from_index(index: usize) -> Option<Priority> {
        if index < Priority::COUNT {
            Some(Priority::ALL[index])
        } else {
            None
        }
    }

    /// Whether `self` is strictly more urgent than `other`.
    ///
    /// ```
    /// # use echo_sched_core::Priority;
    /// assert!(Priority::High.is_above(Priority::Low));
    /// assert!(!Priority::Normal.is_above(Priority::Normal));
    /// ```
    #[inline]
    pub const fn is_above(self, other: Priority) -> bool {
        (self as u8) < (other as u8)
    }

    /// A short lower-case name: `"high"`, `"normal"` or `"low"`. `Display`
    /// prints the same name (and honours width and alignment).
    ///
    /// ```
    /// # use echo_sched_core::Priority;
    /// assert_eq!(Priority::High.name(), "high");
    /// assert_eq!(format!("[{:<6}]", Priority::Low), "[low   ]");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_index_round_trip() {
        let mut all = [Priority::Low, Priority::High, Priority::Normal];
        all.sort();
        assert_eq!(all, Priority::ALL);
        for p in Priority::ALL {
            assert_eq!(Priority::from_index(p.index()), Some(p));
        }
        assert!(Priority::High.is_above(Priority::Normal));
        assert!(Priority::Normal.is_above(Priority::Low));
        assert!(!Priority::Low.is_above(Priority::High));
    }
}
