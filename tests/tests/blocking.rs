//! `spawn_blocking`: blocking closures on a bounded, elastic pool that
//! never stalls the workers.

use echo_std::{BuildError, Priority, Scheduler};
use echo_tests::{DropCount, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn four_blocking_sleeps_do_not_delay_a_high_task_on_one_worker() {
    const NAP: Duration = Duration::from_millis(400);
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    // Submitted from inside a task on the only worker.
    let sleeps = {
        let (started, finished) = (started.clone(), finished.clone());
        s.submit(
            async move {
                let naps: Vec<_> = (0..4)
                    .map(|_| {
                        let (started, finished) = (started.clone(), finished.clone());
                        echo_std::spawn_blocking(move || {
                            started.fetch_add(1, Ordering::SeqCst);
                            thread::sleep(NAP);
                            finished.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .collect();
                for nap in naps {
                    nap.await.unwrap();
                }
            },
            Priority::Low,
        )
    };
    assert!(wait_until(Duration::from_secs(10), || {
        started.load(Ordering::SeqCst) == 4
    }));
    let t0 = Instant::now();
    let high = s.submit(async { 42 }, Priority::High);
    assert_eq!(s.block_on(high).unwrap(), 42);
    let took = t0.elapsed();
    let done_by_then = finished.load(Ordering::SeqCst);
    assert!(
        took < NAP / 2,
        "the High task took {took:?} while blocking closures slept"
    );
    assert_eq!(done_by_then, 0, "the sleeps were still running");
    // The four ran side by side, not one after another.
    s.block_on(sleeps).unwrap();
    assert!(
        t0.elapsed() < NAP * 3,
        "four sleeps took {:?}",
        t0.elapsed()
    );
    assert_eq!(s.blocking_threads(), 4);
}

#[test]
fn results_come_back_through_join_handles() {
    let s = Scheduler::builder()
        .worker_count(2)
        .max_blocking_threads(8)
        .build()
        .unwrap();
    // From outside.
    let handles: Vec<_> = (0..200u64)
        .map(|i| s.spawn_blocking(move || i * i))
        .collect();
    let sum: u64 = handles.into_iter().map(|h| s.block_on(h).unwrap()).sum();
    assert_eq!(sum, (0..200u64).map(|i| i * i).sum::<u64>());
    assert!(s.blocking_threads() <= 8);

    // From a task: the handle has the task's priority and inherits as any
    // handle does; nested spawn_blocking and spawn work on pool threads.
    let task = s.submit(
        async {
            // The closure waits until the priority has been read: a finished
            // task has none.
            let (read, priority_read) = std::sync::mpsc::channel::<()>();
            let h = echo_std::spawn_blocking(move || {
                priority_read.recv().unwrap();
                let name = thread::current().name().unwrap().to_owned();
                let nested = echo_std::spawn_blocking(|| 5);
                let spawned = echo_std::spawn(async { 6 }, Priority::Low);
                // A pool thread may block.
                let futures = futures::executor::block_on(async {
                    nested.await.unwrap() + spawned.await.unwrap()
                });
                (name, futures)
            });
            let priority = h.priority();
            read.send(()).unwrap();
            (priority, h.await.unwrap())
        },
        Priority::High,
    );
    let (priority, (name, eleven)) = s.block_on(task).unwrap();
    assert_eq!(priority, Some(Priority::High));
    assert!(name.starts_with("echo-worker-blocking-"), "{name}");
    assert_eq!(eleven, 11);

    // Inside block_on.
    let v = s.block_on(async { echo_std::spawn_blocking(|| "in block_on").await });
    assert_eq!(v.unwrap(), "in block_on");
}

#[test]
fn a_panic_is_reported_and_the_thread_lives_on() {
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let first = s
        .block_on(s.spawn_blocking(|| thread::current().id()))
        .unwrap();
    let boom = s.spawn_blocking(|| -> u32 { panic!("blocking boom") });
    let err = s.block_on(boom).unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"blocking boom"));
    // Same thread, still serving: the panic was caught on it.
    let after = s
        .block_on(s.spawn_blocking(|| thread::current().id()))
        .unwrap();
    assert_eq!(after, first);
    assert_eq!(s.blocking_threads(), 1);
    // A task awaiting it sees the same.
    let task = s.submit(
        async { echo_std::spawn_blocking(|| panic!("again")).await },
        Priority::Normal,
    );
    let inner: Result<(), _> = s.block_on(task).unwrap();
    assert!(inner.unwrap_err().is_panic());
}

#[test]
fn the_pool_is_bounded_and_queues_in_order() {
    let s = Scheduler::builder()
        .worker_count(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (running, most, order) = (running.clone(), most.clone(), order.clone());
            s.spawn_blocking(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                order.lock().unwrap().push(i);
                thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(s.block_on(h).unwrap(), i);
    }
    assert_eq!(most.load(Ordering::SeqCst), 2, "two threads, side by side");
    assert_eq!(s.blocking_threads(), 2);
    // Two threads take from one FIFO: each closure starts no later than
    // two places after its turn.
    let order = order.lock().unwrap().clone();
    for (pos, &i) in order.iter().enumerate() {
        assert!(pos.abs_diff(i) <= 1, "start order {order:?}");
    }
}

#[test]
fn threads_start_on_demand_and_retire_when_idle() {
    let s = Scheduler::builder()
        .worker_count(1)
        .blocking_keep_alive(Duration::from_millis(100))
        .thread_name("elastic")
        .build()
        .unwrap();
    assert_eq!(
        s.blocking_threads(),
        0,
        "no thread before the first closure"
    );
    // Three closures that wait for each other need three threads.
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            s.spawn_blocking(move || {
                barrier.wait();
                thread::current().name().unwrap().to_owned()
            })
        })
        .collect();
    let mut names: Vec<_> = handles
        .into_iter()
        .map(|h| s.block_on(h).unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "elastic-blocking-0",
            "elastic-blocking-1",
            "elastic-blocking-2"
        ]
    );
    assert_eq!(s.blocking_threads(), 3);
    // Idle for the keep-alive: they exit.
    assert!(
        wait_until(Duration::from_secs(10), || s.blocking_threads() == 0),
        "{} threads still alive",
        s.blocking_threads()
    );
    // And start again when needed.
    assert_eq!(s.block_on(s.spawn_blocking(|| 9)).unwrap(), 9);
    assert_eq!(s.blocking_threads(), 1);
}

#[test]
fn an_idle_thread_is_reused() {
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let ids: Vec<_> = (0..20)
        .map(|_| {
            s.block_on(s.spawn_blocking(|| thread::current().id()))
                .unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(s.blocking_threads(), 1);
}

#[test]
fn shutdown_finishes_running_closures_and_drops_queued_ones() {
    let s = Scheduler::builder()
        .worker_count(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let running = {
        let finished = finished.clone();
        s.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(200));
            finished.store(true, Ordering::SeqCst);
        })
    };
    started_rx.recv().unwrap();
    // Queued behind it (one thread): never run, dropped at shutdown.
    let drops = DropCount::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let (ran, guard) = (ran.clone(), drops.wrap(async {}));
            s.spawn_blocking(move || {
                let _guard = guard;
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    s.shutdown();
    // The running closure finished before shutdown returned (its thread
    // was joined); the queued ones were dropped unrun.
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(drops.get(), 3);
    assert_eq!(s.blocking_threads(), 0);
    for h in queued {
        assert!(s.block_on(h).unwrap_err().is_cancelled());
    }
    // The running one's task was cancelled with every other task.
    assert!(s.block_on(running).unwrap_err().is_cancelled());
    // After shutdown: refused, the closure dropped unrun.
    let late_drops = DropCount::new();
    let guard = late_drops.wrap(async {});
    let late = s.spawn_blocking(move || drop(guard));
    assert!(s.block_on(late).unwrap_err().is_cancelled());
    assert_eq!(late_drops.get(), 1);
}

#[test]
fn an_aborted_handle_skips_its_closure_if_not_started() {
    let s = Scheduler::builder()
        .worker_count(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let first = s.spawn_blocking(move || release_rx.recv().unwrap());
    let ran = Arc::new(AtomicBool::new(false));
    let skipped = {
        let ran = ran.clone();
        s.spawn_blocking(move || ran.store(true, Ordering::SeqCst))
    };
    skipped.abort();
    // Let the abort reach the relay task before the thread gets there.
    assert!(wait_until(Duration::from_secs(10), || skipped.is_finished()));
    release_tx.send(()).unwrap();
    s.block_on(first).unwrap();
    // FIFO on one thread: once this one ran, the aborted one was passed.
    s.block_on(s.spawn_blocking(|| ())).unwrap();
    assert!(!ran.load(Ordering::SeqCst), "an aborted closure ran");
    assert!(s.block_on(skipped).unwrap_err().is_cancelled());
}

#[test]
fn zero_blocking_threads_is_a_build_error() {
    let err = Scheduler::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::ZeroBlockingThreads));
    assert!(err.to_string().contains("max_blocking_threads"));
}

#[test]
fn spawn_blocking_outside_a_scheduler_panics() {
    let res = thread::spawn(|| echo_std::spawn_blocking(|| 1)).join();
    let payload = res.unwrap_err();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("outside an Echo scheduler"), "{msg}");
}
