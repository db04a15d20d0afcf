//! Prints one markdown table: every benchmark workload on Echo, tokio
//! and async-executor at the same worker counts, medians over repeated runs,
//! and Echo's ratio to each peer.
//!
//! ```text
//! cargo run --release -p echo-benches --bin compare -- --workers 1,2 [--reps 15] [--only a,b]
//! ```
//!
//! `task_memory`, `idle_cpu` and `burst_memory` run each peer in a fresh
//! child process (this binary, with `--child`), so one peer's memory and
//! threads do not count against another's. `burst_memory` prints a table
//! of its own: the resident set after each of 30 bursts.
//!
//! `http_hello` and `http_flood` (Echo beside tokio only) print a table of
//! their own: a hyper server in a child process (this binary, with
//! `--child server`), loaded by `wrk` (which must be on the `PATH`), each
//! peer `--server-runs` times for `--server-secs` seconds, interleaved
//! (`--wrk-threads` sets wrk's threads).
//! `--baseline PATH` adds a column for the Echo server of another build of
//! this binary, run in the same rounds, to judge a change to Echo itself.
//!
//! `timer_churn` (Echo beside tokio) prints a table of its own. With
//! `--baseline PATH`, it and `timer_lateness` also run Echo as built into
//! that other binary (in a child process, before this build's runs of
//! the same worker count), in the same tables.

use echo_benches::burst::Reading;
use echo_benches::http_bench::{
    self, CONNECTIONS, FloodRun, HelloRun, LoadSettings, PROBE_INTERVAL, ProbeLatency, ServerSpec,
    WRK_THREADS,
};
use echo_benches::http_server::{EchoServer, TokioServer, WORK_CPU, serve_child};
use echo_benches::observe;
use echo_benches::peers::{AsyncExecutor, Echo, EchoCountersOnly, EchoGlobalAlloc, Peer, Tokio};
use echo_benches::special::{self, Fairness, Latency, PrioLatency};
use echo_benches::stats::{fmt_duration, median};
use echo_benches::sys;
use echo_benches::workloads::{Bench, THROUGHPUT};
use echo_benches::wrk;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PEERS: [&str; 3] = [Echo::NAME, Tokio::NAME, AsyncExecutor::NAME];
const SPECIAL: [&str; 17] = [
    "timer_lateness",
    "timer_churn",
    "metrics_cost",
    "observe_cost",
    "submit_batch",
    "prio_latency",
    "fairness",
    "wake_latency",
    "task_memory",
    "idle_cpu",
    "burst_memory",
    "scaling",
    "slab_ab",
    "http_hello",
    "http_flood",
    "grpc_unary",
    "grpc_flood",
];

/// The special workloads with a row in the main table.
const MAIN_SPECIAL: [&str; 7] = [
    "timer_lateness",
    "prio_latency",
    "fairness",
    "wake_latency",
    "task_memory",
    "idle_cpu",
    "scaling",
];

struct Args {
    workers: Vec<usize>,
    reps: usize,
    only: Option<Vec<String>>,
    child: Option<String>,
    peer: Option<String>,
    server_runs: usize,
    server_secs: u64,
    wrk_threads: usize,
    baseline: Option<PathBuf>,
    /// The gRPC client child's targets and mode.
    grpc: (Option<String>, Option<String>, bool),
}

fn parse_args() -> Args {
    let mut args = Args {
        workers: vec![1, 2],
        reps: 15,
        only: None,
        child: None,
        peer: None,
        server_runs: 3,
        server_secs: 5,
        wrk_threads: WRK_THREADS,
        baseline: None,
        grpc: (None, None, false),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--workers" => {
                args.workers = value()
                    .split(',')
                    .map(|w| w.parse().unwrap_or_else(|_| usage("bad --workers")))
                    .collect()
            }
            "--reps" => args.reps = value().parse().unwrap_or_else(|_| usage("bad --reps")),
            "--quick" => args.reps = 3,
            "--only" => args.only = Some(value().split(',').map(str::to_owned).collect()),
            "--child" => args.child = Some(value()),
            "--peer" => args.peer = Some(value()),
            "--server-runs" => {
                args.server_runs = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --server-runs"))
            }
            "--server-secs" => {
                args.server_secs = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --server-secs"))
            }
            "--wrk-threads" => {
                args.wrk_threads = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --wrk-threads"))
            }
            "--baseline" => args.baseline = Some(value().into()),
            "--grpc-addr" => args.grpc.0 = Some(value()),
            "--grpc-floor" => args.grpc.1 = Some(value()),
            "--grpc-flood" => args.grpc.2 = value() == "1",
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("compare: {msg}");
    }
    eprintln!(
        "usage: compare [--workers 1,2] [--reps N | --quick] [--only workload,...]\n\
         \x20              [--server-runs 3] [--server-secs 5] [--wrk-threads 1] [--baseline OTHER_COMPARE_BINARY]\n\
         workloads: {} {}",
        THROUGHPUT.join(" "),
        SPECIAL.join(" ")
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    if let Some(kind) = &args.child {
        if kind.starts_with("grpc-") {
            grpc_child(kind, &args);
            return;
        }
        run_child(
            kind,
            args.peer.as_deref().unwrap_or("echo"),
            args.workers[0],
            args.reps,
        );
        return;
    }
    let wanted = |w: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == w));
    let command = format!(
        "cargo run --release -p echo-benches --bin compare -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    println!("machine: {}; date: {}", sys::machine(), sys::today());
    println!("command: `{}`", command.trim_end());
    // The rows of the main table; the other workloads print tables of
    // their own.
    let main_table = THROUGHPUT.iter().chain(&MAIN_SPECIAL).any(|w| wanted(w));
    if main_table {
        println!(
            "Throughput rows: median wall time of one run over {} runs, peers interleaved \
             (5 ms pause before each run); \"echo vs X\" is X's time / Echo's time \
             (above 1: Echo is faster).",
            args.reps
        );
        println!();
        println!(
            "| workload | W | echo | tokio | async-executor | echo vs tokio | echo vs async-executor | target (W=2) |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---|");
    }
    for &w in &args.workers {
        throughput_rows(w, args.reps, &wanted);
        if wanted("prio_latency") {
            prio_latency_row(w);
        }
        if wanted("fairness") {
            fairness_row(w);
        }
        if wanted("wake_latency") {
            wake_latency_row(w);
        }
        if wanted("task_memory") {
            child_row("task_memory", w);
        }
        if wanted("idle_cpu") {
            child_row("idle_cpu", w);
        }
        if wanted("timer_lateness") {
            timer_lateness_rows(w, args.baseline.as_deref());
        }
    }
    if wanted("burst_memory") {
        burst_memory(&args.workers);
    }
    if wanted("timer_churn") {
        timer_churn_table(&args.workers, args.reps, args.baseline.as_deref());
    }
    if wanted("scaling") {
        scaling_rows(&args.workers, args.reps.min(7));
    }
    if wanted("slab_ab") {
        slab_ab(&args.workers, args.reps);
    }
    if wanted("metrics_cost") {
        metrics_cost(&args.workers, args.reps);
    }
    if wanted("observe_cost") {
        observe_cost(&args);
    }
    if wanted("submit_batch") {
        submit_batch(&args.workers, args.reps);
    }
    if wanted("http_hello") || wanted("http_flood") {
        http_tables(&args, &wanted);
    }
    if wanted("grpc_unary") || wanted("grpc_flood") {
        let exe = std::env::current_exe().expect("this binary's path");
        echo_benches::grpc_tables::print(
            &exe,
            &args.workers,
            args.server_runs,
            args.server_secs,
            wanted("grpc_unary"),
            wanted("grpc_flood"),
        );
    }
}

/// The gRPC server and client children (`echo_benches::grpc_bench`).
fn grpc_child(kind: &str, args: &Args) {
    use echo_benches::grpc_bench;
    let done = match kind {
        "grpc-server" => {
            grpc_bench::serve_child(args.peer.as_deref().unwrap_or("echo"), args.workers[0])
        }
        "grpc-client" => {
            let addr = |a: &Option<String>| {
                a.as_deref()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| usage("grpc-client needs --grpc-addr and --grpc-floor"))
            };
            grpc_bench::client_child(
                addr(&args.grpc.0),
                addr(&args.grpc.1),
                args.grpc.2,
                args.server_secs,
            )
        }
        _ => usage(&format!("unknown child {kind}")),
    };
    if let Err(e) = done {
        eprintln!("{kind}: {e}");
        std::process::exit(1);
    }
    // Runtimes and open connections are not waited for.
    std::process::exit(0);
}

/// Echo with detailed metrics (the default) against counters only.
fn metrics_cost(workers: &[usize], reps: usize) {
    println!();
    println!(
        "Metrics cost: Echo with its default metrics against counters only (median of {reps} interleaved runs)."
    );
    println!();
    println!("| workload | W | default metrics | counters only | cost |");
    println!("|---|---:|---:|---:|---:|");
    for &w in workers {
        let on = Bench::<Echo>::start(w);
        let off = Bench::<EchoCountersOnly>::start(w);
        for workload in ["spawn_many_local", "yield_many"] {
            eprintln!("metrics_cost {workload} W={w} ...");
            let [a, b] = interleaved(
                reps,
                [&|| assert!(on.run(workload)), &|| {
                    assert!(off.run(workload))
                }],
            );
            println!(
                "| {workload} | {w} | {} | {} | {:+.1} % |",
                fmt_duration(a),
                fmt_duration(b),
                (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0
            );
        }
        on.stop();
        off.stop();
    }
}

/// What the console feature and the timeline recorder cost: see
/// `observe.rs`. With `--baseline`, a build without them runs as a child
/// process, one run per round, for the "features off" column.
fn observe_cost(args: &Args) {
    let reps = args.reps;
    let variants = observe::Variant::available();
    println!();
    println!(
        "Observability cost: Echo with the console and recorder features (median of {reps} interleaved rounds; each run a child process with a fresh scheduler, timed after one warm-up run). Build with `--features console,recorder` for their columns and pass `--baseline` a compare built without them for the first."
    );
    println!();
    let mut head = String::from("| workload | W |");
    let mut rule = String::from("|---|---:|");
    if args.baseline.is_some() {
        head.push_str(" features off |");
        rule.push_str("---:|");
    }
    for v in &variants {
        head.push_str(&format!(" {} |", v.title()));
        rule.push_str("---:|");
    }
    println!("{head} cost |");
    println!("{rule}---|");
    for &w in &args.workers {
        for workload in ["spawn_many_local", "yield_many", "ping_pong"] {
            eprintln!("observe_cost {workload} W={w} ...");
            let mut baseline = Vec::new();
            let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
            let one = |exe: &std::path::Path, variant: observe::Variant| {
                let kind = format!("observe:{}:{workload}", variant.key());
                let out = std::process::Command::new(exe)
                    .args(["--child", &kind, "--workers", &w.to_string()])
                    .output()
                    .expect("run a compare child");
                let nanos: u64 = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{kind}: {}", String::from_utf8_lossy(&out.stderr)));
                Duration::from_nanos(nanos)
            };
            let me = std::env::current_exe().expect("this binary");
            for _ in 0..reps {
                if let Some(exe) = &args.baseline {
                    baseline.push(one(exe, observe::Variant::Idle));
                }
                for (i, &v) in variants.iter().enumerate() {
                    times[i].push(one(&me, v));
                }
            }
            let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
            let mut row = format!("| {workload} | {w} |");
            let mut costs = Vec::new();
            if !baseline.is_empty() {
                let off = median(&mut baseline);
                row.push_str(&format!(" {} |", fmt_duration(off)));
                costs.push(format!("unused {:+.1} %", pct(medians[0], off)));
            }
            for (i, m) in medians.iter().enumerate() {
                row.push_str(&format!(" {} |", fmt_duration(*m)));
                if i > 0 {
                    costs.push(format!(
                        "{} {:.2}x",
                        variants[i].title(),
                        m.as_secs_f64() / medians[0].as_secs_f64()
                    ));
                }
            }
            println!("{row} {} |", costs.join(", "));
        }
    }
}

fn pct(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0
}

/// 10 000 tasks from outside: a loop of `submit` against one `submit_batch`.
fn submit_batch(workers: &[usize], reps: usize) {
    println!();
    println!(
        "Batches: 10 000 tasks submitted from outside the pool, as a loop of `submit` and as one `submit_batch` (median of {reps} interleaved runs)."
    );
    println!();
    println!("| W | loop of submit | submit_batch | speed-up |");
    println!("|---:|---:|---:|---:|");
    for &w in workers {
        eprintln!("submit_batch W={w} ...");
        let bench = Bench::<Echo>::start(w);
        let scheduler = bench.peer.0.clone();
        let [looped, batched] = interleaved(
            reps,
            [&|| bench.spawn_many_remote(), &|| {
                bench.submit_batch(&scheduler, 10_000)
            }],
        );
        println!(
            "| {w} | {} | {} | {} |",
            fmt_duration(looped),
            fmt_duration(batched),
            ratio(looped, batched)
        );
        bench.stop();
    }
}

/// Runs each of `runs` `reps` times, interleaved after two warm-up rounds;
/// the median time of each.
fn interleaved<const N: usize>(reps: usize, runs: [&dyn Fn(); N]) -> [Duration; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for rep in 0..reps + 2 {
        for (i, run) in runs.iter().enumerate() {
            let t = timed(run);
            if rep >= 2 {
                times[i].push(t);
            }
        }
    }
    times.map(|mut v| median(&mut v))
}

/// The pooled slab against every task from the global allocator, both on
/// Echo, interleaved in one process.
fn slab_ab(workers: &[usize], reps: usize) {
    println!();
    println!(
        "Slab A/B: Echo with the pooled slab against Echo with each task from the global allocator (median of {reps} interleaved runs)."
    );
    println!();
    println!("| workload | W | pooled slab | global allocator | slab speed-up |");
    println!("|---|---:|---:|---:|---:|");
    for &w in workers {
        let slab = Bench::<Echo>::start(w);
        let global = Bench::<EchoGlobalAlloc>::start(w);
        for workload in ["spawn_many_local", "spawn_many_remote"] {
            eprintln!("slab_ab {workload} W={w} ...");
            let [s, g] = interleaved(
                reps,
                [&|| assert!(slab.run(workload)), &|| {
                    assert!(global.run(workload))
                }],
            );
            println!(
                "| {workload} | {w} | {} | {} | {} |",
                fmt_duration(s),
                fmt_duration(g),
                ratio(g, s)
            );
        }
        slab.stop();
        global.stop();
    }
}

/// Times one run, after letting the previous run's workers park.
fn timed(run: impl FnOnce()) -> Duration {
    std::thread::sleep(Duration::from_millis(5));
    let t = Instant::now();
    run();
    t.elapsed()
}

fn target(workload: &str) -> &'static str {
    match workload {
        "spawn_many_local" => "≥ 2× tokio",
        "spawn_many_remote" | "yield_many" | "chained_spawn" => "≥ 1.5× tokio",
        "ping_pong" => "≥ 1.2× tokio",
        "prio_latency" => "High p99 < 15 µs, p50 < 7 µs",
        "task_memory" => "≤ 0.6× async-executor",
        "idle_cpu" => "< 1 ms/s",
        "scaling" => "W=2 ≥ 1.8× W=1",
        _ => "",
    }
}

fn ratio(peer: Duration, echo: Duration) -> String {
    if echo.is_zero() {
        return "n/a".into();
    }
    format!("{:.2}×", peer.as_secs_f64() / echo.as_secs_f64())
}

fn throughput_rows(w: usize, reps: usize, wanted: &impl Fn(&str) -> bool) {
    let workloads: Vec<_> = THROUGHPUT.iter().filter(|x| wanted(x)).collect();
    if workloads.is_empty() {
        return;
    }
    let echo = Bench::<Echo>::start(w);
    let tokio = Bench::<Tokio>::start(w);
    let ae = Bench::<AsyncExecutor>::start(w);
    for &&workload in &workloads {
        eprintln!("{workload} W={w} ...");
        let mut times: [Vec<Duration>; 3] = Default::default();
        let time = |run: &dyn Fn()| {
            // Let the previous peer's workers go idle and park first, so
            // they do not compete for the CPUs with this run.
            std::thread::sleep(Duration::from_millis(5));
            let t = Instant::now();
            run();
            t.elapsed()
        };
        for rep in 0..reps + 2 {
            let t = [
                time(&|| assert!(echo.run(workload))),
                time(&|| assert!(tokio.run(workload))),
                time(&|| assert!(ae.run(workload))),
            ];
            if rep >= 2 {
                for (v, t) in times.iter_mut().zip(t) {
                    v.push(t); // the first two runs are warm-up
                }
            }
        }
        let [e, t, a] = times.map(|mut v| median(&mut v));
        println!(
            "| {workload} | {w} | {} | {} | {} | {} | {} | {} |",
            fmt_duration(e),
            fmt_duration(t),
            fmt_duration(a),
            ratio(t, e),
            ratio(a, e),
            target(workload)
        );
    }
    echo.stop();
    tokio.stop();
    ae.stop();
}

fn run_peer<R>(w: usize, f: impl Fn(&dyn PeerRun) -> R) -> [R; 3] {
    [
        f(&PeerOf::<Echo>::new(w)),
        f(&PeerOf::<Tokio>::new(w)),
        f(&PeerOf::<AsyncExecutor>::new(w)),
    ]
}

/// Object-safe access to the special workloads of one peer.
trait PeerRun {
    fn prio_latency(&self) -> PrioLatency;
    fn fairness(&self) -> Fairness;
    fn wake_latency(&self) -> Latency;
    fn fan_out(&self) -> Duration;
}

struct PeerOf<P: Peer> {
    workers: usize,
    _p: std::marker::PhantomData<P>,
}

impl<P: Peer> PeerOf<P> {
    fn new(workers: usize) -> Self {
        PeerOf {
            workers,
            _p: std::marker::PhantomData,
        }
    }
}

impl<P: Peer> PeerRun for PeerOf<P> {
    fn prio_latency(&self) -> PrioLatency {
        let peer = P::start(self.workers);
        special::warm_up(&peer, self.workers);
        let r = special::prio_latency(&peer);
        peer.stop();
        r
    }
    fn fairness(&self) -> Fairness {
        let peer = P::start(self.workers);
        special::warm_up(&peer, self.workers);
        let r = special::fairness(&peer, self.workers);
        peer.stop();
        r
    }
    fn wake_latency(&self) -> Latency {
        let peer = P::start(self.workers);
        special::warm_up(&peer, self.workers);
        let r = special::wake_latency(&peer, 200);
        peer.stop();
        r
    }
    fn fan_out(&self) -> Duration {
        let bench = Bench::<P>::start(self.workers);
        bench.fan_out(20_000, Duration::from_micros(2)); // warm-up
        let t = Instant::now();
        bench.fan_out(100_000, Duration::from_micros(2));
        let d = t.elapsed();
        bench.stop();
        d
    }
}

fn lat(l: &Latency) -> String {
    format!(
        "p50 {} / p99 {} / max {}",
        fmt_duration(l.p50),
        fmt_duration(l.p99),
        fmt_duration(l.max)
    )
}

fn prio_latency_row(w: usize) {
    eprintln!("prio_latency W={w} ...");
    // Three runs per peer; each statistic is the median of the three.
    let runs: Vec<[PrioLatency; 3]> = (0..3).map(|_| run_peer(w, |p| p.prio_latency())).collect();
    let med = |i: usize, f: fn(&PrioLatency) -> Duration| {
        let mut v: Vec<_> = runs.iter().map(|r| f(&r[i])).collect();
        median(&mut v)
    };
    let cell = |i: usize| {
        let l = Latency {
            p50: med(i, |r| r.probe.p50),
            p99: med(i, |r| r.probe.p99),
            max: med(i, |r| r.probe.max),
        };
        format!(
            "{}; flood {}",
            lat(&l),
            fmt_duration(med(i, |r| r.flood_wall))
        )
    };
    let p99 = |i| med(i, |r| r.probe.p99);
    println!(
        "| prio_latency (High probe, submit→first poll) | {w} | {} | {} | {} | p99 {} | p99 {} | {} |",
        cell(0),
        cell(1),
        cell(2),
        ratio(p99(1), p99(0)),
        ratio(p99(2), p99(0)),
        target("prio_latency")
    );
}

fn fairness_row(w: usize) {
    eprintln!("fairness W={w} ...");
    let r = run_peer(w, |p| p.fairness());
    let cell = |f: &Fairness| {
        format!(
            "H/N/L {:.0}/{:.0}/{:.0} %; longest Low wait {}",
            f.shares[0] * 100.0,
            f.shares[1] * 100.0,
            f.shares[2] * 100.0,
            fmt_duration(f.longest_low_wait)
        )
    };
    println!(
        "| fairness (poll shares in first 100 ms) | {w} | {} | {} | {} | | | no tier starves |",
        cell(&r[0]),
        cell(&r[1]),
        cell(&r[2])
    );
}

fn wake_latency_row(w: usize) {
    eprintln!("wake_latency W={w} ...");
    let r = run_peer(w, |p| p.wake_latency());
    println!(
        "| wake_latency (idle pool, submit→first poll) | {w} | {} | {} | {} | p50 {} | p50 {} | |",
        lat(&r[0]),
        lat(&r[1]),
        lat(&r[2]),
        ratio(r[1].p50, r[0].p50),
        ratio(r[2].p50, r[0].p50)
    );
}

fn child_row(kind: &str, w: usize) {
    eprintln!("{kind} W={w} ...");
    let values: Vec<Option<f64>> = PEERS
        .iter()
        .map(|p| run_child_process(kind, p, w))
        .collect();
    let show = |v: &Option<f64>| match (kind, v) {
        (_, None) => "n/a".to_string(),
        ("task_memory", Some(b)) => format!("{b:.0} B/task"),
        (_, Some(ms)) => format!("{ms:.3} ms/s"),
    };
    let rel = |peer: &Option<f64>| match (values[0], peer) {
        (Some(e), Some(p)) if *p > 0.0 => format!("{:.2}×", e / p),
        _ => "n/a".into(),
    };
    let label = match kind {
        "task_memory" => "task_memory (RSS per parked task, 200 000 tasks)",
        _ => "idle_cpu (CPU per second, idle 2 s)",
    };
    println!(
        "| {label} | {w} | {} | {} | {} | {} of tokio | {} of a-e | {} |",
        show(&values[0]),
        show(&values[1]),
        show(&values[2]),
        rel(&values[1]),
        rel(&values[2]),
        target(kind)
    );
}

fn scaling_rows(workers: &[usize], reps: usize) {
    eprintln!("scaling ...");
    let mut base: Option<[Duration; 3]> = None;
    for &w in workers {
        let runs: Vec<[Duration; 3]> = (0..reps.max(1))
            .map(|_| run_peer(w, |p| p.fan_out()))
            .collect();
        let med: [Duration; 3] = std::array::from_fn(|i| {
            let mut v: Vec<_> = runs.iter().map(|r| r[i]).collect();
            median(&mut v)
        });
        let b = *base.get_or_insert(med);
        let cell = |i: usize| {
            format!(
                "{:.0} k tasks/s ({:.2}× W={})",
                100_000.0 / med[i].as_secs_f64() / 1e3,
                b[i].as_secs_f64() / med[i].as_secs_f64(),
                workers[0]
            )
        };
        println!(
            "| scaling (100 000 × 2 µs fan-out) | {w} | {} | {} | {} | {} | {} | {} |",
            cell(0),
            cell(1),
            cell(2),
            ratio(med[1], med[0]),
            ratio(med[2], med[0]),
            target("scaling")
        );
    }
}

/// Runs this binary as a child for one peer; parses the number it prints.
fn run_child_process(kind: &str, peer: &str, w: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args(["--child", kind, "--peer", peer, "--workers", &w.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{kind} {peer}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn run_child(kind: &str, peer: &str, w: usize, reps: usize) {
    if let Some(rest) = kind.strip_prefix("observe:") {
        // `observe:VARIANT:WORKLOAD`.
        let (variant, workload) = rest.split_once(':').unwrap_or(("idle", rest));
        let variant = observe::Variant::from_key(variant)
            .unwrap_or_else(|| usage(&format!("unknown variant {variant}")));
        let took = observe::one_run(variant, workload, w);
        println!("{}", took.as_nanos());
        return;
    }
    if kind == "server" {
        let served = match peer {
            "echo" => serve_child::<EchoServer>(w),
            "tokio" => serve_child::<TokioServer>(w),
            _ => usage(&format!("unknown server peer {peer}")),
        };
        if let Err(e) = served {
            eprintln!("server {peer}: {e}");
            std::process::exit(1);
        }
        // Open connections and the runtime are not waited for.
        std::process::exit(0);
    }
    if kind == "burst_memory" {
        burst_child(peer, w);
        return;
    }
    if kind == "timer_churn" {
        let [ready, pending] = echo_timer_churn(w, reps);
        println!("{} {}", ms(ready), ms(pending));
        return;
    }
    if kind == "timer_lateness" {
        let l = echo_benches::timers::echo_timer_lateness(w, TIMER_TICKS);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{} {} {} {} {} {}",
            us(l.idle.p50),
            us(l.idle.p99),
            us(l.idle.max),
            us(l.flood.p50),
            us(l.flood.p99),
            us(l.flood.max)
        );
        return;
    }
    let value = match (kind, peer) {
        ("task_memory", "echo") => special::task_memory::<Echo>(w, 200_000),
        ("task_memory", "tokio") => special::task_memory::<Tokio>(w, 200_000),
        ("task_memory", "async-executor") => special::task_memory::<AsyncExecutor>(w, 200_000),
        ("idle_cpu", "echo") => ms(special::idle_cpu::<Echo>(w, 2)),
        ("idle_cpu", "tokio") => ms(special::idle_cpu::<Tokio>(w, 2)),
        ("idle_cpu", "async-executor") => ms(special::idle_cpu::<AsyncExecutor>(w, 2)),
        _ => usage(&format!("unknown child {kind} / {peer}")),
    };
    println!("{value}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The server tables: `http_hello` and `http_flood` on Echo (and the
/// `--baseline` build's Echo) beside tokio.
fn http_tables(args: &Args, wanted: &impl Fn(&str) -> bool) {
    println!();
    if !wrk::available() {
        println!("HTTP servers: skipped, `wrk` is not installed.");
        return;
    }
    let exe = std::env::current_exe().expect("this binary's path");
    // Columns: (name, binary, runtime).
    let mut columns = vec![(Echo::NAME, exe.clone(), "echo")];
    if let Some(baseline) = &args.baseline {
        columns.insert(0, ("echo (baseline)", baseline.clone(), "echo"));
    }
    columns.push((Tokio::NAME, exe, "tokio"));
    let load = LoadSettings {
        duration: Duration::from_secs(args.server_secs),
        wrk_threads: args.wrk_threads,
    };
    let load_before = sys::load_average();
    println!(
        "HTTP servers: hyper 1.x HTTP/1.1 on tokio sockets (Echo: through its tokio bridge), one task \
         per connection, in a child process; loaded by `wrk -t{} -c{CONNECTIONS} \
         --latency` in a process of its own, 127.0.0.1. Medians of {} runs of {} s per column, \
         columns interleaved. CPU/req: the server process's CPU time over the run / the requests \
         it answered (\"driver\": the part on the bridge's driver thread); CPUs: the server's CPU time / the run's wall time. \
         http_flood: wrk floods \
         the Normal listener with /work ({} of CPU each) while one connection asks the High \
         listener for /ui every {} (timed from send to last byte, in this process); tokio has no \
         tiers, its two listeners are equal. Its OS floor row: a second probe thread, half an \
         interval out of phase, times a bare thread of this process that answers /ui on a socket \
         of its own, with no runtime.",
        args.wrk_threads,
        args.server_runs,
        args.server_secs,
        fmt_duration(WORK_CPU),
        fmt_duration(PROBE_INTERVAL),
    );
    println!();
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    println!(
        "| workload | W | {} | echo vs tokio | target | met |",
        names.join(" | ")
    );
    println!("|---|---:|{}---:|---|---|", "---:|".repeat(names.len()));
    for &w in &args.workers {
        let specs: Vec<ServerSpec> = columns
            .iter()
            .map(|(_, exe, peer)| ServerSpec {
                exe: exe.clone(),
                peer: (*peer).into(),
                workers: w,
            })
            .collect();
        if wanted("http_hello") {
            eprintln!("http_hello W={w} ...");
            let runs =
                interleaved_runs(&specs, args.server_runs, |s| http_bench::hello_run(s, load));
            hello_row(w, &names, &runs);
        }
        if wanted("http_flood") {
            eprintln!("http_flood W={w} ...");
            let runs =
                interleaved_runs(&specs, args.server_runs, |s| http_bench::flood_run(s, load));
            flood_row(w, &names, &runs);
            flood_floor_row(w, &runs);
            flood_closed_rows(w, &names, &runs);
        }
    }
    println!();
    println!(
        "Load average (1/5/15 min) before the server tables: {load_before}; after: {}.",
        sys::load_average()
    );
}

/// Runs every spec `runs` times, interleaved; each column's successful
/// runs (failures are reported on stderr).
fn interleaved_runs<T>(
    specs: &[ServerSpec],
    runs: usize,
    run: impl Fn(&ServerSpec) -> std::io::Result<T>,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = specs.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for (spec, results) in specs.iter().zip(&mut out) {
            match run(spec) {
                Ok(r) => results.push(r),
                Err(e) => eprintln!("{} W={}: {e}", spec.peer, spec.workers),
            }
        }
    }
    out
}

/// The median of `f` over `runs`.
fn med<T>(runs: &[T], f: impl Fn(&T) -> Duration) -> Duration {
    let mut v: Vec<Duration> = runs.iter().map(f).collect();
    median(&mut v)
}

/// The median of a rate over `runs`.
fn med_rate<T>(runs: &[T], f: impl Fn(&T) -> f64) -> f64 {
    // Rates as durations (1 s = 1 unit), to share the median.
    med(runs, |r| Duration::from_secs_f64(f(r).max(0.0))).as_secs_f64()
}

fn kreq(rate: f64) -> String {
    format!("{:.1} k req/s", rate / 1e3)
}

fn errors_note(errors: u64) -> String {
    if errors == 0 {
        String::new()
    } else {
        format!("; {errors} wrk errors")
    }
}

fn hello_row(w: usize, names: &[&str], runs: &[Vec<HelloRun>]) {
    let tokio = runs.last().expect("tokio column");
    let rate = |r: &[HelloRun]| med_rate(r, |x| x.wrk.requests_per_sec);
    let cpu = |r: &[HelloRun]| med(r, |x| x.usage.cpu_per_request());
    let cells: Vec<String> = runs
        .iter()
        .map(|r| {
            if r.is_empty() {
                return "n/a".into();
            }
            let driver = med(r, |x| x.usage.driver_per_request());
            let driver = if driver.is_zero() {
                String::new()
            } else {
                format!(" (driver {})", fmt_duration(driver))
            };
            format!(
                "{}; p50 {} / p99 {}; CPU {}/req{driver}, {:.2} CPUs{}",
                kreq(rate(r)),
                fmt_duration(med(r, |x| x.wrk.p50)),
                fmt_duration(med(r, |x| x.wrk.p99)),
                fmt_duration(cpu(r)),
                med_rate(r, |x| x.usage.cpus()),
                errors_note(r.iter().map(|x| x.wrk.errors).sum()),
            )
        })
        .collect();
    // Each Echo column against tokio: rate ratio (above 1: Echo serves
    // more) and CPU ratio (below 1: Echo spends less per request).
    let echo_columns = &runs[..runs.len() - 1];
    let judged: Vec<(String, bool)> = echo_columns
        .iter()
        .zip(names)
        .map(|(r, name)| {
            if r.is_empty() || tokio.is_empty() {
                return (format!("{name}: n/a"), false);
            }
            let speed = rate(r) / rate(tokio);
            let cost = cpu(r).as_secs_f64() / cpu(tokio).as_secs_f64();
            (
                format!("{name}: req/s {speed:.2}×, CPU/req {cost:.2}×"),
                speed >= 1.0 && cost <= 1.0,
            )
        })
        .collect();
    println!(
        "| http_hello ({CONNECTIONS} connections, /hello) | {w} | {} | {} | req/s ≥ 1.0× tokio (aim 1.1×), CPU/req ≤ tokio | {} |",
        cells.join(" | "),
        judged
            .iter()
            .map(|j| j.0.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        met(&judged),
    );
}

fn flood_row(w: usize, names: &[&str], runs: &[Vec<FloodRun>]) {
    let tokio = runs.last().expect("tokio column");
    let rate = |r: &[FloodRun]| med_rate(r, |x| x.bulk.requests_per_sec);
    let cells: Vec<String> = runs
        .iter()
        .map(|r| {
            if r.is_empty() {
                return "n/a".into();
            }
            format!(
                "{}; bulk {}; CPU {}/req, {:.2} CPUs{}",
                probe_cell(r, |x| x.ui),
                kreq(rate(r)),
                fmt_duration(med(r, |x| x.usage.cpu_per_request())),
                med_rate(r, |x| x.usage.cpus()),
                errors_note(r.iter().map(|x| x.bulk.errors).sum()),
            )
        })
        .collect();
    let echo_columns = &runs[..runs.len() - 1];
    let judged: Vec<(String, bool)> = echo_columns
        .iter()
        .zip(names)
        .map(|(r, name)| {
            if r.is_empty() || tokio.is_empty() {
                return (format!("{name}: n/a"), false);
            }
            let bulk = rate(r) / rate(tokio);
            let p50 = med(r, |x| x.ui.p50);
            let p99 = med(r, |x| x.ui.p99);
            let tokio_p99 = med(tokio, |x| x.ui.p99);
            (
                format!("{name}: bulk {bulk:.2}×, /ui p99 {}", ratio(tokio_p99, p99)),
                p50 <= Duration::from_micros(100) && p99 <= Duration::from_millis(1) && bulk >= 0.9,
            )
        })
        .collect();
    let verdict = if w == 2 {
        met(&judged)
    } else {
        "(set for W=2)".into()
    };
    println!(
        "| http_flood (High /ui probe; {CONNECTIONS} connections flood Normal /work) | {w} | {} | {} | W=2: High p50 ≤ 100 µs, p99 ≤ 1 ms; bulk ≥ 0.9× tokio | {verdict} |",
        cells.join(" | "),
        judged
            .iter()
            .map(|j| j.0.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    );
}

/// The OS floor measured in each column's flood runs: a bare responder
/// thread probed alongside (see `echo_benches::bare_responder`).
fn flood_floor_row(w: usize, runs: &[Vec<FloodRun>]) {
    let cells: Vec<String> = runs
        .iter()
        .map(|r| {
            if r.is_empty() {
                return "n/a".into();
            }
            probe_cell(r, |x| x.floor)
        })
        .collect();
    println!(
        "| http_flood OS floor (a bare thread answering /ui on a socket of its own, probed alongside in the same runs) | {w} | {} | | | |",
        cells.join(" | "),
    );
}

/// The closed-loop phase of the flood runs (the `/ui` probe, then the
/// floor's, each asking again as soon as it is answered), and the High
/// readiness targets judged on both phases against the floor of the same
/// runs: at W=2, `/ui` p90 ≤ 200 µs and p99 within 300 µs of the floor's;
/// at W=1, p50 ≤ 100 µs.
fn flood_closed_rows(w: usize, names: &[&str], runs: &[Vec<FloodRun>]) {
    let cells = |probe: fn(&FloodRun) -> ProbeLatency| -> Vec<String> {
        runs.iter()
            .map(|r| {
                if r.is_empty() {
                    "n/a".into()
                } else {
                    probe_cell(r, probe)
                }
            })
            .collect()
    };
    let judge = |r: &[FloodRun],
                 ui: fn(&FloodRun) -> ProbeLatency,
                 floor: fn(&FloodRun) -> ProbeLatency| {
        let word = |ok: bool| if ok { "yes" } else { "no" };
        let p50 = med(r, |x| ui(x).p50);
        let p90 = med(r, |x| ui(x).p90);
        let p99 = med(r, |x| ui(x).p99);
        let floor99 = med(r, |x| floor(x).p99);
        match w {
            2 => format!(
                "p90 ≤ 200 µs: {}, p99 ≤ floor + 300 µs: {}",
                word(p90 <= Duration::from_micros(200)),
                word(p99 <= floor99 + Duration::from_micros(300))
            ),
            1 => format!("p50 ≤ 100 µs: {}", word(p50 <= Duration::from_micros(100))),
            _ => String::new(),
        }
    };
    let verdicts = |ui: fn(&FloodRun) -> ProbeLatency, floor: fn(&FloodRun) -> ProbeLatency| {
        runs[..runs.len() - 1]
            .iter()
            .zip(names)
            .filter(|(r, _)| !r.is_empty())
            .map(|(r, name)| format!("{name}: {}", judge(r, ui, floor)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let target = "High readiness: W=2 /ui p90 ≤ 200 µs, p99 ≤ floor p99 + 300 µs; W=1 p50 ≤ 100 µs";
    println!(
        "| http_flood High readiness, fixed-rate /ui probe (the first row's) against its floor | {w} | {} | | {target} | {} |",
        vec![""; runs.len()].join(" | "),
        verdicts(|x| x.ui, |x| x.floor),
    );
    println!(
        "| http_flood /ui probe in a closed loop (after the fixed-rate phase) | {w} | {} | | {target} | {} |",
        cells(|x| x.ui_closed).join(" | "),
        verdicts(|x| x.ui_closed, |x| x.floor_closed),
    );
    println!(
        "| http_flood OS floor in a closed loop (the bare thread, after the /ui probe) | {w} | {} | | | |",
        cells(|x| x.floor_closed).join(" | "),
    );
}

/// One probe's medians over a column's flood runs.
fn probe_cell(r: &[FloodRun], probe: impl Fn(&FloodRun) -> ProbeLatency) -> String {
    format!(
        "/ui p50 {} / p90 {} / p99 {} ({} probes)",
        fmt_duration(med(r, |x| probe(x).p50)),
        fmt_duration(med(r, |x| probe(x).p90)),
        fmt_duration(med(r, |x| probe(x).p99)),
        r.iter().map(|x| probe(x).count).sum::<usize>(),
    )
}

/// "yes"/"no" for one Echo column, or per column when there are several.
fn met(judged: &[(String, bool)]) -> String {
    let word = |ok: bool| if ok { "yes" } else { "no" };
    match judged {
        [(_, ok)] => word(*ok).into(),
        _ => judged
            .iter()
            .map(|(text, ok)| format!("{}: {}", text.split(':').next().unwrap_or(""), word(*ok)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Ticks per phase of timer_lateness: 3.2 s of a 16 ms interval.
const TIMER_TICKS: usize = 200;

/// timer_lateness: a 16 ms interval's tick lateness, Echo's timers beside
/// tokio::time (async-executor has no timers of its own), and the OS floor
/// (a bare thread's `thread::sleep` to the same deadlines) in its own row.
fn timer_lateness_rows(w: usize, baseline: Option<&Path>) {
    use echo_benches::timers::{echo_timer_lateness, os_sleep_lateness, tokio_timer_lateness};
    eprintln!("timer_lateness W={w} ...");
    if let Some(exe) = baseline {
        let numbers = baseline_child(exe, "timer_lateness", w, 1);
        let l = |i: usize| {
            numbers
                .as_ref()
                .map_or(Duration::ZERO, |v| Duration::from_secs_f64(v[i] / 1e6))
        };
        for (phase, at) in [("idle", 0), ("Normal flood, Echo ticker High", 3)] {
            let e = Latency {
                p50: l(at),
                p99: l(at + 1),
                max: l(at + 2),
            };
            println!(
                "| timer_lateness (16 ms interval, {phase}), echo (baseline) | {w} | {} | | n/a | | | |",
                lat(&e),
            );
        }
    }
    let echo = echo_timer_lateness(w, TIMER_TICKS);
    let floor = os_sleep_lateness(TIMER_TICKS);
    let tokio = tokio_timer_lateness(w, TIMER_TICKS);
    for (phase, e, t) in [
        ("idle", echo.idle, tokio.idle),
        ("Normal flood, Echo ticker High", echo.flood, tokio.flood),
    ] {
        println!(
            "| timer_lateness (16 ms interval, {phase}) | {w} | {} | {} | n/a | p99 {} | | p99 < 100 µs idle |",
            lat(&e),
            lat(&t),
            ratio(t.p99, e.p99),
        );
    }
    println!(
        "| timer_lateness OS floor (a bare thread's `thread::sleep` to the same deadlines, run between them) | {w} | {} | | | | | |",
        lat(&floor),
    );
}

/// burst_memory: each peer in a child process of its own, the resident set
/// after each round, and Echo's slab beside it.
fn burst_memory(workers: &[usize]) {
    use echo_benches::burst::{IDLE, ROUNDS, TASKS};
    for &w in workers {
        eprintln!("burst_memory W={w} ...");
        let runs: Vec<Option<Vec<Reading>>> =
            PEERS.iter().map(|p| burst_child_process(p, w)).collect();
        println!();
        println!(
            "Burst memory, W={w}: {ROUNDS} rounds, each {TASKS} tasks submitted from outside as one \
             batch (`submit_batch` on Echo and async-executor, a loop of `spawn` on tokio), each \
             carrying a `String` that the submitter made and the task drops; the submitter awaits \
             them all, then idles {} ms; the resident set (RSS, MiB) is read after the idle. Each \
             peer runs in a fresh process of its own. Echo's slab is `Metrics::slab_bytes`.",
            IDLE.as_millis()
        );
        println!();
        println!("| round | echo RSS | echo slab | tokio RSS | async-executor RSS |");
        println!("|---:|---:|---:|---:|---:|");
        let mib = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
        let cell = |run: &Option<Vec<Reading>>, i: usize, own: bool| {
            let Some(r) = run.as_ref().and_then(|r| r.get(i)) else {
                return "n/a".to_string();
            };
            if own {
                r.own.map_or("n/a".into(), mib)
            } else {
                mib(r.rss)
            }
        };
        for i in 0..ROUNDS {
            println!(
                "| {} | {} | {} | {} | {} |",
                i + 1,
                cell(&runs[0], i, false),
                cell(&runs[0], i, true),
                cell(&runs[1], i, false),
                cell(&runs[2], i, false),
            );
        }
        let at = |run: &Option<Vec<Reading>>, round: usize| {
            run.as_ref()
                .and_then(|r| r.get(round - 1))
                .map(|r| r.rss as f64)
        };
        let growth: Vec<String> = PEERS
            .iter()
            .zip(&runs)
            .map(|(name, run)| match (at(run, 3), at(run, ROUNDS)) {
                (Some(a), Some(b)) if a > 0.0 => format!("{name} {:.2}×", b / a),
                _ => format!("{name} n/a"),
            })
            .collect();
        let verdict = match (at(&runs[0], 3), at(&runs[0], ROUNDS), at(&runs[1], ROUNDS)) {
            (Some(e3), Some(e), Some(t)) if e3 > 0.0 => {
                let met = e <= 1.5 * e3 && e <= t;
                format!(
                    "echo round {ROUNDS} / tokio round {ROUNDS}: {:.2}×; target (echo round {ROUNDS} \
                     ≤ 1.5× its round 3, and ≤ tokio's): {}",
                    e / t,
                    if met { "met" } else { "not met" }
                )
            }
            _ => "target: n/a".into(),
        };
        let times: Vec<String> = PEERS
            .iter()
            .zip(&runs)
            .map(|(name, run)| match run {
                Some(r) if !r.is_empty() => {
                    let mut t: Vec<Duration> =
                        r.iter().map(|x| Duration::from_nanos(x.nanos)).collect();
                    format!("{name} {}", fmt_duration(median(&mut t)))
                }
                _ => format!("{name} n/a"),
            })
            .collect();
        println!();
        println!(
            "RSS after round {ROUNDS} / after round 3: {}. {verdict}. Median time of a burst \
             (submit to the last task awaited): {}.",
            growth.join(", "),
            times.join(", ")
        );
    }
}

/// Runs this binary as a burst_memory child for one peer; its readings.
fn burst_child_process(peer: &str, w: usize) -> Option<Vec<Reading>> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args([
            "--child",
            "burst_memory",
            "--peer",
            peer,
            "--workers",
            &w.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "burst_memory {peer}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut it = line.split_whitespace();
            let rss = it.next()?.parse().ok()?;
            let nanos = it.next()?.parse().ok()?;
            let own = it.next().and_then(|v| v.parse().ok());
            Some(Reading { rss, own, nanos })
        })
        .collect()
}

/// The burst_memory child: one line per round, the RSS in bytes, the
/// burst's time in nanoseconds and (Echo) the slab bytes.
fn burst_child(peer: &str, w: usize) {
    use echo_benches::burst::{ROUNDS, TASKS, burst_rounds};
    let readings = match peer {
        "echo" => burst_rounds::<Echo>(w, ROUNDS, TASKS, |e| Some(e.0.metrics().slab_bytes as u64)),
        "tokio" => burst_rounds::<Tokio>(w, ROUNDS, TASKS, |_| None),
        "async-executor" => burst_rounds::<AsyncExecutor>(w, ROUNDS, TASKS, |_| None),
        _ => usage(&format!("unknown burst_memory peer {peer}")),
    };
    for r in readings {
        match r.own {
            Some(own) => println!("{} {} {own}", r.rss, r.nanos),
            None => println!("{} {}", r.rss, r.nanos),
        }
    }
}

/// Runs `exe` (another build of this binary) as a child of `kind` for
/// Echo; the numbers it prints.
fn baseline_child(exe: &Path, kind: &str, w: usize, reps: usize) -> Option<Vec<f64>> {
    let out = std::process::Command::new(exe)
        .args(["--child", kind, "--peer", "echo", "--workers"])
        .arg(w.to_string())
        .args(["--reps", &reps.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("baseline {kind}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect()
}

/// timer_churn on Echo alone: the medians of `reps` runs of each variant
/// (ready at once, pending once), interleaved.
fn echo_timer_churn(w: usize, reps: usize) -> [Duration; 2] {
    use echo_benches::timers::TimerChurn;
    let echo = TimerChurn::<Echo>::start(w);
    let times = interleaved(reps, [&|| echo.run(false), &|| echo.run(true)]);
    echo.stop();
    times
}

/// The medians of one worker count: per variant (ready at once, pending
/// once), the baseline build's Echo, this build's Echo, tokio.
type ChurnMedians = [[Option<Duration>; 3]; 2];

/// timer_churn: `timeout(30 s, …)` around futures ready at once, and
/// around futures pending once (the timer armed, then cancelled), on Echo
/// beside tokio; with `baseline`, also on that build's Echo.
fn timer_churn_table(workers: &[usize], reps: usize, baseline: Option<&Path>) {
    use echo_benches::timers::{CHURN_TASKS, CHURN_TIMEOUTS, TimerChurn};
    const VARIANTS: [&str; 2] = ["ready at once", "pending once, then ready"];
    let with_base = baseline.is_some();
    println!();
    println!(
        "timer_churn: {CHURN_TASKS} tasks submitted from outside, each awaiting \
         {CHURN_TIMEOUTS} futures in turn, each under `timeout(30 s, …)` (Echo: \
         `echo_std::time::timeout`; tokio: `tokio::time::timeout` on its multi-thread \
         runtime). Median wall time of {reps} runs, Echo and tokio interleaved{}. \"echo vs \
         tokio\" is tokio's time / Echo's (above 1: Echo is faster).",
        if with_base {
            "; the baseline build runs first, in a child process, per worker count"
        } else {
            ""
        }
    );
    println!();
    let (base_head, base_ratio_head, base_align) = if with_base {
        (" echo (baseline) |", " baseline / echo |", "---:|")
    } else {
        ("", "", "")
    };
    println!(
        "| inner future | W |{base_head} echo | tokio | echo vs tokio |{base_ratio_head} target |"
    );
    println!("|---|---:|{base_align}---:|---:|---:|{base_align}---|");
    let mut medians: Vec<(usize, ChurnMedians)> = Vec::new();
    for &w in workers {
        eprintln!("timer_churn W={w} ...");
        let base = baseline.and_then(|exe| baseline_child(exe, "timer_churn", w, reps));
        let base_of = |i: usize| base.as_ref().map(|v| Duration::from_secs_f64(v[i] / 1e3));
        let echo = TimerChurn::<Echo>::start(w);
        let tokio = TimerChurn::<Tokio>::start(w);
        let [er, tr, ep, tp] = interleaved(
            reps,
            [
                &|| echo.run(false),
                &|| tokio.run(false),
                &|| echo.run(true),
                &|| tokio.run(true),
            ],
        );
        echo.stop();
        tokio.stop();
        let m: ChurnMedians = [
            [base_of(0), Some(er), Some(tr)],
            [base_of(1), Some(ep), Some(tp)],
        ];
        for (name, [b, e, t]) in VARIANTS.iter().zip(m) {
            let (e, t) = (e.unwrap_or_default(), t.unwrap_or_default());
            let (base_cell, base_ratio) = match (with_base, b) {
                (false, _) => (String::new(), String::new()),
                (true, Some(b)) => (
                    format!(" {} |", fmt_duration(b)),
                    format!(" {} |", ratio(b, e)),
                ),
                (true, None) => (" n/a |".into(), " n/a |".into()),
            };
            let met = t.as_secs_f64() >= 1.2 * e.as_secs_f64();
            println!(
                "| {name} | {w} |{base_cell} {} | {} | {} |{base_ratio} ≥ 1.2× tokio: {} |",
                fmt_duration(e),
                fmt_duration(t),
                ratio(t, e),
                if met { "met" } else { "missed" },
            );
        }
        medians.push((w, m));
    }
    // No collapse when oversubscribed: W=8's time against W=2's.
    let at = |w: usize| medians.iter().find(|m| m.0 == w).map(|m| m.1);
    let (Some(two), Some(eight)) = (at(2), at(8)) else {
        return;
    };
    println!();
    for (v, name) in VARIANTS.iter().enumerate() {
        let cell = |k: usize| match (two[v][k], eight[v][k]) {
            (Some(x), Some(y)) => format!("{:.2}×", y.as_secs_f64() / x.as_secs_f64()),
            _ => "n/a".into(),
        };
        let met = match (two[v][1], eight[v][1]) {
            (Some(x), Some(y)) => y.as_secs_f64() <= 1.2 * x.as_secs_f64(),
            _ => false,
        };
        println!(
            "timer_churn W=8 time / W=2 time, {name}: echo {}{}, tokio {} (target: echo at most 1.2×: {})",
            cell(1),
            if with_base {
                format!(", echo (baseline) {}", cell(0))
            } else {
                String::new()
            },
            cell(2),
            if met { "met" } else { "missed" },
        );
    }
}
