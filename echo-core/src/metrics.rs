//! Counters, kept per worker and summed when read.
//!
//! A worker's counters have one writer (the worker), so an increment is a
//! plain load and store, not a read-modify-write, and no two workers write
//! the same cache line. Threads outside the pool (remote submitters, the
//! shutdown walk) count in one shared block with `fetch_add`.
//!
//! Without the `metrics` feature only the lifecycle counts are kept
//! (submitted, completed, panicked, cancelled: `live_tasks` needs them;
//! orphaned, and lost panic payloads): the statistics (`Stat`) and the latency
//! histograms, which hold most of a worker's counter memory, are
//! zero-sized and cost nothing.

use crate::Priority;
#[cfg(not(echo_loom))]
use crate::sync::{AtomicUsize, Ordering};
use alloc::vec::Vec;
use core::fmt;
// Under loom the counters stay plain atomics: they are statistics that no
// protocol of the core reads, and a scheduler has about three thousand of
// them (the latency histograms), each access of which loom would otherwise
// interleave with every other. Loom runs one thread at a time, so plain
// atomics are still deterministic there.
#[cfg(echo_loom)]
use core::sync::atomic::{AtomicUsize, Ordering};

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

/// A statistic: a [`Counter`] with the `metrics` feature; without it a
/// zero-sized stand-in that counts nothing and reads 0.
#[cfg(feature = "metrics")]
pub(crate) type Stat = Counter;

/// A statistic (see the `metrics` build): counts nothing, reads 0.
#[cfg(not(feature = "metrics"))]
#[derive(Default)]
pub(crate) struct Stat;

#[cfg(not(feature = "metrics"))]
impl Stat {
    #[inline]
    pub(crate) fn add(&self, _n: usize) {}

    #[inline]
    pub(crate) fn inc(&self) {}

    #[inline]
    pub(crate) fn get(&self) -> usize {
        0
    }
}

/// Sub-buckets per power of two in a [`Histogram`] (relative error under
/// 1/8).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered: up to 2^40 ns (about 18 minutes).
const POWERS: usize = 40;
const BUCKETS: usize = POWERS * SUB;
/// Buckets a histogram keeps: none without the `metrics` feature.
const KEPT_BUCKETS: usize = if cfg!(feature = "metrics") {
    BUCKETS
} else {
    0
};

/// A log-linear histogram of nanosecond durations, with one writer.
pub(crate) struct Histogram {
    buckets: [Counter; KEPT_BUCKETS],
    max: Stat,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: core::array::from_fn(|_| Counter::default()),
            #[allow(clippy::default_constructed_unit_structs)]
            max: Stat::default(),
        }
    }
}

/// The bucket holding `v`: exact below `SUB`, then `SUB` buckets per
/// power of two.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (((e - SUB_BITS + 1) as usize) * SUB + sub).min(BUCKETS - 1)
}

/// The largest value in bucket `i`.
fn bucket_top(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    ((SUB as u64 + sub + 1) << (e - SUB_BITS)) - 1
}

impl Histogram {
    /// Records `nanos`. Owner-only.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        #[cfg(feature = "metrics")]
        {
            self.buckets[bucket_of(nanos)].inc();
            if nanos as usize > self.max.get() {
                self.max.0.store(nanos as usize, Ordering::Release);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = nanos;
    }

    fn add_to(&self, merged: &mut [usize], max: &mut usize) {
        for (m, b) in merged.iter_mut().zip(&self.buckets) {
            *m += b.get();
        }
        *max = (*max).max(self.max.get());
    }
}

/// One tier's lifecycle counters.
#[derive(Default)]
pub(crate) struct TierCounters {
    pub(crate) submitted: Counter,
    pub(crate) completed: Counter,
    pub(crate) panicked: Counter,
    pub(crate) cancelled: Counter,
    /// Of the cancelled: tasks that nothing could wake any more.
    pub(crate) orphaned: Counter,
    pub(crate) polls: Stat,
    /// Submit-to-first-poll latency of sampled tasks.
    pub(crate) latency: Histogram,
    /// Sum of sampled depths of this worker's ring.
    pub(crate) ring_depth_sum: Stat,
    /// Sum of sampled depths of the injector.
    pub(crate) injector_depth_sum: Stat,
}

/// A worker's counters (or the shared block for outside threads).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tiers: [TierCounters; Priority::COUNT],
    pub(crate) steals: Stat,
    pub(crate) stolen: Stat,
    pub(crate) parks: Stat,
    pub(crate) unparks: Stat,
    /// Queue-depth samples taken (one per tier each).
    pub(crate) depth_samples: Stat,
    /// Nanoseconds spent parked.
    pub(crate) parked_nanos: Stat,
    /// Panic payloads leaked because their drops kept panicking.
    pub(crate) lost_payloads: Counter,
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

/// Submit-to-first-poll latency percentiles, from a sample of tasks (every
/// High task, and the Normal and Low tasks whose ids fall in a 1-in-64
/// sample). Percentiles are
/// bucket upper bounds, within 12.5% of the true value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Latency {
    /// Tasks sampled.
    pub samples: usize,
    /// Median, in nanoseconds.
    pub p50_nanos: u64,
    /// 99th percentile, in nanoseconds.
    pub p99_nanos: u64,
    /// Largest seen, in nanoseconds.
    pub max_nanos: u64,
}

impl Latency {
    fn from_buckets(buckets: &[usize], max: usize) -> Latency {
        let samples: usize = buckets.iter().sum();
        let quantile = |q: f64| {
            // Nearest rank, without `f64::ceil` (not in `core`).
            let rank = ((samples as f64 * q) as usize).clamp(1, samples);
            let mut seen = 0;
            for (i, &n) in buckets.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return bucket_top(i).min(max as u64);
                }
            }
            max as u64
        };
        if samples == 0 {
            return Latency::default();
        }
        Latency {
            samples,
            p50_nanos: quantile(0.5),
            p99_nanos: quantile(0.99),
            max_nanos: max as u64,
        }
    }
}

/// One tier's figures in a [`Metrics`] snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TierMetrics {
    /// Tasks submitted at this tier.
    pub submitted: usize,
    /// Tasks that completed with a value while at this tier.
    pub completed: usize,
    /// Tasks that panicked while at this tier.
    pub panicked: usize,
    /// Tasks cancelled (abort, shutdown, or orphaned) while at this tier.
    pub cancelled: usize,
    /// Of the cancelled, tasks cancelled because nothing could wake them
    /// any more: detached (no `JoinHandle`) and pending with every waker
    /// dropped. Their futures are dropped on a worker and their memory
    /// freed at once.
    pub orphaned: usize,
    /// Polls run at this tier.
    pub polls: usize,
    /// Entries waiting in this tier's queues now (local rings and the
    /// injector).
    pub queued: usize,
    /// Entries waiting, on average over samples taken while workers ran.
    pub queued_avg: f64,
    /// Submit-to-first-poll latency.
    pub latency: Latency,
}

/// A snapshot of a scheduler's counters.
///
/// Counts are summed from per-worker counters that keep changing while they
/// are read, so a snapshot of a busy scheduler is approximate; once the
/// scheduler is quiet, `submitted == completed + panicked + cancelled +
/// live`. A task whose priority changed is counted as submitted at its
/// first tier and finished at its last.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Metrics {
    /// Worker count.
    pub workers: usize,
    /// Per tier, indexed by [`Priority::index`].
    pub tiers: [TierMetrics; Priority::COUNT],
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
    /// Per worker, the share of time since the scheduler started that it
    /// was not parked (0 to 1).
    pub worker_busy: Vec<f64>,
    /// Panic payloads that were leaked rather than dropped, because
    /// dropping them panicked again and again (nested beyond 16 levels).
    /// Always 0 unless a panic payload's `Drop` is hostile.
    pub lost_panic_payloads: usize,
    /// Bytes the task slab holds from the allocator now (its 1 MiB chunks
    /// of task pages). An idle scheduler keeps little: each worker returns
    /// the pages its own tasks and outside submissions emptied before it
    /// parks. Tasks too large for the slab have allocations of their own
    /// and are not counted.
    pub slab_bytes: usize,
}

impl Metrics {
    /// Whether this build counts statistics (echo-core's `metrics`
    /// feature, on by default). Without it the counters, the latency
    /// histograms and the queue samples read 0; what the scheduler holds
    /// now (`live`, `parked_workers`, `slab_bytes`) is still reported.
    ///
    /// ```
    /// use echo_sched_core::Metrics;
    /// if !Metrics::COUNTED {
    ///     // Count what matters in the application instead.
    /// }
    /// ```
    pub const COUNTED: bool = cfg!(feature = "metrics");

    /// One tier's figures.
    pub fn tier(&self, priority: Priority) -> &TierMetrics {
        &self.tiers[priority.index()]
    }

    /// Sums over tiers (latency and average depth are left out).
    pub fn total(&self) -> TierMetrics {
        let mut t = TierMetrics::default();
        for m in &self.tiers {
            t.submitted += m.submitted;
            t.completed += m.completed;
            t.panicked += m.panicked;
            t.cancelled += m.cancelled;
            t.orphaned += m.orphaned;
            t.polls += m.polls;
            t.queued += m.queued;
        }
        t
    }

    /// Adds one worker's (or the outside threads') counters.
    pub(crate) fn add_counters(&mut self, c: &Counters) {
        for (m, t) in self.tiers.iter_mut().zip(&c.tiers) {
            m.submitted += t.submitted.get();
            m.completed += t.completed.get();
            m.panicked += t.panicked.get();
            m.cancelled += t.cancelled.get();
            m.orphaned += t.orphaned.get();
            m.polls += t.polls.get();
        }
        self.lost_panic_payloads += c.lost_payloads.get();
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
            "| tier   | submitted | completed | panicked | cancelled |     polls | queued | avg queued | 1st poll p50 |      p99 |      max |"
        )?;
        writeln!(
            f,
            "|--------|----------:|----------:|---------:|----------:|----------:|-------:|-----------:|-------------:|---------:|---------:|"
        )?;
        for p in Priority::ALL {
            let m = self.tier(p);
            writeln!(
                f,
                "| {:<6} | {:>9} | {:>9} | {:>8} | {:>9} | {:>9} | {:>6} | {:>10.1} | {:>12} | {:>8} | {:>8} |",
                p.name(),
                m.submitted,
                m.completed,
                m.panicked,
                m.cancelled,
                m.polls,
                m.queued,
                m.queued_avg,
                Micros(m.latency.p50_nanos, m.latency.samples),
                Micros(m.latency.p99_nanos, m.latency.samples),
                Micros(m.latency.max_nanos, m.latency.samples),
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
        )?;
        if !self.worker_busy.is_empty() {
            f.write_str(", busy")?;
            for b in &self.worker_busy {
                write!(f, " {:.0}%", b * 100.0)?;
            }
        }
        let orphaned = self.total().orphaned;
        if orphaned > 0 {
            write!(f, ", orphans cancelled {orphaned}")?;
        }
        if self.lost_panic_payloads > 0 {
            write!(f, ", panic payloads lost {}", self.lost_panic_payloads)?;
        }
        Ok(())
    }
}

/// Nanoseconds shown as microseconds, or `-` with no samples.
struct Micros(u64, usize);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 == 0 {
            f.pad("-")
        } else if self.0 < 10_000 {
            f.pad(&alloc::format!("{:.1}µs", self.0 as f64 / 1e3))
        } else if self.0 < 10_000_000 {
            f.pad(&alloc::format!("{}µs", self.0 / 1_000))
        } else {
            f.pad(&alloc::format!("{}ms", self.0 / 1_000_000))
        }
    }
}

/// Merges the per-worker latency histograms of each tier.
pub(crate) fn merged_latency<'a>(
    sources: impl Iterator<Item = &'a Counters> + Clone,
) -> [Latency; Priority::COUNT] {
    core::array::from_fn(|tier| {
        let mut buckets = alloc::vec![0usize; BUCKETS];
        let mut max = 0;
        for c in sources.clone() {
            c.tiers[tier].latency.add_to(&mut buckets, &mut max);
        }
        Latency::from_buckets(&buckets, max)
    })
}

#[cfg(all(test, not(echo_loom), feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn buckets_bracket_their_values() {
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            123_456,
            10_000_000_000,
        ] {
            let i = bucket_of(v);
            assert!(bucket_top(i) >= v, "{v} above its bucket's top");
            if i > 0 {
                assert!(bucket_top(i - 1) < v, "{v} fits a lower bucket");
            }
            // Within an eighth of the value.
            assert!(bucket_top(i) - v <= v / 8 + 1, "{v}: top {}", bucket_top(i));
        }
    }

    #[test]
    fn percentiles_come_from_the_buckets() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1_000);
        }
        let mut buckets = alloc::vec![0usize; BUCKETS];
        let mut max = 0;
        h.add_to(&mut buckets, &mut max);
        let l = Latency::from_buckets(&buckets, max);
        assert_eq!(l.samples, 1000);
        assert_eq!(l.max_nanos, 1_000_000);
        assert!(
            (500_000..=570_000).contains(&l.p50_nanos),
            "{}",
            l.p50_nanos
        );
        assert!(
            (990_000..=1_000_000).contains(&l.p99_nanos),
            "{}",
            l.p99_nanos
        );
    }
}
