//! Medians, percentiles and human-readable durations.

use std::time::Duration;

/// The median of `v` (sorted in place).
pub fn median(v: &mut [Duration]) -> Duration {
    percentile(v, 0.5)
}

/// The `q` quantile of `v` (sorted in place), nearest rank.
pub fn percentile(v: &mut [Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let rank = ((v.len() as f64) * q).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// A duration with a unit that suits it: `812 ns`, `12.4 µs`, `3.21 ms`.
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<_> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&mut v, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&mut v, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&mut v, 1.0), Duration::from_micros(100));
        assert_eq!(
            median(&mut [Duration::from_secs(3)]),
            Duration::from_secs(3)
        );
        assert_eq!(fmt_duration(Duration::from_micros(1500)), "1.50 ms");
    }
}
