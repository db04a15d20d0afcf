//! Embeds echo-core in a single-threaded host loop, with a `Platform` of
//! its own: no threads, a tick counter for a clock, and a "timer
//! interrupt" that the loop services between runs of the scheduler.
//!
//! ```sh
//! cargo run -p echo-sched-core --example embed
//! ```
//!
//! The host loop is the usual shape of an embedded main loop:
//!
//! 1. run the scheduler until it has nothing to do (`run_until_idle`);
//! 2. if the scheduler asked to be run again (`Platform::unpark`, raised by
//!    any wake or submission while it was idle), go to 1;
//! 3. otherwise sleep until the next timer interrupt: the scheduler keeps
//!    the timers (`Scheduler::sleep_until`, on the platform clock) and says
//!    when the next is due (`Scheduler::next_timer_deadline`); here the
//!    "sleep" just advances the clock to it. The next `run_until_idle`
//!    fires the timer and runs the task it woke. Then go to 1.

use echo_sched_core::{Config, PanicPayload, Platform, Priority, Scheduler};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Nanoseconds per millisecond (the host's clock ticks).
const MS: u64 = 1_000_000;

/// The host: everything lives on one thread, so plain cells will do.
struct LoopHost {
    worker: Cell<Option<usize>>,
    /// The clock, in ticks of 1 ms.
    ticks: Cell<u64>,
    /// Raised by `unpark`: the scheduler has work again.
    run_again: Cell<bool>,
}

// SAFETY: the host, its scheduler and every task run on the main thread
// only; nothing is ever sent to another thread.
unsafe impl Send for LoopHost {}
// SAFETY: as above.
unsafe impl Sync for LoopHost {}

// SAFETY: one thread, so the cell always answers for the calling thread.
unsafe impl Platform for LoopHost {
    fn park(&self, _worker: usize) {
        unreachable!("this host drives the scheduler with run_until_idle")
    }
    fn unpark(&self, _worker: usize) {
        self.run_again.set(true);
    }
    fn now_nanos(&self) -> u64 {
        self.ticks.get() * 1_000_000
    }
    fn random_seed(&self) -> u64 {
        0x5eed
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.get()
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker.set(worker);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        // A host that cannot unwind would just return `Ok(f())`.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    }
}

/// Milliseconds on the host's clock.
fn now_ms(scheduler: &Scheduler<LoopHost>) -> u64 {
    scheduler.platform().now_nanos() / 1_000_000
}

fn main() {
    let host = LoopHost {
        worker: Cell::new(None),
        ticks: Cell::new(0),
        run_again: Cell::new(false),
    };
    let scheduler = Scheduler::new(host, Config::new(1)).expect("one worker is valid");

    // A "UI" task at High every 16 ticks, a background job at Normal and
    // maintenance at Low that sleeps a while first.
    let clock = scheduler.clone();
    let ui = scheduler.spawn(
        async move {
            for frame in 0..3 {
                clock.sleep_until((frame + 1) * 16 * MS).await;
                println!("[{:>3} ms] High: frame {frame}", now_ms(&clock));
            }
            3
        },
        Priority::High,
    );
    let inner = scheduler.clone();
    let background = scheduler.spawn(
        async move {
            // Nested spawns run on the same single worker.
            let parts: Vec<_> = (1..=4u64)
                .map(|i| inner.spawn(async move { i * i }, Priority::Normal))
                .collect();
            let mut sum = 0;
            for p in parts {
                sum += p.await.expect("a part never fails");
            }
            println!("[{:>3} ms] Normal: background sum {sum}", now_ms(&inner));
            sum
        },
        Priority::Normal,
    );
    let clock = scheduler.clone();
    let maintenance = scheduler.spawn(
        async move {
            clock.sleep_until(40 * MS).await;
            println!("[{:>3} ms] Low: maintenance done", now_ms(&clock));
        },
        Priority::Low,
    );

    // The host loop.
    let mut runs = 0;
    loop {
        scheduler.platform().run_again.set(false);
        runs += 1;
        scheduler.run_until_idle(0);
        if scheduler.platform().run_again.get() {
            continue;
        }
        let Some(deadline) = scheduler.next_timer_deadline() else {
            break; // nothing runnable, no timer pending: all done
        };
        // "Sleep" until the timer interrupt: the clock jumps to the first
        // whole tick at or after the deadline.
        let host = scheduler.platform();
        host.ticks.set(host.ticks.get().max(deadline.div_ceil(MS)));
    }
    println!("{runs} runs of the host loop");

    // The results come out through the handles (polled here with a no-op
    // waker: they are finished).
    assert!(ui.is_finished() && background.is_finished() && maintenance.is_finished());
    let mut cx = Context::from_waker(Waker::noop());
    let mut background = background;
    let Poll::Ready(Ok(sum)) = Pin::new(&mut background).poll(&mut cx) else {
        panic!("the background task is finished");
    };
    assert_eq!(sum, 1 + 4 + 9 + 16);
    println!("{}", scheduler.metrics());
    scheduler.shutdown();
    assert!(scheduler.is_terminated());
}
