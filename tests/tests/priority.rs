//! Priority behaviour visible from outside: High overtakes queued work,
//! lower tiers keep making progress under load.

use echo_std::{Priority, Scheduler};
use echo_tests::{busy_for, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Blocks every worker of `s` until the returned flag is set.
fn block_workers(s: &Scheduler) -> (Arc<AtomicBool>, Vec<echo_std::JoinHandle<()>>) {
    let release = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let handles = (0..s.worker_count())
        .map(|_| {
            let release = release.clone();
            let running = running.clone();
            s.submit(
                async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                },
                Priority::High,
            )
        })
        .collect();
    let n = s.worker_count();
    assert!(wait_until(Duration::from_secs(10), || running
        .load(Ordering::SeqCst)
        == n));
    (release, handles)
}

#[test]
fn high_tasks_start_before_most_of_10_000_queued_normal_tasks() {
    for workers in [1, 2] {
        let s = Scheduler::builder().worker_count(workers).build().unwrap();
        let (release, blockers) = block_workers(&s);
        let normal_done = Arc::new(AtomicUsize::new(0));
        let normals: Vec<_> = (0..10_000)
            .map(|_| {
                let done = normal_done.clone();
                s.submit(
                    async move {
                        done.fetch_add(1, Ordering::SeqCst);
                    },
                    Priority::Normal,
                )
            })
            .collect();
        let seen_at_start = Arc::new(Mutex::new(Vec::new()));
        let highs: Vec<_> = (0..20)
            .map(|_| {
                let done = normal_done.clone();
                let seen = seen_at_start.clone();
                s.submit(
                    async move {
                        seen.lock().unwrap().push(done.load(Ordering::SeqCst));
                    },
                    Priority::High,
                )
            })
            .collect();
        release.store(true, Ordering::SeqCst);
        for h in blockers.into_iter().chain(highs) {
            s.block_on(h).unwrap();
        }
        for h in normals {
            s.block_on(h).unwrap();
        }
        let seen = seen_at_start.lock().unwrap();
        let worst = *seen.iter().max().unwrap();
        // Each High task may wait for at most the Normal polls that the
        // anti-starvation rule owes (1 in 8) plus one in flight per worker.
        assert!(
            worst < 100,
            "W={workers}: a High task started after {worst} of 10 000 Normal tasks"
        );
    }
}

#[test]
fn low_tasks_progress_under_a_continuous_high_and_normal_load() {
    let s = Arc::new(Scheduler::builder().worker_count(2).build().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let flood_polls = Arc::new(AtomicUsize::new(0));
    // Self-perpetuating floods: each task resubmits itself until `stop`.
    fn flood(s: Arc<Scheduler>, p: Priority, stop: Arc<AtomicBool>, polls: Arc<AtomicUsize>) {
        let s2 = s.clone();
        drop(s.submit(
            async move {
                busy_for(Duration::from_micros(20));
                polls.fetch_add(1, Ordering::Relaxed);
                if !stop.load(Ordering::SeqCst) {
                    flood(s2, p, stop, polls);
                }
            },
            p,
        ));
    }
    for _ in 0..8 {
        flood(s.clone(), Priority::High, stop.clone(), flood_polls.clone());
        flood(
            s.clone(),
            Priority::Normal,
            stop.clone(),
            flood_polls.clone(),
        );
    }
    let low_done = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let d = low_done.clone();
        drop(s.submit(
            async move {
                d.fetch_add(1, Ordering::SeqCst);
            },
            Priority::Low,
        ));
    }
    let all_low = wait_until(Duration::from_secs(20), || {
        low_done.load(Ordering::SeqCst) == 50
    });
    let flood_polls_then = flood_polls.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    assert!(
        all_low,
        "only {} of 50 Low tasks ran",
        low_done.load(Ordering::SeqCst)
    );
    // With M = 32 each Low task needs about 32 flood polls per worker.
    assert!(
        flood_polls_then < 50 * 32 * 4,
        "Low waited {flood_polls_then} flood polls for 50 tasks"
    );
    assert!(s.shutdown_timeout(Duration::from_secs(10)));
}

#[test]
fn a_high_task_awaiting_a_low_task_lends_it_its_priority() {
    // One worker, a queue of Normal work, and a High task awaiting a Low
    // task: the Low task must run at High, ahead of the Normal queue.
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let (release, blockers) = block_workers(&s);
    let normal_done = Arc::new(AtomicUsize::new(0));
    let normals: Vec<_> = (0..2_000)
        .map(|_| {
            let d = normal_done.clone();
            s.submit(
                async move {
                    d.fetch_add(1, Ordering::SeqCst);
                },
                Priority::Normal,
            )
        })
        .collect();
    let d = normal_done.clone();
    let low = s.submit(async move { d.load(Ordering::SeqCst) }, Priority::Low);
    let high = s.submit(async move { low.await.unwrap() }, Priority::High);
    release.store(true, Ordering::SeqCst);
    for b in blockers {
        s.block_on(b).unwrap();
    }
    let normals_before_low = s.block_on(high).unwrap();
    assert!(
        normals_before_low < 50,
        "the awaited Low task ran after {normals_before_low} Normal tasks"
    );
    for h in normals {
        s.block_on(h).unwrap();
    }
}
