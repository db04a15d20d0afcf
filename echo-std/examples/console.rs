//! Echo's tasks in tokio-console (feature `console`).
//!
//! Runs an editor-like load for a minute (or the seconds given): UI frames
//! at High every 16 ms, indexing jobs at Normal that yield between slices,
//! and an autosave at Low that waits on a timer, each a named task, while
//! console-subscriber serves what it sees on 127.0.0.1:6669.
//!
//! ```sh
//! # console-subscriber needs --cfg console_without_tokio_unstable, which
//! # this repository's .cargo/config.toml sets.
//! cargo run --release -p echo-std --features console --example console
//! # in another terminal (cargo install --locked tokio-console):
//! tokio-console
//! ```
//!
//! The task list shows each task's name, its `priority` field (high,
//! normal, low), where it was spawned, its polls, busy and scheduled time
//! and its wakes; a finished task stays listed, greyed, for a while.

use echo_std::time::{interval, sleep};
use echo_std::{Priority, Scheduler};
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
        .unwrap_or(60);
    // Serves the console's gRPC API on 127.0.0.1:6669 (TOKIO_CONSOLE_BIND
    // changes it) from a thread of its own.
    console_subscriber::init();
    let scheduler = Scheduler::builder()
        .worker_count(2)
        .build()
        .expect("start the pool");
    println!(
        "Echo is serving tokio-console on 127.0.0.1:6669 for {seconds} s: run `tokio-console`"
    );
    let end = Instant::now() + Duration::from_secs(seconds);

    // UI frames: a ticker at High spawning one short frame per tick.
    let ticker = scheduler
        .task()
        .name("frame-ticker")
        .priority(Priority::High)
        .submit(async move {
            let mut ticks = interval(Duration::from_millis(16));
            let mut n = 0u64;
            while Instant::now() < end {
                ticks.tick().await;
                n += 1;
                let frame = echo_std::task::builder()
                    .name(format!("frame {n}"))
                    .priority(Priority::High)
                    .submit(async {
                        for _ in 0..4 {
                            spin(Duration::from_micros(50));
                            echo_std::yield_now().await;
                        }
                    });
                drop(frame);
            }
        });
    // Indexing: four long-lived Normal tasks, each a stream of 100 µs
    // slices with a yield between them.
    let indexers: Vec<_> = (0..4)
        .map(|i| {
            scheduler
                .task()
                .name(format!("indexer {i}"))
                .priority(Priority::Normal)
                .submit(async move {
                    while Instant::now() < end {
                        spin(Duration::from_micros(100));
                        echo_std::yield_now().await;
                    }
                })
        })
        .collect();
    // Autosave: a Low task that sleeps and writes every second.
    let autosave = scheduler
        .task()
        .name("autosave")
        .priority(Priority::Low)
        .submit(async move {
            while Instant::now() < end {
                sleep(Duration::from_secs(1)).await;
                spin(Duration::from_micros(500));
            }
        });

    scheduler.block_on(ticker).unwrap();
    for indexer in indexers {
        scheduler.block_on(indexer).unwrap();
    }
    scheduler.block_on(autosave).unwrap();
    scheduler.shutdown();
}
