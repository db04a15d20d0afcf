//! The desktop demo: an editor back end on one Echo pool.
//!
//! - UI frames: a High task every 16 ms (about 200 µs of work each).
//! - Background: a flood of Normal tasks (1 ms of work in 100 µs slices,
//!   yielding between slices), kept at four per worker.
//! - Maintenance: a Low task every 50 ms (2 ms of work).
//!
//! It runs for a few seconds, then prints each tier's submit-to-first-poll
//! latency and the scheduler's metrics.
//!
//! `cargo run --release -p echo-std --example desktop [seconds]`

use echo_std::{Priority, Scheduler};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Submit-to-first-poll latencies, per tier.
#[derive(Default)]
struct Latencies([Mutex<Vec<Duration>>; 3]);

impl Latencies {
    fn record(&self, p: Priority, d: Duration) {
        self.0[p.index()].lock().unwrap().push(d);
    }
}

/// Records the time from its creation to its first poll.
struct FirstPoll<F> {
    fut: Pin<Box<F>>,
    created: Instant,
    tier: Priority,
    stats: Option<Arc<Latencies>>,
}

fn timed<F: Future>(tier: Priority, stats: &Arc<Latencies>, fut: F) -> FirstPoll<F> {
    FirstPoll {
        fut: Box::pin(fut),
        created: Instant::now(),
        tier,
        stats: Some(stats.clone()),
    }
}

impl<F: Future> Future for FirstPoll<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Some(stats) = self.stats.take() {
            stats.record(self.tier, self.created.elapsed());
        }
        self.fut.as_mut().poll(cx)
    }
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn background_job(
    s: Arc<Scheduler>,
    stats: Arc<Latencies>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) {
    let s2 = s.clone();
    let job = timed(Priority::Normal, &stats.clone(), async move {
        for _ in 0..10 {
            spin(Duration::from_micros(100));
            echo_std::yield_now().await;
        }
        done.fetch_add(1, Ordering::Relaxed);
        if !stop.load(Ordering::Relaxed) {
            background_job(s2, stats, stop, done);
        }
    });
    drop(s.submit(job, Priority::Normal));
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let scheduler = Arc::new(
        Scheduler::builder()
            .thread_name("desktop-pool")
            .build()
            .expect("start the pool"),
    );
    let workers = scheduler.worker_count();
    println!("echo desktop demo: {workers} workers, {seconds} s");
    let stats = Arc::new(Latencies::default());
    let stop = Arc::new(AtomicBool::new(false));
    let jobs_done = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(AtomicUsize::new(0));

    for _ in 0..4 * workers {
        background_job(
            scheduler.clone(),
            stats.clone(),
            stop.clone(),
            jobs_done.clone(),
        );
    }

    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut next_frame = start;
    let mut next_maintenance = start;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_frame {
            let frames = frames.clone();
            drop(scheduler.submit(
                timed(Priority::High, &stats, async move {
                    spin(Duration::from_micros(200));
                    frames.fetch_add(1, Ordering::Relaxed);
                }),
                Priority::High,
            ));
            next_frame += Duration::from_millis(16);
        }
        if now >= next_maintenance {
            drop(scheduler.submit(
                timed(Priority::Low, &stats, async {
                    spin(Duration::from_millis(2));
                }),
                Priority::Low,
            ));
            next_maintenance += Duration::from_millis(50);
        }
        let wake = next_frame.min(next_maintenance);
        if let Some(d) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let drained = scheduler.shutdown_timeout(Duration::from_secs(2));

    println!(
        "ran {:.1} s: {} UI frames, {} background jobs; drained cleanly: {drained}",
        start.elapsed().as_secs_f64(),
        frames.load(Ordering::Relaxed),
        jobs_done.load(Ordering::Relaxed),
    );
    println!();
    println!("submit-to-first-poll latency");
    println!("| tier   | tasks |      p50 |      p99 |      max |");
    println!("|--------|------:|---------:|---------:|---------:|");
    for p in Priority::ALL {
        let mut v = stats.0[p.index()].lock().unwrap().clone();
        v.sort();
        println!(
            "| {:<6} | {:>5} | {:>8.1?} | {:>8.1?} | {:>8.1?} |",
            p.name(),
            v.len(),
            percentile(&v, 0.5),
            percentile(&v, 0.99),
            v.last().copied().unwrap_or_default(),
        );
    }
    println!();
    println!("{}", scheduler.metrics());
}
