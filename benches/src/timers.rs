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

use crate::special::Latency;
use crate::stats::percentile;
use crate::workloads::spin;
use echo_std::{Priority, Scheduler};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
