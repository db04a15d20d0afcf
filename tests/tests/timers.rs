//! Echo's own timers (`echo_std::time`) and the cooperative budget.
//!
//! These run with and without the tokio bridge: `cargo test -p echo-tests
//! --test timers` (workers drive the tokio reactor) and `cargo test -p
//! echo-tests --no-default-features --test timers` (the core's timers
//! only, parking on the workers' own parkers).
//!
//! No assertion is about how late a timer is (the machine may be loaded):
//! only that it fires, never before its deadline, and in order.

use echo_std::time::{
    self, Duration, Instant, MissedTickBehavior, interval, sleep, sleep_until, timeout,
};
use echo_std::{Priority, Scheduler};
use futures::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

fn scheduler(workers: usize) -> Scheduler {
    Scheduler::builder().worker_count(workers).build().unwrap()
}

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn sleep_is_never_early_at_any_priority() {
    let s = scheduler(2);
    let handles: Vec<_> = (0..30u64)
        .map(|i| {
            let p = Priority::ALL[i as usize % 3];
            s.submit(
                async move {
                    let d = Duration::from_micros(100 * (i % 10) + 50);
                    let start = Instant::now();
                    sleep(d).await;
                    (start.elapsed(), d)
                },
                p,
            )
        })
        .collect();
    for h in handles {
        let (took, asked) = s.block_on(h).unwrap();
        assert!(took >= asked, "woke after {took:?} of {asked:?}");
    }
    assert_eq!(s.armed_timers(), 0);
}

#[test]
fn sleep_until_a_passed_deadline_is_ready_at_once_and_reset_rearms() {
    let s = scheduler(1);
    s.block_on(async {
        let past = Instant::now() - Duration::from_millis(1);
        assert!(sleep_until(past).now_or_never().is_some());
        assert!(sleep(Duration::ZERO).now_or_never().is_some());

        let mut nap = std::pin::pin!(sleep(Duration::from_secs(3600)));
        assert!(poll_once(nap.as_mut()).is_pending());
        assert!(!nap.is_elapsed());
        let soon = Instant::now() + Duration::from_millis(2);
        nap.as_mut().reset(soon);
        nap.as_mut().await;
        assert!(Instant::now() >= soon);
        assert!(nap.is_elapsed());
        // Reset after completion arms it again.
        let later = Instant::now() + Duration::from_millis(1);
        nap.as_mut().reset(later);
        assert!(!nap.is_elapsed());
        nap.as_mut().await;
        assert!(Instant::now() >= later);
    });
    assert_eq!(s.armed_timers(), 0);
}

#[test]
fn timers_fire_in_deadline_order() {
    // One worker: the timers fire in tick order, their tasks run in the
    // order they were woken.
    let s = scheduler(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now() + Duration::from_millis(5);
    let handles: Vec<_> = (0..20u32)
        .rev()
        .map(|i| {
            let order = order.clone();
            s.submit(
                async move {
                    let deadline = start + Duration::from_micros(300 * u64::from(i));
                    sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline);
                    order.lock().unwrap().push(i);
                },
                Priority::Normal,
            )
        })
        .collect();
    for h in handles {
        s.block_on(h).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn interval_ticks_at_once_then_every_period_on_schedule() {
    let s = scheduler(2);
    let ticks = s.submit(
        async {
            let period = Duration::from_millis(2);
            let mut every = interval(period);
            assert_eq!(every.period(), period);
            assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Burst);
            let first = every.tick().now_or_never().expect("first tick at once");
            assert!(every.tick().now_or_never().is_none(), "second is pending");
            let mut scheduled = vec![first];
            for _ in 0..5 {
                let t = every.tick().await;
                assert!(Instant::now() >= t, "tick before its instant");
                scheduled.push(t);
            }
            scheduled
        },
        Priority::High,
    );
    let scheduled = s.block_on(ticks).unwrap();
    for pair in scheduled.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(2));
    }
}

#[test]
fn interval_delay_restarts_after_a_missed_tick() {
    let s = scheduler(1);
    s.block_on(async {
        let period = Duration::from_millis(1);
        let mut every = time::interval(period);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every.tick().await;
        std::thread::sleep(Duration::from_millis(5)); // miss some ticks
        let late = every.tick().await; // the missed one, at once
        let next = every.tick().await;
        assert!(next >= late + period);
        assert!(Instant::now() >= next);
    });
}

#[test]
fn timeout_gives_the_output_or_elapsed() {
    let s = scheduler(1);
    s.block_on(async {
        assert_eq!(timeout(Duration::from_secs(3600), async { 7 }).await, Ok(7));
        let start = Instant::now();
        let late = timeout(Duration::from_millis(3), std::future::pending::<()>()).await;
        assert!(late.is_err());
        assert!(start.elapsed() >= Duration::from_millis(3));
        let err: Box<dyn std::error::Error> = Box::new(late.unwrap_err());
        assert_eq!(err.to_string(), "deadline has elapsed");
        // The inner future finishing first wins, even with a sleep inside.
        let inner = timeout(Duration::from_secs(3600), async {
            sleep(Duration::from_millis(1)).await;
            "inner"
        });
        assert_eq!(inner.await, Ok("inner"));
    });
    assert_eq!(s.armed_timers(), 0);
}

#[test]
fn dropping_a_timer_frees_its_entry_and_100k_timers_cancel() {
    let s = scheduler(2);
    s.block_on(async {
        let mut timers: Vec<Pin<Box<time::Sleep>>> = (0..100_000u64)
            .map(|i| Box::pin(sleep(Duration::from_secs(3600 + i))))
            .collect();
        for t in &mut timers {
            assert!(poll_once(t.as_mut()).is_pending());
        }
        assert_eq!(s.armed_timers(), 100_000);
        // Cancel every other one, then the rest.
        let mut i = 0;
        timers.retain(|_| {
            i += 1;
            i % 2 == 0
        });
        assert_eq!(s.armed_timers(), 50_000);
        drop(timers);
        assert_eq!(s.armed_timers(), 0);
    });
}

#[test]
fn an_earlier_timer_wakes_the_sleeper_to_rearm() {
    let s = scheduler(2);
    // The idle sleeper arms for 30 s (a lost wake-up would make the short
    // timer below wait that long, and the check after it fail)...
    let long = s.submit(
        async { sleep(Duration::from_secs(30)).await },
        Priority::Low,
    );
    assert!(echo_tests::wait_until(Duration::from_secs(5), || s
        .armed_timers()
        == 1));
    // ...then a short timer armed from outside the pool must still fire.
    s.block_on(async { sleep(Duration::from_millis(2)).await });
    assert!(!long.is_finished());
    long.abort();
}

#[test]
fn a_high_timer_fires_under_a_normal_flood() {
    let s = scheduler(2);
    let stop = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            s.submit(
                async move {
                    // Bounded, so a broken timer fails the test instead of
                    // hanging it.
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                        echo_std::yield_now().await;
                    }
                    stop.load(Ordering::SeqCst)
                },
                Priority::Normal,
            )
        })
        .collect();
    let stopper = stop.clone();
    let high = s.submit(
        async move {
            let deadline = Instant::now() + Duration::from_millis(5);
            sleep_until(deadline).await;
            let on_time = Instant::now() >= deadline;
            stopper.store(true, Ordering::SeqCst);
            on_time
        },
        Priority::High,
    );
    assert!(s.block_on(high).unwrap());
    for f in flood {
        assert!(
            s.block_on(f).unwrap(),
            "the flood ended before the timer fired"
        );
    }
}

#[test]
fn consume_budget_lets_others_run() {
    let s = scheduler(1);
    let other_ran = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (ran, finished) = (other_ran.clone(), done.clone());
    // Queued first: on one worker, it only runs if the busy task yields.
    let other = s.submit(
        async move {
            while !finished.load(Ordering::SeqCst) {
                ran.fetch_add(1, Ordering::SeqCst);
                echo_std::yield_now().await;
            }
        },
        Priority::Normal,
    );
    let seen = other_ran.clone();
    let busy = s.submit(
        async move {
            for _ in 0..1_000 {
                echo_std::task::consume_budget().await;
            }
            // Ready timers spend budget too.
            let before = seen.load(Ordering::SeqCst);
            for _ in 0..1_000 {
                sleep(Duration::ZERO).await;
            }
            let after = seen.load(Ordering::SeqCst);
            done.store(true, Ordering::SeqCst);
            (before, after)
        },
        Priority::Normal,
    );
    let (before, after) = s.block_on(busy).unwrap();
    assert!(before >= 1_000 / 128, "other ran {before} times");
    assert!(after - before >= 1_000 / 128, "ready timers never yielded");
    s.block_on(other).unwrap();
}

#[test]
fn awaiting_finished_handles_spends_budget() {
    let s = scheduler(1);
    let spy_runs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (runs, finished) = (spy_runs.clone(), done.clone());
    let spy = s.submit(
        async move {
            while !finished.load(Ordering::SeqCst) {
                runs.fetch_add(1, Ordering::SeqCst);
                echo_std::yield_now().await;
            }
        },
        Priority::Normal,
    );
    let seen = spy_runs.clone();
    let parent = s.submit(
        async move {
            let children: Vec<_> = (0..300u32)
                .map(|i| echo_std::spawn(async move { i }, Priority::Normal))
                .collect();
            while !children.iter().all(|c| c.is_finished()) {
                echo_std::yield_now().await;
            }
            let before = seen.load(Ordering::SeqCst);
            let mut sum = 0;
            for c in children {
                sum += c.await.unwrap();
            }
            let after = seen.load(Ordering::SeqCst);
            done.store(true, Ordering::SeqCst);
            (sum, after - before)
        },
        Priority::Normal,
    );
    let (sum, spy_ran) = s.block_on(parent).unwrap();
    assert_eq!(sum, (0..300).sum::<u32>());
    assert!(spy_ran >= 300 / 128, "awaiting ready handles never yielded");
    s.block_on(spy).unwrap();
}

#[test]
fn timers_armed_in_tasks_are_cancelled_on_other_threads_and_workers() {
    let s = scheduler(2);
    // Armed on a worker (its shard), handed out.
    let armed = s.submit(
        async {
            let mut timers: Vec<Pin<Box<time::Sleep>>> = (0..100u64)
                .map(|i| Box::pin(sleep(Duration::from_secs(3600 + i))))
                .collect();
            for t in &mut timers {
                assert!(poll_once(t.as_mut()).is_pending());
            }
            timers
        },
        Priority::Normal,
    );
    let mut timers = s.block_on(armed).unwrap();
    assert_eq!(s.armed_timers(), 100);
    // A third dropped here (off the pool), a third on a plain thread, a
    // third inside a task (on either worker).
    let on_thread = timers.split_off(66);
    let in_task = timers.split_off(33);
    drop(timers);
    assert_eq!(s.armed_timers(), 67);
    std::thread::spawn(move || drop(on_thread)).join().unwrap();
    assert_eq!(s.armed_timers(), 33);
    s.block_on(s.submit(async move { drop(in_task) }, Priority::Low))
        .unwrap();
    assert_eq!(s.armed_timers(), 0);
    // Still working: a fresh timer fires.
    s.block_on(async { sleep(Duration::from_millis(1)).await });
}

#[test]
fn timeouts_armed_and_cancelled_across_workers_leave_nothing_armed() {
    // The request pattern: many tasks, each awaiting futures that are
    // pending once under a long timeout (armed, then cancelled, often on
    // another worker once a thief took the task), and one that times out.
    let s = scheduler(4);
    let tasks: Vec<_> = (0..400)
        .map(|_| {
            s.submit(
                async {
                    for _ in 0..20 {
                        let inner = timeout(Duration::from_secs(30), echo_std::yield_now());
                        assert!(inner.await.is_ok());
                    }
                    timeout(Duration::from_millis(1), std::future::pending::<()>())
                        .await
                        .is_err()
                },
                Priority::Normal,
            )
        })
        .collect();
    for t in tasks {
        assert!(s.block_on(t).unwrap(), "the 1 ms timeout did not fire");
    }
    assert_eq!(s.armed_timers(), 0);
}

#[test]
fn a_timer_fires_while_a_lone_task_keeps_a_worker_busy() {
    // A timer is armed in one worker's shard and both workers park; then
    // a lone task (whose yields wake no thief) keeps one worker busy. The
    // timer fires while it runs: on its own worker, on the sleeper, or,
    // when the armed worker stays parked and the sleeper is the one that
    // woke, on the busy worker, which watches the parked workers' shards
    // after giving up the sleeper role (which of these happens depends
    // on which worker the idle protocol picks; the core's unit tests pin
    // the last one down).
    let s = scheduler(2);
    for _ in 0..5 {
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let timer = s.submit(
            async move {
                sleep(Duration::from_millis(20)).await;
                flag.store(true, Ordering::SeqCst);
            },
            Priority::Normal,
        );
        // Both workers idle, the timer armed.
        assert!(echo_tests::wait_until(Duration::from_secs(5), || s
            .armed_timers()
            == 1));
        std::thread::sleep(Duration::from_millis(2));
        let seen = fired.clone();
        let busy = s.submit(
            async move {
                let give_up = Instant::now() + Duration::from_secs(10);
                while !seen.load(Ordering::SeqCst) && Instant::now() < give_up {
                    echo_std::yield_now().await;
                }
                seen.load(Ordering::SeqCst)
            },
            Priority::Normal,
        );
        assert!(s.block_on(busy).unwrap(), "the timer did not fire");
        s.block_on(timer).unwrap();
    }
}

#[test]
fn many_timers_on_more_workers_than_cores_all_fire() {
    // Eight workers (more than the cores of a small machine, so the OS
    // preempts them mid-section), busy with a flood; timers armed on every
    // worker and fired by whichever worker sees them due, its owner's or
    // another's, while owners arm and cancel in their own shards. Five
    // rounds: a shard lock that a failed try released (a bug this caught)
    // failed about two rounds in five.
    for _ in 0..5 {
        many_timers_round(&scheduler(8));
    }
}

fn many_timers_round(s: &Scheduler) {
    let stop = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            s.submit(
                async move {
                    while !stop.load(Ordering::SeqCst) {
                        echo_std::yield_now().await;
                    }
                },
                Priority::Normal,
            )
        })
        .collect();
    let sleepers: Vec<_> = (0..64u64)
        .map(|i| {
            s.submit(
                async move {
                    for j in 0..40u64 {
                        let d = Duration::from_micros(50 + (i * 37 + j * 101) % 400);
                        let start = Instant::now();
                        if j % 3 == 0 {
                            // Armed, then cancelled.
                            let long = Duration::from_secs(30);
                            let cut = timeout(long, echo_std::yield_now()).await;
                            assert!(cut.is_ok());
                        } else {
                            sleep(d).await;
                            assert!(start.elapsed() >= d);
                        }
                    }
                },
                if i % 4 == 0 {
                    Priority::High
                } else {
                    Priority::Normal
                },
            )
        })
        .collect();
    let give_up = Instant::now() + Duration::from_secs(60);
    for t in sleepers {
        while !t.is_finished() {
            assert!(Instant::now() < give_up, "a timer never fired");
            std::thread::sleep(Duration::from_millis(1));
        }
        s.block_on(t).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for f in flood {
        s.block_on(f).unwrap();
    }
    assert_eq!(s.armed_timers(), 0);
}
