//! The platform clock: nanoseconds since the platform was made.
//!
//! On x86-64 with an invariant time-stamp counter (`constant_tsc` and
//! `nonstop_tsc` in /proc/cpuinfo) it reads the TSC and scales it, about 7
//! ns a read; otherwise it uses `Instant`, about 20 ns here. The core reads
//! the clock once per task made (task ids record creation time) and for
//! sampled latencies, so the difference is a few percent of a spawn.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A monotonic nanosecond clock.
pub(crate) struct Clock {
    origin: Instant,
    #[cfg(target_arch = "x86_64")]
    tsc: Option<Tsc>,
}

/// A calibrated TSC: `nanos = (ticks - base) * mult >> 32`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Tsc {
    base: u64,
    mult: u64,
}

#[cfg(target_arch = "x86_64")]
fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Nanoseconds per TSC tick in 32.32 fixed point, measured once per
/// process; `None` when the TSC is not invariant.
#[cfg(target_arch = "x86_64")]
fn tsc_scale() -> Option<u64> {
    static SCALE: OnceLock<Option<u64>> = OnceLock::new();
    *SCALE.get_or_init(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
        let invariant = flags.split_whitespace().any(|f| f == "constant_tsc")
            && flags.split_whitespace().any(|f| f == "nonstop_tsc");
        if !invariant {
            return None;
        }
        let (t0, c0) = (Instant::now(), read_tsc());
        std::thread::sleep(Duration::from_millis(2));
        let (t1, c1) = (Instant::now(), read_tsc());
        let ticks = c1.checked_sub(c0).filter(|&t| t > 0)?;
        let nanos = (t1 - t0).as_nanos() as u64;
        Some(((u128::from(nanos) << 32) / u128::from(ticks)) as u64)
    })
}

impl Clock {
    pub(crate) fn new() -> Clock {
        // Calibrate (once per process) before taking the origin, so that
        // both clocks start together.
        #[cfg(target_arch = "x86_64")]
        let scale = tsc_scale();
        Clock {
            origin: Instant::now(),
            #[cfg(target_arch = "x86_64")]
            tsc: scale.map(|mult| Tsc {
                base: read_tsc(),
                mult,
            }),
        }
    }

    /// Nanoseconds since the clock was made.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if let Some(tsc) = self.tsc {
            let ticks = read_tsc().saturating_sub(tsc.base);
            return ((u128::from(ticks) * u128::from(tsc.mult)) >> 32) as u64;
        }
        self.origin.elapsed().as_nanos() as u64
    }

    /// The instant the clock counts from.
    pub(crate) fn origin(&self) -> Instant {
        self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_follows_instant() {
        let clock = Clock::new();
        let a = clock.now_nanos();
        std::thread::sleep(Duration::from_millis(20));
        let b = clock.now_nanos();
        let by_instant = clock.origin().elapsed().as_nanos() as u64;
        assert!(b > a);
        let slept = b - a;
        assert!(
            (18_000_000..200_000_000).contains(&slept),
            "slept {slept} ns"
        );
        // Within 1% (and 100 µs) of Instant over the clock's life.
        let diff = by_instant.abs_diff(b);
        assert!(diff < by_instant / 100 + 100_000, "{b} vs {by_instant}");
    }
}
