//! Counters, kept per worker and summed when read.
//!
//! A worker's counters have one writer (the worker), so an increment is a
//! plain load and store, not a read-modify-write, and no two workers write
//! the same cache line. Threads outside the pool (remote submitters, the
//! shutdown walk) count in one shared block with `fetch_add`.

use crate::Priority;
use crate::sync::{AtomicUsize, Ordering};
use core::fmt;

/// A counter with a single writer.
#[derive(Default)]
pub(crate) struct Counter(AtomicUsize);

impl Counter {
    /// Adds `n`. Only the counter's owner thread may call this.
    #[inline]
    pub(crate) fn add(&self, n: usize) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Release);
    }

    #[inline]
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` from any thread.
    #[inline]
    pub(crate) fn add_shared(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One tier's lifecycle counters.
#[derive(Default)]
pub(crate) struct TierCounters {
    pub(crate) submitted: Counter,
    pub(crate) completed: Counter,
    pub(crate) panicked: Counter,
    pub(crate) cancelled: Counter,
    pub(crate) polls: Counter,
}

/// A worker's counters (or the shared block for outside threads).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tiers: [TierCounters; 3],
    pub(crate) steals: Counter,
    pub(crate) stolen: Counter,
    pub(crate) parks: Counter,
    pub(crate) unparks: Counter,
}

impl Counters {
    /// Tasks finished in any way, summed over tiers.
    pub(crate) fn finished(&self) -> usize {
        self.tiers.iter().fold(0usize, |acc, t| {
            acc.wrapping_add(t.completed.get())
                .wrapping_add(t.panicked.get())
                .wrapping_add(t.cancelled.get())
        })
    }

    /// Tasks submitted, summed over tiers.
    pub(crate) fn submitted(&self) -> usize {
        self.tiers
            .iter()
            .fold(0usize, |acc, t| acc.wrapping_add(t.submitted.get()))
    }
}

/// One tier's figures in a [`Metrics`] snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierMetrics {
    /// Tasks submitted at this tier.
    pub submitted: usize,
    /// Tasks that completed with a value while at this tier.
    pub completed: usize,
    /// Tasks that panicked while at this tier.
    pub panicked: usize,
    /// Tasks cancelled (abort or shutdown) while at this tier.
    pub cancelled: usize,
    /// Polls run at this tier.
    pub polls: usize,
    /// Entries waiting in this tier's queues now (local rings and the
    /// injector).
    pub queued: usize,
}

/// A snapshot of a scheduler's counters.
///
/// Counts are summed from per-worker counters that keep changing while they
/// are read, so a snapshot of a busy scheduler is approximate; once the
/// scheduler is quiet, `submitted == completed + panicked + cancelled +
/// live`. A task whose priority changed is counted as submitted at its
/// first tier and finished at its last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Worker count.
    pub workers: usize,
    /// Per tier, indexed by [`Priority::index`].
    pub tiers: [TierMetrics; 3],
    /// Successful steals (batches).
    pub steals: usize,
    /// Tasks moved by steals.
    pub stolen: usize,
    /// Times a worker parked.
    pub parks: usize,
    /// Times a worker was woken to search.
    pub unparks: usize,
    /// Workers parked now.
    pub parked_workers: usize,
    /// Workers searching for work now.
    pub searching_workers: usize,
    /// Tasks submitted and not yet finished.
    pub live: usize,
}

impl Metrics {
    /// One tier's figures.
    pub fn tier(&self, priority: Priority) -> &TierMetrics {
        &self.tiers[priority.index()]
    }

    /// Sums over tiers.
    pub fn total(&self) -> TierMetrics {
        let mut t = TierMetrics::default();
        for m in &self.tiers {
            t.submitted += m.submitted;
            t.completed += m.completed;
            t.panicked += m.panicked;
            t.cancelled += m.cancelled;
            t.polls += m.polls;
            t.queued += m.queued;
        }
        t
    }

    pub(crate) fn add_counters(&mut self, c: &Counters) {
        for (m, t) in self.tiers.iter_mut().zip(&c.tiers) {
            m.submitted += t.submitted.get();
            m.completed += t.completed.get();
            m.panicked += t.panicked.get();
            m.cancelled += t.cancelled.get();
            m.polls += t.polls.get();
        }
        self.steals += c.steals.get();
        self.stolen += c.stolen.get();
        self.parks += c.parks.get();
        self.unparks += c.unparks.get();
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| tier   | submitted | completed | panicked | cancelled |     polls | queued |"
        )?;
        writeln!(
            f,
            "|--------|----------:|----------:|---------:|----------:|----------:|-------:|"
        )?;
        for p in Priority::ALL {
            let m = self.tier(p);
            writeln!(
                f,
                "| {:<6} | {:>9} | {:>9} | {:>8} | {:>9} | {:>9} | {:>6} |",
                p.name(),
                m.submitted,
                m.completed,
                m.panicked,
                m.cancelled,
                m.polls,
                m.queued
            )?;
        }
        write!(
            f,
            "workers {} ({} parked, {} searching), live {}, steals {} ({} tasks), parks {}, unparks {}",
            self.workers,
            self.parked_workers,
            self.searching_workers,
            self.live,
            self.steals,
            self.stolen,
            self.parks,
            self.unparks
        )
    }
}
