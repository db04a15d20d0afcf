//! Runs one workload on one peer many times, for a profiler:
//! `valgrind --tool=callgrind target/release/profile yield_many echo 1 20`.
//! Peers: echo, echo-counters-only, echo-global-alloc, tokio,
//! async-executor; `timer_churn_ready` and `timer_churn_pending` (the two
//! variants of compare's timer_churn) on echo and tokio only. Instruction counts from callgrind are repeatable on a
//! noisy machine, so they settle small differences (such as what the
//! detailed metrics cost) that wall-clock medians cannot.

use echo_benches::peers::{AsyncExecutor, Echo, EchoCountersOnly, EchoGlobalAlloc, Peer, Tokio};
use echo_benches::timers::{TimeoutPeer, TimerChurn};
use echo_benches::workloads::Bench;

/// timer_churn's variants: ready at once, pending once.
fn churn<P: TimeoutPeer>(workload: &str, workers: usize, iters: usize) {
    let pending = workload == "timer_churn_pending";
    let bench = TimerChurn::<P>::start(workers);
    let t = std::time::Instant::now();
    for _ in 0..iters {
        bench.run(pending);
    }
    eprintln!("{:?} per iteration", t.elapsed() / iters as u32);
    bench.stop();
}

fn run<P: Peer>(workload: &str, workers: usize, iters: usize) {
    let bench = Bench::<P>::start(workers);
    for _ in 0..iters {
        assert!(bench.run(workload), "unknown workload {workload}");
    }
    bench.stop();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = args.first().map_or("yield_many", String::as_str);
    let peer = args.get(1).map_or("echo", String::as_str);
    let workers = args.get(2).and_then(|w| w.parse().ok()).unwrap_or(1);
    let iters = args.get(3).and_then(|w| w.parse().ok()).unwrap_or(20);
    if workload.starts_with("timer_churn") {
        match peer {
            "echo" => churn::<Echo>(workload, workers, iters),
            "tokio" => churn::<Tokio>(workload, workers, iters),
            other => panic!("no timer_churn on {other}"),
        }
        return;
    }
    match peer {
        "echo" => {
            let bench = Bench::<Echo>::start(workers);
            let t = std::time::Instant::now();
            for _ in 0..iters {
                assert!(bench.run(workload), "unknown workload {workload}");
            }
            eprintln!("{:?} per iteration", t.elapsed() / iters as u32);
            eprintln!("{}", bench.peer.0.metrics());
            bench.stop();
        }
        "echo-counters-only" => run::<EchoCountersOnly>(workload, workers, iters),
        "echo-global-alloc" => run::<EchoGlobalAlloc>(workload, workers, iters),
        "tokio" => run::<Tokio>(workload, workers, iters),
        "async-executor" => run::<AsyncExecutor>(workload, workers, iters),
        other => panic!("unknown peer {other}"),
    }
}
