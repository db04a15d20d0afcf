//! The `grpc_unary` and `grpc_flood` tables of `compare` (see
//! [`grpc_bench`] for what a run does): Echo beside
//! plain tonic on tokio, medians over interleaved runs, and the OS floor.

use crate::grpc_bench::{self, GrpcRun, GrpcServerSpec, INTERVAL, Probe, STREAMS, WORK_CPU};
use crate::stats::{fmt_duration, median};
use std::path::Path;
use std::time::Duration;

/// Prints the wanted tables for each worker count.
pub fn print(exe: &Path, workers: &[usize], runs: usize, secs: u64, unary: bool, flood: bool) {
    println!();
    println!(
        "gRPC: the echo-grpc services (tonic 0.14, prost) in a child process: Echo serves them \
         with echo_std::hyper::Server, ui.Ui at High and bulk.Bulk at Low; tokio is plain tonic \
         (transport::Server) on tokio's multi-thread runtime with the same W. The client is \
         tonic on tokio current-thread runtimes in a second child process. Medians of {runs} \
         runs of {secs} s per column, columns interleaved. Fixed rate: one ui.Ui/Frame call, \
         then a {} pause; closed loop: the next call as soon as the last returns. OS floor: a \
         bare thread of the server process (a tokio current-thread runtime serving ui.Ui alone, \
         on a socket of its own), probed the same ways in the same runs.",
        fmt_duration(INTERVAL)
    );
    println!();
    println!("| workload | W | echo | tokio | echo vs tokio | target | met |");
    println!("|---|---:|---:|---:|---|---|---|");
    for &w in workers {
        let specs = ["echo", "tokio"].map(|peer| GrpcServerSpec {
            exe: exe.to_path_buf(),
            peer: peer.into(),
            workers: w,
        });
        if unary {
            eprintln!("grpc_unary W={w} ...");
            let r = interleaved(&specs, runs, false, secs);
            unary_rows(w, &r);
        }
        if flood {
            eprintln!("grpc_flood W={w} ...");
            let r = interleaved(&specs, runs, true, secs);
            flood_rows(w, &r);
        }
    }
}

fn interleaved(
    specs: &[GrpcServerSpec; 2],
    runs: usize,
    flood: bool,
    secs: u64,
) -> [Vec<GrpcRun>; 2] {
    let mut out: [Vec<GrpcRun>; 2] = Default::default();
    for _ in 0..runs {
        for (spec, results) in specs.iter().zip(&mut out) {
            match grpc_bench::run(spec, flood, Duration::from_secs(secs)) {
                Ok(r) => results.push(r),
                Err(e) => eprintln!("grpc {} W={}: {e}", spec.peer, spec.workers),
            }
        }
    }
    out
}

fn med(runs: &[GrpcRun], f: impl Fn(&GrpcRun) -> Duration) -> Duration {
    let mut v: Vec<Duration> = runs.iter().map(f).collect();
    median(&mut v)
}

fn med_f(runs: &[GrpcRun], f: impl Fn(&GrpcRun) -> f64) -> f64 {
    med(runs, |r| Duration::from_secs_f64(f(r).max(0.0))).as_secs_f64()
}

/// A probe series' medians over a column's runs.
fn cell(runs: &[GrpcRun], probe: impl Fn(&GrpcRun) -> Probe) -> String {
    if runs.is_empty() {
        return "n/a".into();
    }
    format!(
        "p50 {} / p90 {} / p99 {} ({} calls)",
        fmt_duration(med(runs, |r| probe(r).p50)),
        fmt_duration(med(runs, |r| probe(r).p90)),
        fmt_duration(med(runs, |r| probe(r).p99)),
        runs.iter().map(|r| probe(r).count).sum::<usize>()
    )
}

/// `a - b` in µs, signed.
fn added(a: Duration, b: Duration) -> String {
    format!("{:+.1} µs", (a.as_secs_f64() - b.as_secs_f64()) * 1e6)
}

fn word(ok: bool) -> &'static str {
    if ok { "yes" } else { "no" }
}

fn unary_rows(w: usize, r: &[Vec<GrpcRun>; 2]) {
    let [echo, tokio] = r;
    if echo.is_empty() || tokio.is_empty() {
        println!("| grpc_unary | {w} | n/a | n/a | | | |");
        return;
    }
    let (e50, e99) = (
        med(echo, |x| x.client.fixed.p50),
        med(echo, |x| x.client.fixed.p99),
    );
    let (t50, t99) = (
        med(tokio, |x| x.client.fixed.p50),
        med(tokio, |x| x.client.fixed.p99),
    );
    let ok = e50 <= t50 && e99 <= t99 + Duration::from_micros(100);
    println!(
        "| grpc_unary (idle, ui.Ui/Frame at a fixed rate) | {w} | {} | {} | added p50 {}, p99 {} | added p50 ≤ 0, p99 ≤ 100 µs | {} |",
        cell(echo, |x| x.client.fixed),
        cell(tokio, |x| x.client.fixed),
        added(e50, t50),
        added(e99, t99),
        word(ok)
    );
    println!(
        "| grpc_unary OS floor (bare thread, same runs) | {w} | {} | {} | | | |",
        cell(echo, |x| x.client.floor_fixed),
        cell(tokio, |x| x.client.floor_fixed),
    );
}

fn flood_rows(w: usize, r: &[Vec<GrpcRun>; 2]) {
    let [echo, tokio] = r;
    if echo.is_empty() || tokio.is_empty() {
        println!("| grpc_flood | {w} | n/a | n/a | | | |");
        return;
    }
    let label = format!(
        "{STREAMS} streams flood bulk.Bulk/Work (Low, {} CPU each)",
        fmt_duration(WORK_CPU)
    );
    let p99 = |runs: &[GrpcRun], f: fn(&GrpcRun) -> Probe| med(runs, |x| f(x).p99);
    let ratio99 = |f: fn(&GrpcRun) -> Probe| {
        format!(
            "p99 {:.2}× lower",
            p99(tokio, f).as_secs_f64() / p99(echo, f).as_secs_f64().max(1e-9)
        )
    };
    // Targets (W=2): High p99 ≤ 1 ms or within 300 µs of the floor's; for
    // the High-readiness path, p90 ≤ 200 µs and p99 within 300 µs of the
    // floor's; at W=1, p50 ≤ 100 µs.
    let judge = |f: fn(&GrpcRun) -> Probe, floor: fn(&GrpcRun) -> Probe| {
        let (p50, p90, p99) = (
            med(echo, |x| f(x).p50),
            med(echo, |x| f(x).p90),
            med(echo, |x| f(x).p99),
        );
        let floor99 = med(echo, |x| floor(x).p99);
        let near_floor = p99 <= floor99 + Duration::from_micros(300);
        match w {
            2 => format!(
                "p99 ≤ 1 ms or floor + 300 µs: {}; p90 ≤ 200 µs: {}",
                word(p99 <= Duration::from_millis(1) || near_floor),
                word(p90 <= Duration::from_micros(200)),
            ),
            1 => format!("p50 ≤ 100 µs: {}", word(p50 <= Duration::from_micros(100))),
            _ => String::new(),
        }
    };
    println!(
        "| grpc_flood: High ui.Ui/Frame at a fixed rate; {label} | {w} | {} | {} | {} | W=2: p99 ≤ 1 ms or ≤ floor + 300 µs, p90 ≤ 200 µs; W=1: p50 ≤ 100 µs | {} |",
        cell(echo, |x| x.client.fixed),
        cell(tokio, |x| x.client.fixed),
        ratio99(|x| x.client.fixed),
        judge(|x| x.client.fixed, |x| x.client.floor_fixed),
    );
    println!(
        "| grpc_flood: High ui.Ui/Frame in a closed loop | {w} | {} | {} | {} | as above | {} |",
        cell(echo, |x| x.client.closed),
        cell(tokio, |x| x.client.closed),
        ratio99(|x| x.client.closed),
        judge(|x| x.client.closed, |x| x.client.floor_closed),
    );
    println!(
        "| grpc_flood OS floor, fixed rate (bare thread, same runs) | {w} | {} | {} | | | |",
        cell(echo, |x| x.client.floor_fixed),
        cell(tokio, |x| x.client.floor_fixed),
    );
    println!(
        "| grpc_flood OS floor, closed loop (bare thread, same runs) | {w} | {} | {} | | | |",
        cell(echo, |x| x.client.floor_closed),
        cell(tokio, |x| x.client.floor_closed),
    );
    let (eb, tb) = (
        med_f(echo, |x| x.client.bulk_per_sec),
        med_f(tokio, |x| x.client.bulk_per_sec),
    );
    println!(
        "| grpc_flood bulk throughput (Work calls completed/s; server CPUs) | {w} | {:.1} k/s; {:.2} CPUs | {:.1} k/s; {:.2} CPUs | {:.2}× | ≥ 0.9× tokio | {} |",
        eb / 1e3,
        med_f(echo, |x| x.cpus),
        tb / 1e3,
        med_f(tokio, |x| x.cpus),
        eb / tb.max(1e-9),
        word(eb >= 0.9 * tb)
    );
}
