//! The timer workloads.
//!
//! timer_lateness: how late a 16 ms interval's ticks complete, on an idle
//! pool and under a flood of Normal work, for Echo's timers
//! (`echo_std::time`) and tokio's (`tokio::time` on a multi-thread
//! runtime with the same worker count).
//!
//! Lateness is the time from a tick's scheduled instant (what `tick`
//! returns) to the moment the ticking task runs again. Under the flood,
//! Echo's ticker is a High task; tokio has no priorities.
//!
//! The OS floor is what no runtime can beat on the machine at hand: a bare
//! thread that sleeps to the same deadlines with `thread::sleep`, its
//! timer slack tightened to 1 ns as Echo's workers do. On a virtual
//! machine it is often tens of microseconds, with millisecond tails when
//! the host deschedules the guest.
//!
//! timer_churn: the cost of a request timeout that does not fire (see
//! [`TimerChurn`]).

use crate::peers::{Echo, Peer, Tokio};
use crate::special::Latency;
use crate::stats::percentile;
use crate::workloads::{spin, yield_once};
use echo_std::{Priority, Scheduler};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// The interval's period.
const PERIOD: Duration = Duration::from_millis(16);
/// One flood poll.
const FLOOD_POLL: Duration = Duration::from_micros(20);

fn latency(mut v: Vec<Duration>) -> Latency {
    Latency {
        p50: percentile(&mut v, 0.5),
        p99: percentile(&mut v, 0.99),
        max: percentile(&mut v, 1.0),
    }
}

/// Latencies of one peer: idle, then under the flood.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerLateness {
    /// Idle pool.
    pub idle: Latency,
    /// Under `2 * W` Normal tasks each spinning 20 µs per poll.
    pub flood: Latency,
}

/// Echo's timers, `ticks` ticks in each phase.
pub fn echo_timer_lateness(workers: usize, ticks: usize) -> TimerLateness {
    let s = Scheduler::builder().worker_count(workers).build().unwrap();
    let phase = |flood: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let flooders: Vec<_> = (0..if flood { 2 * workers } else { 0 })
            .map(|_| {
                let stop = stop.clone();
                s.submit(
                    async move {
                        while !stop.load(Ordering::Relaxed) {
                            spin(FLOOD_POLL);
                            echo_std::yield_now().await;
                        }
                    },
                    Priority::Normal,
                )
            })
            .collect();
        let ticker = s.submit(
            async move {
                let mut every = echo_std::time::interval(PERIOD);
                every.tick().await;
                let mut late = Vec::with_capacity(ticks);
                for _ in 0..ticks {
                    let at = every.tick().await;
                    late.push(Instant::now().saturating_duration_since(at));
                }
                late
            },
            Priority::High,
        );
        let late = s.block_on(ticker).unwrap();
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            s.block_on(f).unwrap();
        }
        latency(late)
    };
    let idle = phase(false);
    let flood = phase(true);
    s.shutdown();
    TimerLateness { idle, flood }
}

/// The OS floor: a bare thread sleeping to `ticks` deadlines `PERIOD`
/// apart.
pub fn os_sleep_lateness(ticks: usize) -> Latency {
    std::thread::spawn(move || {
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK takes one integer and changes only this
        // thread's timer slack; no memory is passed.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        let mut late = Vec::with_capacity(ticks);
        let mut next = Instant::now() + PERIOD;
        for _ in 0..ticks {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            late.push(Instant::now().saturating_duration_since(next));
            next += PERIOD;
        }
        latency(late)
    })
    .join()
    .unwrap()
}

/// tokio's timers on a multi-thread runtime, as [`echo_timer_lateness`].
pub fn tokio_timer_lateness(workers: usize, ticks: usize) -> TimerLateness {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap();
    let phase = |flood: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let flooders: Vec<_> = (0..if flood { 2 * workers } else { 0 })
            .map(|_| {
                let stop = stop.clone();
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        spin(FLOOD_POLL);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let ticker = rt.spawn(async move {
            let mut every = tokio::time::interval(PERIOD);
            every.tick().await;
            let mut late = Vec::with_capacity(ticks);
            for _ in 0..ticks {
                let at = every.tick().await.into_std();
                late.push(Instant::now().saturating_duration_since(at));
            }
            late
        });
        let late = rt.block_on(ticker).unwrap();
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            rt.block_on(f).unwrap();
        }
        latency(late)
    };
    let idle = phase(false);
    let flood = phase(true);
    drop(rt);
    TimerLateness { idle, flood }
}

/// Tasks in timer_churn.
pub const CHURN_TASKS: usize = 5_000;
/// Timeouts each timer_churn task awaits, one after another.
pub const CHURN_TIMEOUTS: usize = 20;
/// Each timeout's duration: far beyond a run, so none fires.
pub const CHURN_TIMEOUT: Duration = Duration::from_secs(30);

/// A peer with a `timeout` of its own.
pub trait TimeoutPeer: Peer {
    /// `f` under the peer's `timeout(d, f)`: true if `f` finished first.
    fn timeout<F>(d: Duration, f: F) -> impl Future<Output = bool> + Send
    where
        F: Future + Send,
        F::Output: Send;
}

impl TimeoutPeer for Echo {
    async fn timeout<F>(d: Duration, f: F) -> bool
    where
        F: Future + Send,
        F::Output: Send,
    {
        echo_std::time::timeout(d, f).await.is_ok()
    }
}

impl TimeoutPeer for Tokio {
    async fn timeout<F>(d: Duration, f: F) -> bool
    where
        F: Future + Send,
        F::Output: Send,
    {
        tokio::time::timeout(d, f).await.is_ok()
    }
}

/// timer_churn: a request timeout that (almost) never fires, as a server
/// puts one around nearly every request. `CHURN_TASKS` tasks, submitted
/// from this thread, each await `CHURN_TIMEOUTS` futures in turn, each
/// under `timeout(30 s, …)`; the inner future is ready at once, or
/// (`pending`) returns `Pending` once after waking itself, so the timer
/// is armed and then cancelled.
pub struct TimerChurn<P: TimeoutPeer> {
    /// The runtime.
    pub peer: P,
    tx: SyncSender<()>,
    rx: Receiver<()>,
    rem: Arc<AtomicUsize>,
}

impl<P: TimeoutPeer> TimerChurn<P> {
    /// Starts `P` with `workers` workers.
    pub fn start(workers: usize) -> Self {
        let (tx, rx) = sync_channel(1);
        TimerChurn {
            peer: P::start(workers),
            tx,
            rx,
            rem: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// One run; returns when every task has finished.
    pub fn run(&self, pending: bool) {
        self.rem.store(CHURN_TASKS, Ordering::Relaxed);
        for _ in 0..CHURN_TASKS {
            let (tx, rem) = (self.tx.clone(), self.rem.clone());
            self.peer.spawn(
                async move {
                    for _ in 0..CHURN_TIMEOUTS {
                        let in_time = if pending {
                            P::timeout(CHURN_TIMEOUT, yield_once()).await
                        } else {
                            P::timeout(CHURN_TIMEOUT, std::future::ready(())).await
                        };
                        assert!(in_time, "a 30 s timeout fired");
                    }
                    if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                },
                Priority::Normal,
            );
        }
        self.rx.recv().unwrap();
    }

    /// Stops the runtime.
    pub fn stop(self) {
        self.peer.stop();
    }
}
