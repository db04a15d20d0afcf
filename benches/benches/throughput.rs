//! Criterion benches: every throughput workload of the compare table on Echo,
//! tokio and async-executor at W = 1 and 2 (set ECHO_BENCH_WORKERS=1,2,4 to
//! change). `cargo bench -p echo-benches`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use echo_benches::peers::{AsyncExecutor, Echo, Peer, Tokio};
use echo_benches::workloads::{Bench, THROUGHPUT};
use std::time::Duration;

fn workers() -> Vec<usize> {
    std::env::var("ECHO_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2])
}

fn peer<P: Peer>(c: &mut Criterion, w: usize) {
    let bench = Bench::<P>::start(w);
    for workload in THROUGHPUT {
        c.benchmark_group(workload)
            .bench_function(BenchmarkId::new(P::NAME, format!("W={w}")), |b| {
                b.iter(|| bench.run(workload))
            });
    }
    bench.stop();
}

fn all(c: &mut Criterion) {
    for w in workers() {
        peer::<Echo>(c, w);
        peer::<Tokio>(c, w);
        peer::<AsyncExecutor>(c, w);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
