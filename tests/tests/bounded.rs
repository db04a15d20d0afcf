//! `max_tasks`: the bound on live tasks, and the three ways to submit
//! under it.

use echo_std::{Priority, Refusal, Scheduler};
use echo_tests::{DropCount, Gate, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bounded(workers: usize, max: usize) -> Scheduler {
    Scheduler::builder()
        .worker_count(workers)
        .max_tasks(max)
        .build()
        .unwrap()
}

#[test]
fn zero_is_not_a_bound() {
    assert!(
        Scheduler::builder()
            .max_tasks(0)
            .worker_count(1)
            .build()
            .is_err()
    );
}

#[test]
fn try_submit_when_full_hands_the_future_back_undropped() {
    let s = bounded(1, 2);
    let gate = Gate::new();
    let held: Vec<_> = (0..2)
        .map(|_| s.submit(gate.wait(), Priority::Normal))
        .collect();
    let drops = DropCount::new();
    let err = s
        .try_submit(drops.wrap(async { 9 }), Priority::High)
        .unwrap_err();
    assert_eq!(err.reason(), Refusal::Full);
    assert!(err.is_full() && err.to_string().contains("full"));
    let fut = err.into_inner();
    assert_eq!(drops.get(), 0);
    gate.open();
    for h in held {
        s.block_on(h).unwrap();
    }
    // Room again: the same future goes in.
    assert!(wait_until(Duration::from_secs(5), || s.live_tasks() == 0));
    let h = s.try_submit(fut, Priority::High).unwrap();
    assert_eq!(s.block_on(h).unwrap(), 9);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_flood_from_several_threads_stays_within_the_bound_and_loses_nothing() {
    const MAX: usize = 16;
    const PER_THREAD: usize = 400;
    let s = Arc::new(bounded(2, MAX));
    let inside = Arc::new(AtomicUsize::new(0));
    let most_inside = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(vec![0u8; 6 * PER_THREAD]));
    let task = {
        let (inside, most, seen) = (inside.clone(), most_inside.clone(), seen.clone());
        move |id: usize| {
            let (inside, most, seen) = (inside.clone(), most.clone(), seen.clone());
            async move {
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                for _ in 0..3 {
                    echo_std::yield_now().await;
                }
                seen.lock().unwrap()[id] += 1;
                inside.fetch_sub(1, Ordering::SeqCst);
            }
        }
    };
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (s, task) = (s.clone(), task.clone());
            std::thread::spawn(move || {
                let mut full = 0;
                for i in 0..PER_THREAD {
                    let id = t * PER_THREAD + i;
                    let p = Priority::ALL[i % 3];
                    match t % 3 {
                        // Blocking submit.
                        0 => drop(s.submit(task(id), p)),
                        // try_submit, retrying with the future it hands back.
                        1 => {
                            let mut fut = task(id);
                            loop {
                                match s.try_submit(fut, p) {
                                    Ok(h) => break drop(h),
                                    Err(e) => {
                                        assert!(e.is_full());
                                        full += 1;
                                        fut = e.into_inner();
                                        std::thread::yield_now();
                                    }
                                }
                            }
                        }
                        // submit_async, awaited.
                        _ => drop(s.block_on(s.submit_async(task(id), p)).unwrap()),
                    }
                }
                full
            })
        })
        .collect();
    let refusals: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        s.shutdown_timeout(Duration::from_secs(30)),
        "everything drains"
    );
    assert!(
        most_inside.load(Ordering::SeqCst) <= MAX,
        "{} tasks alive at once, bound {MAX}",
        most_inside.load(Ordering::SeqCst)
    );
    assert!(
        seen.lock().unwrap().iter().all(|&n| n == 1),
        "each task ran once"
    );
    assert!(refusals > 0, "the flood did hit the bound");
    assert_eq!(s.metrics().total().completed, 6 * PER_THREAD);
}

#[test]
fn tasks_spawning_children_at_the_bound_do_not_deadlock() {
    let s = bounded(1, 2);
    let parents: Vec<_> = (0..2)
        .map(|_| {
            s.submit(
                async {
                    let mut sum = 0;
                    for i in 0..10u32 {
                        // Over the bound from inside the pool: admitted.
                        sum += echo_std::spawn(async move { i }, Priority::Low)
                            .await
                            .unwrap();
                    }
                    sum
                },
                Priority::Normal,
            )
        })
        .collect();
    for p in parents {
        assert_eq!(s.block_on(p).unwrap(), 45);
    }
}

#[test]
fn a_submitter_waiting_for_room_proceeds_when_room_is_freed() {
    let s = Arc::new(bounded(1, 1));
    let gate = Gate::new();
    let first = s.submit(gate.wait(), Priority::Normal);
    let admitted = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (s, admitted) = (s.clone(), admitted.clone());
        std::thread::spawn(move || {
            let h = s
                .block_on(s.submit_async(async { 5 }, Priority::Low))
                .unwrap();
            admitted.store(true, Ordering::SeqCst);
            s.block_on(h).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!admitted.load(Ordering::SeqCst), "no room yet");
    gate.open();
    assert_eq!(waiter.join().unwrap(), 5);
    s.block_on(first).unwrap();
}

#[test]
fn shutdown_releases_waiting_submitters_with_their_futures() {
    let s = Arc::new(bounded(1, 1));
    let gate = Gate::new();
    let _first = s.submit(gate.wait(), Priority::Normal);
    let drops = DropCount::new();
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (s, drops) = (s.clone(), drops.clone());
            std::thread::spawn(move || {
                if i == 0 {
                    let r = s.block_on(s.submit_async(drops.wrap(async {}), Priority::Low));
                    let err = r.unwrap_err();
                    assert!(err.is_shutdown());
                    drop(err.into_inner());
                } else {
                    let h = s.submit(drops.wrap(async {}), Priority::Low);
                    assert!(s.block_on(h).unwrap_err().is_cancelled());
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    s.shutdown();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(
        drops.get(),
        2,
        "each refused future dropped once, by its owner"
    );
}
