//! The workloads that report their own units: priority latency, fairness,
//! memory per parked task, idle CPU, wake-up latency and scaling.

use crate::peers::Peer;
use crate::stats::percentile;
use crate::sys;
use crate::workloads::{Bench, spin};
use echo_std::Priority;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Latency percentiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Latency {
    fn of(mut v: Vec<Duration>) -> Latency {
        Latency {
            p50: percentile(&mut v, 0.5),
            p99: percentile(&mut v, 0.99),
            max: percentile(&mut v, 1.0),
        }
    }
}

/// Gets a freshly started runtime to its steady state before a
/// measurement: runs a burst of small tasks on every worker, then lets the
/// workers go idle. Without it, the first probes of a latency workload wait
/// for the operating system to start the worker threads (measured here: up
/// to 2 ms).
pub fn warm_up<P: Peer>(peer: &P, workers: usize) {
    let (tx, rx) = mpsc::sync_channel(1);
    let left = Arc::new(AtomicUsize::new(100 * workers));
    for _ in 0..100 * workers {
        let (left, tx) = (left.clone(), tx.clone());
        peer.spawn(
            async move {
                spin(Duration::from_micros(20));
                if left.fetch_sub(1, Ordering::Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            },
            Priority::Normal,
        );
    }
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
}

/// prio_latency's result.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrioLatency {
    /// High probes, submit to first poll.
    pub probe: Latency,
    /// Time for the whole Normal flood.
    pub flood_wall: Duration,
}

/// 50 000 Normal tasks of about 10 µs each, submitted from outside; a
/// second thread submits 200 High probes 500 µs apart. Measures each
/// probe's submit-to-first-poll latency, and the flood's wall time.
pub fn prio_latency<P: Peer>(peer: &P) -> PrioLatency {
    const FLOOD: usize = 50_000;
    const WORK: Duration = Duration::from_micros(10);
    const PROBES: usize = 200;
    const GAP: Duration = Duration::from_micros(500);
    let lat: Arc<Vec<AtomicU64>> = Arc::new((0..PROBES).map(|_| AtomicU64::new(0)).collect());
    let probed = Arc::new(AtomicUsize::new(0));
    let rem = Arc::new(AtomicUsize::new(FLOOD));
    let (tx, rx) = mpsc::sync_channel(1);
    let start = Instant::now();
    let prober = {
        let (peer, lat, probed) = (peer.clone(), lat.clone(), probed.clone());
        std::thread::spawn(move || {
            for i in 0..PROBES {
                let (lat, probed) = (lat.clone(), probed.clone());
                let t0 = Instant::now();
                peer.spawn(
                    async move {
                        lat[i].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        probed.fetch_add(1, Ordering::Release);
                    },
                    Priority::High,
                );
                let next = start + GAP * (i as u32 + 1);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        })
    };
    for _ in 0..FLOOD {
        let (rem, tx) = (rem.clone(), tx.clone());
        peer.spawn(
            async move {
                spin(WORK);
                if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            },
            Priority::Normal,
        );
    }
    rx.recv().unwrap();
    let flood_wall = start.elapsed();
    prober.join().unwrap();
    while probed.load(Ordering::Acquire) < PROBES {
        std::thread::sleep(Duration::from_micros(100));
    }
    let v = lat
        .iter()
        .map(|n| Duration::from_nanos(n.load(Ordering::Relaxed)))
        .collect();
    PrioLatency {
        probe: Latency::of(v),
        flood_wall,
    }
}

/// fairness's result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fairness {
    /// Share of polls per tier (High, Normal, Low) in the first 100 ms.
    pub shares: [f64; 3],
    /// The longest submit-to-first-poll wait of any Low task.
    pub longest_low_wait: Duration,
}

/// High, Normal and Low floods at once: per tier, 32 lanes per worker, each
/// a chain of tasks of about 5 µs where each task submits the next. Runs
/// 150 ms; reports each tier's share of the polls in the first 100 ms and
/// the longest wait of any Low task.
pub fn fairness<P: Peer>(peer: &P, workers: usize) -> Fairness {
    const WORK: Duration = Duration::from_micros(5);
    const WINDOW: Duration = Duration::from_millis(100);
    const RUN: Duration = Duration::from_millis(150);
    struct Shared {
        start: Instant,
        polls: [AtomicUsize; 3],
        longest_low: AtomicU64,
        stop: AtomicBool,
        lanes_left: AtomicUsize,
    }
    fn lane<P: Peer>(peer: P, s: Arc<Shared>, tier: Priority, done: mpsc::SyncSender<()>) {
        let submitted = Instant::now();
        let next = peer.clone();
        peer.spawn(
            async move {
                let wait = submitted.elapsed().as_nanos() as u64;
                if tier == Priority::Low {
                    s.longest_low.fetch_max(wait, Ordering::Relaxed);
                }
                spin(WORK);
                if s.start.elapsed() < WINDOW {
                    s.polls[tier.index()].fetch_add(1, Ordering::Relaxed);
                }
                if s.stop.load(Ordering::Relaxed) {
                    if s.lanes_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        done.send(()).unwrap();
                    }
                } else {
                    lane(next, s, tier, done);
                }
            },
            tier,
        );
    }
    let lanes = 32 * workers;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        polls: Default::default(),
        longest_low: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        lanes_left: AtomicUsize::new(3 * lanes),
    });
    let (tx, rx) = mpsc::sync_channel(1);
    for _ in 0..lanes {
        for tier in Priority::ALL {
            lane(peer.clone(), shared.clone(), tier, tx.clone());
        }
    }
    std::thread::sleep(RUN.saturating_sub(shared.start.elapsed()));
    shared.stop.store(true, Ordering::Relaxed);
    rx.recv().unwrap();
    let polls: Vec<f64> = shared
        .polls
        .iter()
        .map(|p| p.load(Ordering::Relaxed) as f64)
        .collect();
    let total: f64 = polls.iter().sum::<f64>().max(1.0);
    Fairness {
        shares: [polls[0] / total, polls[1] / total, polls[2] / total],
        longest_low_wait: Duration::from_nanos(shared.longest_low.load(Ordering::Relaxed)),
    }
}

/// A one-shot event many tasks park on, with its waker list reserved (and
/// touched) up front so it does not count as task memory.
struct Event {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Event {
    fn with_capacity(n: usize) -> Event {
        let mut v = Vec::with_capacity(n);
        v.resize(n, Waker::noop().clone());
        v.clear();
        Event {
            open: AtomicBool::new(false),
            wakers: Mutex::new(v),
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }

    fn registered(&self) -> usize {
        self.wakers.lock().unwrap().len()
    }
}

/// Waits for an [`Event`]: an `Arc` and nothing else (8 bytes).
struct Wait(Arc<Event>);

impl Future for Wait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let mut w = self.0.wakers.lock().unwrap();
        if self.0.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        w.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Parks `n` tasks on an event and returns the growth of the resident set
/// per task. Run it alone in a fresh process (`compare` does).
pub fn task_memory<P: Peer>(workers: usize, n: usize) -> f64 {
    let peer = P::start(workers);
    // Warm up the runtime's own structures (threads, queues) with a few
    // parked tasks, not with `n`: a warm-up of `n` would leave `n` tasks'
    // worth of freed memory in the allocator for the measured round.
    park_and_release(&peer, 1_000, |_| {});
    let mut per_task = 0.0;
    park_and_release(&peer, n, |event_bytes_before| {
        per_task = event_bytes_before;
    });
    peer.stop();
    per_task
}

/// Parks `n` tasks, calls `measured` with the RSS growth per task (from
/// just before the first submission to when all are parked), then releases
/// them and waits for them to finish.
fn park_and_release<P: Peer>(peer: &P, n: usize, mut measured: impl FnMut(f64)) {
    let event = Arc::new(Event::with_capacity(n));
    let done = Arc::new(AtomicUsize::new(0));
    let base = sys::rss_bytes().unwrap_or(0);
    for _ in 0..n {
        let (wait, done) = (Wait(event.clone()), done.clone());
        peer.spawn(
            async move {
                wait.await;
                done.fetch_add(1, Ordering::Release);
            },
            Priority::Normal,
        );
    }
    while event.registered() < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    let after = sys::rss_bytes().unwrap_or(0);
    measured(after.saturating_sub(base) as f64 / n as f64);
    event.open();
    while done.load(Ordering::Acquire) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// CPU time per second of wall time used by an idle runtime with
/// `workers` workers, over `secs` seconds. Run it alone in a fresh process.
pub fn idle_cpu<P: Peer>(workers: usize, secs: u64) -> Duration {
    let bench = Bench::<P>::start(workers);
    bench.spawn_many_remote(); // touch every worker once
    std::thread::sleep(Duration::from_millis(200));
    let c0 = sys::cpu_time().unwrap_or_default();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let used = sys::cpu_time().unwrap_or_default().saturating_sub(c0);
    let wall = t0.elapsed();
    bench.stop();
    used.div_f64(wall.as_secs_f64())
}

/// Submit-to-first-poll latency of a task submitted from outside to an
/// idle runtime (its workers parked): the cost of waking a worker.
pub fn wake_latency<P: Peer>(peer: &P, samples: usize) -> Latency {
    let mut v = Vec::with_capacity(samples);
    let (tx, rx) = mpsc::sync_channel(1);
    for _ in 0..samples {
        // Let every worker go idle and park.
        std::thread::sleep(Duration::from_millis(2));
        let tx = tx.clone();
        let t0 = Instant::now();
        peer.spawn(
            async move {
                tx.send(t0.elapsed()).unwrap();
            },
            Priority::High,
        );
        v.push(rx.recv().unwrap());
    }
    Latency::of(v)
}
