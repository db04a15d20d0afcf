//! The public API contract of echo-std, one behaviour per test.

use echo_std::{BuildError, JoinError, JoinHandle, MAX_WORKERS, Priority, Refusal, Scheduler};
use echo_tests::{DropCount, Gate, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn pool(n: usize) -> Scheduler {
    Scheduler::builder().worker_count(n).build().unwrap()
}

#[test]
fn submit_and_block_on_return_the_value() {
    let s = pool(2);
    let handle: JoinHandle<u64> = s.submit(async { 6 * 7 }, Priority::High);
    assert_eq!(s.block_on(handle).unwrap(), 42);
    let words = s.submit(async { String::from("echo") }, Priority::Low);
    assert_eq!(s.block_on(words).unwrap(), "echo");
}

#[test]
fn build_rejects_zero_and_too_many_workers() {
    match Scheduler::builder().worker_count(0).build() {
        Err(BuildError::Config(e)) => assert!(e.to_string().contains("at least one worker")),
        other => panic!("expected a config error, got {other:?}"),
    }
    match Scheduler::builder().worker_count(MAX_WORKERS + 1).build() {
        Err(BuildError::Config(e)) => assert!(e.to_string().contains("maximum")),
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(
        Scheduler::builder()
            .normal_interval(0)
            .worker_count(1)
            .build()
            .is_err()
    );
}

#[test]
fn worker_count_defaults_to_the_cpu_count() {
    let s = Scheduler::builder().build().unwrap();
    assert_eq!(s.worker_count(), num_cpus());
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn worker_threads_carry_the_name_prefix() {
    let s = Scheduler::builder()
        .worker_count(2)
        .thread_name("editor-pool")
        .build()
        .unwrap();
    let name = s.submit(
        async { std::thread::current().name().map(str::to_owned) },
        Priority::Normal,
    );
    let name = s.block_on(name).unwrap().unwrap();
    assert!(name.starts_with("editor-pool-"), "{name}");
}

#[test]
fn try_submit_after_shutdown_hands_the_future_back_undropped() {
    let s = pool(1);
    s.shutdown();
    let drops = DropCount::new();
    let fut = drops.wrap(async { 5 });
    let err = s.try_submit(fut, Priority::Low).unwrap_err();
    assert_eq!(err.reason(), Refusal::ShutDown);
    assert!(err.to_string().contains("shut down"));
    assert_eq!(drops.get(), 0, "refusal must not drop the future");
    let fut = err.into_inner();
    // The future still works: run it here.
    let other = pool(1);
    assert_eq!(other.block_on(fut), 5);
    assert_eq!(drops.get(), 1);
}

#[test]
fn submit_after_shutdown_resolves_cancelled() {
    let s = pool(1);
    s.shutdown();
    let h = s.submit(async { 1 }, Priority::High);
    let err = s.block_on(h).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn tasks_spawn_tasks_on_the_current_scheduler() {
    let s = pool(2);
    let h = s.submit(
        async {
            let children: Vec<_> = (0..10u32)
                .map(|i| echo_std::spawn(async move { i * 2 }, Priority::Normal))
                .collect();
            let mut sum = 0;
            for c in children {
                sum += c.await.unwrap();
            }
            sum
        },
        Priority::Normal,
    );
    assert_eq!(s.block_on(h).unwrap(), 90);
}

#[test]
fn spawn_outside_a_scheduler_panics_with_a_clear_message() {
    let r = std::panic::catch_unwind(|| echo_std::spawn(async {}, Priority::Normal));
    let msg = r.unwrap_err();
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or("");
    assert!(msg.contains("outside an Echo scheduler"), "{msg}");
    assert!(!echo_std::in_scheduler_context());
}

#[test]
fn yield_now_lets_other_tasks_run() {
    // One worker: the yielder can only see progress if yielding really
    // hands the worker to the other task.
    let s = pool(1);
    let progress = Arc::new(AtomicUsize::new(0));
    let seen = {
        let progress = progress.clone();
        s.submit(
            async move {
                for _ in 0..1000 {
                    if progress.load(Ordering::SeqCst) >= 10 {
                        return true;
                    }
                    echo_std::yield_now().await;
                }
                false
            },
            Priority::Normal,
        )
    };
    let p2 = progress.clone();
    s.submit(
        async move {
            for _ in 0..10 {
                p2.fetch_add(1, Ordering::SeqCst);
                echo_std::yield_now().await;
            }
        },
        Priority::Normal,
    );
    assert!(s.block_on(seen).unwrap(), "the other task never ran");
}

#[test]
fn a_panicking_task_reports_the_panic_and_the_worker_survives() {
    let s = pool(1);
    let n = std::hint::black_box(7);
    let h = s.submit(async move { panic!("boom {n}") }, Priority::Normal);
    let err = s.block_on(h).unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert!(format!("{err}").contains("boom 7"), "{err}");
    assert!(format!("{err:?}").contains("Panic"), "{err:?}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");
    // The only worker still runs tasks.
    for i in 0..3 {
        let h = s.submit(async move { i }, Priority::Low);
        assert_eq!(s.block_on(h).unwrap(), i);
    }
    assert_eq!(s.metrics().total().panicked, 1);
}

#[test]
fn abort_cancels_a_waiting_task_and_drops_its_future_once() {
    let s = pool(2);
    let gate = Gate::new();
    let drops = DropCount::new();
    let h = s.submit(drops.wrap(gate.wait()), Priority::Normal);
    assert!(wait_until(Duration::from_secs(5), || gate.waiters() == 1));
    h.abort();
    assert!(wait_until(Duration::from_secs(5), || drops.get() == 1));
    let err = s.block_on(h).unwrap_err();
    assert!(err.is_cancelled());
    gate.open(); // waking the dead task's waker is harmless
    assert_eq!(drops.get(), 1);
}

#[test]
fn dropping_the_handle_detaches_the_task() {
    let s = pool(2);
    let gate = Gate::new();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let g2 = gate.clone();
    drop(s.submit(
        async move {
            g2.wait().await;
            d2.store(true, Ordering::SeqCst);
        },
        Priority::Low,
    ));
    assert!(wait_until(Duration::from_secs(5), || gate.waiters() == 1));
    gate.open();
    assert!(wait_until(Duration::from_secs(5), || done.load(Ordering::SeqCst)));
}

#[test]
fn block_on_inside_a_task_panics_with_a_clear_message() {
    let s = Arc::new(pool(1));
    let s2 = s.clone();
    let h = s.submit(async move { s2.block_on(async { 1 }) }, Priority::Normal);
    let err = s.block_on(h).unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("worker thread"), "{err}");
    // Release the clone held by the finished task before dropping.
    drop(s);
}

#[test]
fn metrics_count_per_tier_and_render() {
    let s = pool(2);
    for p in Priority::ALL {
        for _ in 0..5 {
            drop(s.submit(async {}, p));
        }
    }
    let h = s.submit(async { panic!("x") }, Priority::Low);
    let _ = s.block_on(h);
    assert!(wait_until(Duration::from_secs(5), || s.live_tasks() == 0));
    let m = s.metrics();
    for p in Priority::ALL {
        assert_eq!(m.tier(p).submitted, 5 + usize::from(p == Priority::Low));
    }
    assert_eq!(m.tier(Priority::Low).panicked, 1);
    assert_eq!(m.total().completed, 15);
    assert_eq!(m.total().queued, 0);
    let table = m.to_string();
    assert!(
        table.contains("| high") && table.contains("steals"),
        "{table}"
    );
    assert!(format!("{m:?}").contains("tiers"));
}

#[test]
fn shutdown_cancels_waiting_tasks_and_refuses_new_ones() {
    let s = Arc::new(pool(2));
    let gate = Gate::new();
    let drops = DropCount::new();
    let handles: Vec<_> = (0..100)
        .map(|i| s.submit(drops.wrap(gate.wait()), Priority::ALL[i % 3]))
        .collect();
    assert!(wait_until(Duration::from_secs(5), || gate.waiters() == 100));
    // Shut down through a shared Arc from another thread.
    let s2 = s.clone();
    std::thread::spawn(move || s2.shutdown()).join().unwrap();
    assert_eq!(drops.get(), 100, "every future dropped exactly once");
    for h in handles {
        assert!(s.block_on(h).unwrap_err().is_cancelled());
    }
    assert!(
        s.try_submit(async {}, Priority::High)
            .unwrap_err()
            .is_shutdown()
    );
    gate.open(); // late wakes after shutdown are harmless
    assert_eq!(drops.get(), 100);
    let m = s.metrics();
    assert_eq!(m.total().cancelled, 100);
    assert_eq!(m.live, 0);
}

#[test]
fn shutdown_lets_the_running_poll_finish() {
    let s = pool(1);
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (st, fi) = (started.clone(), finished.clone());
    let h = s.submit(
        async move {
            st.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            fi.store(true, Ordering::SeqCst);
            7
        },
        Priority::Normal,
    );
    assert!(wait_until(Duration::from_secs(5), || started.load(Ordering::SeqCst)));
    s.shutdown();
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(s.block_on(h).unwrap(), 7, "the poll in progress completed");
}

#[test]
fn shutdown_timeout_drains_finishing_tasks() {
    let s = pool(2);
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..50 {
        let r = results.clone();
        drop(s.submit(
            async move {
                for _ in 0..10 {
                    echo_std::yield_now().await;
                }
                r.lock().unwrap().push(i);
            },
            Priority::Low,
        ));
    }
    assert!(s.shutdown_timeout(Duration::from_secs(10)));
    assert_eq!(results.lock().unwrap().len(), 50);
}

#[test]
fn shutdown_timeout_cancels_what_does_not_finish() {
    let s = pool(1);
    let gate = Gate::new();
    let drops = DropCount::new();
    let h = s.submit(drops.wrap(gate.wait()), Priority::Normal);
    assert!(!s.shutdown_timeout(Duration::from_millis(50)));
    assert_eq!(drops.get(), 1);
    assert!(s.block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn dropping_the_scheduler_shuts_it_down() {
    let gate = Gate::new();
    let drops = DropCount::new();
    let h = {
        let s = pool(2);
        let h = s.submit(drops.wrap(gate.wait()), Priority::High);
        assert!(wait_until(Duration::from_secs(5), || gate.waiters() == 1));
        h
    };
    assert_eq!(drops.get(), 1);
    let other = pool(1);
    assert!(other.block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn task_info_is_visible_inside_the_task() {
    let s = pool(1);
    let h = s
        .try_submit_named(
            async {
                let me = echo_std::task::current().expect("inside a task");
                (me.name().map(str::to_owned), me.priority(), me.id())
            },
            Priority::High,
            "ui-frame",
        )
        .unwrap();
    let id = h.id();
    let (name, prio, seen_id) = s.block_on(h).unwrap();
    assert_eq!(name.as_deref(), Some("ui-frame"));
    assert_eq!(prio, Priority::High);
    assert_eq!(seen_id, id);
    assert!(echo_std::task::current().is_none());
}

#[test]
fn join_error_formats_and_converts() {
    let s = pool(1);
    let gate = Gate::new();
    let h = s.submit(gate.wait(), Priority::Low);
    h.abort();
    let err: JoinError = s.block_on(h).unwrap_err();
    assert!(err.to_string().contains("cancelled"));
    assert!(err.try_into_panic().is_err());
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(
        s.block_on(s.submit(async { panic!("p") }, Priority::Low))
            .unwrap_err(),
    );
    assert!(boxed.to_string().contains("panicked"));
}

#[test]
fn set_priority_moves_a_queued_task() {
    let s = pool(1);
    let release = Arc::new(AtomicBool::new(false));
    let r2 = release.clone();
    // Block the only worker until the rest is queued.
    let blocker = s.submit(
        async move {
            while !r2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        },
        Priority::High,
    );
    let order = Arc::new(Mutex::new(Vec::new()));
    let mk = |tag: &'static str| {
        let order = order.clone();
        async move { order.lock().unwrap().push(tag) }
    };
    let low = s.submit(mk("was-low"), Priority::Low);
    let normal = s.submit(mk("normal"), Priority::Normal);
    assert!(low.set_priority(Priority::High));
    assert!(
        !low.set_priority(Priority::High),
        "no change the second time"
    );
    assert_eq!(low.priority(), Some(Priority::High));
    release.store(true, Ordering::SeqCst);
    s.block_on(blocker).unwrap();
    s.block_on(low).unwrap();
    s.block_on(normal).unwrap();
    assert_eq!(*order.lock().unwrap(), ["was-low", "normal"]);
    let m = s.metrics();
    assert_eq!(m.total().completed, 3);
    assert_eq!(m.live, 0);
}
