//! Prints the scheduler's metrics table while a mixed workload runs.
//!
//! `cargo run --release -p echo-std --example metrics [seconds]`
//!
//! Three kinds of work share the pool: short High tasks every 5 ms, a
//! stream of Normal tasks that spawn children and await them, and Low
//! tasks that yield often. Every second the table is printed: per tier the
//! counts, queue depth (now and on average), and submit-to-first-poll
//! latency; then steals, parks and each worker's busy share.

use echo_std::{Priority, Scheduler};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let scheduler = Arc::new(Scheduler::builder().build().expect("start the pool"));
    let stop = Arc::new(AtomicBool::new(false));

    // Normal: a producer that keeps 64 parents in flight, each with 8
    // children.
    let producer = {
        let (s, stop) = (scheduler.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let parents = s.submit_batch(
                    (0..64).map(|_| async {
                        let kids: Vec<_> = (0..8)
                            .map(|_| {
                                echo_std::spawn(
                                    async { spin(Duration::from_micros(20)) },
                                    Priority::Normal,
                                )
                            })
                            .collect();
                        for k in kids {
                            k.await.unwrap();
                        }
                    }),
                    Priority::Normal,
                );
                for p in parents {
                    s.block_on(p).unwrap();
                }
            }
        })
    };
    // Low: housekeeping that yields between slices.
    let housekeeping = {
        let (s, stop) = (scheduler.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                drop(
                    s.task()
                        .name("housekeeping")
                        .priority(Priority::Low)
                        .submit(async {
                            for _ in 0..10 {
                                spin(Duration::from_micros(50));
                                echo_std::yield_now().await;
                            }
                        }),
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let start = Instant::now();
    let mut next_print = start + Duration::from_secs(1);
    while start.elapsed() < Duration::from_secs(seconds) {
        // High: a short UI-like task every 5 ms.
        drop(scheduler.submit(async { spin(Duration::from_micros(100)) }, Priority::High));
        std::thread::sleep(Duration::from_millis(5));
        if Instant::now() >= next_print {
            println!("after {:.0} s:", start.elapsed().as_secs_f64());
            println!("{}\n", scheduler.metrics());
            next_print += Duration::from_secs(1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    housekeeping.join().unwrap();
    let drained = scheduler.shutdown_timeout(Duration::from_secs(5));
    println!("final (drained: {drained}):");
    println!("{}", scheduler.metrics());
}
