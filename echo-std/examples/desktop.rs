//! The desktop demo: an editor back end on one Echo pool.
//!
//! - UI frames: a High task every 16 ms (about 200 µs of work each).
//! - Background: a flood of Normal tasks (1 ms of work in 100 µs slices,
//!   yielding between slices), kept at four per worker.
//! - Maintenance: a Low task every 50 ms (2 ms of work).
//!
//! - Saving: a blocking file write every 200 ms on the blocking pool
//!   (`spawn_blocking`), awaited by a Low task.
//! - With `--features tokio`, effects use tokio through the bridge: the
//!   autosave writes with `tokio::fs`, and a Normal "sync" effect does a
//!   TCP round trip with a local tokio echo server every 50 ms, with a
//!   `tokio::time::timeout`.
//!
//! It runs for a few seconds, then prints each tier's submit-to-first-poll
//! latency and the scheduler's metrics.
//!
//! `cargo run --release -p echo-std --example desktop [seconds]`
//! `cargo run --release -p echo-std --features tokio --example desktop`

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

/// Saves the "document": without the tokio feature, a blocking write on the
/// blocking pool; with it, `tokio::fs`.
async fn autosave(saves: Arc<AtomicUsize>) {
    let path = std::env::temp_dir().join(format!("echo-desktop-{}.txt", std::process::id()));
    let text = format!("saved at {:?}\n", Instant::now());
    #[cfg(not(feature = "tokio"))]
    let written = echo_std::spawn_blocking(move || std::fs::write(&path, text))
        .await
        .expect("the blocking pool runs the save");
    #[cfg(feature = "tokio")]
    let written = tokio::fs::write(&path, text).await;
    if written.is_ok() {
        saves.fetch_add(1, Ordering::Relaxed);
    }
}

/// Effects that use tokio through the bridge.
#[cfg(feature = "tokio")]
mod bridge {
    use echo_std::{Priority, Scheduler};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Starts a local echo server as an Echo task; returns the round-trip
    /// counter, the server's address and its task.
    pub fn start(
        scheduler: &Scheduler,
    ) -> (Arc<AtomicUsize>, SocketAddr, echo_std::JoinHandle<()>) {
        let listener = scheduler
            .block_on(async { tokio::net::TcpListener::bind("127.0.0.1:0").await })
            .expect("bind the sync server");
        let addr = listener.local_addr().expect("server address");
        let server = scheduler.submit(
            async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    drop(echo_std::spawn(
                        async move {
                            let mut buf = [0u8; 64];
                            while let Ok(n @ 1..) = conn.read(&mut buf).await {
                                if conn.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        },
                        Priority::Normal,
                    ));
                }
            },
            Priority::Normal,
        );
        (Arc::new(AtomicUsize::new(0)), addr, server)
    }

    /// One round trip, bounded by a timeout.
    pub async fn sync(server: SocketAddr, done: Arc<AtomicUsize>) {
        let round_trip = async {
            let mut conn = tokio::net::TcpStream::connect(server).await?;
            conn.write_all(b"sync").await?;
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf == *b"sync")
        };
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_millis(500), round_trip).await {
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
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
    let saves = Arc::new(AtomicUsize::new(0));
    #[cfg(feature = "tokio")]
    let (syncs, server, server_task) = bridge::start(&scheduler);

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
            let tick = next_maintenance.duration_since(start).as_millis() as u64;
            if tick % 200 == 0 {
                drop(scheduler.submit(
                    timed(Priority::Low, &stats, autosave(saves.clone())),
                    Priority::Low,
                ));
            }
            #[cfg(feature = "tokio")]
            drop(scheduler.submit(
                timed(
                    Priority::Normal,
                    &stats,
                    bridge::sync(server, syncs.clone()),
                ),
                Priority::Normal,
            ));
            next_maintenance += Duration::from_millis(50);
        }
        let wake = next_frame.min(next_maintenance);
        if let Some(d) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    stop.store(true, Ordering::Relaxed);
    #[cfg(feature = "tokio")]
    server_task.abort(); // the accept loop would wait forever
    let drained = scheduler.shutdown_timeout(Duration::from_secs(2));

    println!(
        "ran {:.1} s: {} UI frames, {} background jobs, {} autosaves; drained cleanly: {drained}",
        start.elapsed().as_secs_f64(),
        frames.load(Ordering::Relaxed),
        jobs_done.load(Ordering::Relaxed),
        saves.load(Ordering::Relaxed),
    );
    #[cfg(feature = "tokio")]
    println!(
        "tokio bridge: {} TCP round trips to the local sync server",
        syncs.load(Ordering::Relaxed)
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
