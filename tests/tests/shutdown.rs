//! Shutdown with tasks in every state, and from every place.

use echo_std::{Priority, Scheduler};
use echo_tests::{DropCount, Gate, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

#[test]
fn shutdown_drops_every_future_once_with_wakes_racing_it() {
    for round in 0..20 {
        let s = Scheduler::builder().worker_count(2).build().unwrap();
        let drops = DropCount::new();
        let gate = Gate::new();
        let children = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        // Tasks parked on a gate, tasks yielding forever, tasks spawning.
        for i in 0..300 {
            let p = Priority::ALL[i % 3];
            let h = match i % 3 {
                0 => s.submit(drops.wrap(gate.wait()), p),
                1 => s.submit(
                    drops.wrap(async {
                        loop {
                            echo_std::yield_now().await;
                        }
                    }),
                    p,
                ),
                _ => {
                    let d = drops.clone();
                    let g = gate.clone();
                    let c = children.clone();
                    s.submit(
                        drops.wrap(async move {
                            // A spawn refused by shutdown drops its future
                            // too: count attempts, not successes.
                            c.fetch_add(1, Ordering::SeqCst);
                            let child = echo_std::spawn(d.wrap(g.wait()), Priority::Low);
                            let _ = child.await;
                        }),
                        p,
                    )
                }
            };
            handles.push(h);
        }
        // Another thread keeps opening gates (waking parked tasks) while
        // the scheduler shuts down.
        let stop = Arc::new(AtomicBool::new(false));
        let waker_thread = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    gate.pulse();
                    std::thread::yield_now();
                }
                gate.open();
            })
        };
        std::thread::sleep(Duration::from_millis(round % 5));
        s.shutdown();
        stop.store(true, Ordering::SeqCst);
        waker_thread.join().unwrap();
        // 300 top-level futures plus one child per spawn attempt.
        let children = children.load(Ordering::SeqCst);
        assert_eq!(drops.get(), 300 + children, "round {round}");
        for (i, h) in handles.into_iter().enumerate() {
            match s.block_on(h) {
                Err(e) => assert!(e.is_cancelled(), "round {round}: {e}"),
                // A parent polled during shutdown may see its child's spawn
                // refused (a cancelled handle) and finish.
                Ok(()) => assert_eq!(i % 3, 2, "round {round}: task {i} cannot finish"),
            }
        }
        assert_eq!(s.live_tasks(), 0);
    }
}

#[test]
fn shutdown_from_inside_a_task_stops_the_pool() {
    let s = Arc::new(Scheduler::builder().worker_count(2).build().unwrap());
    let gate = Gate::new();
    let drops = DropCount::new();
    let waiting = s.submit(drops.wrap(gate.wait()), Priority::Low);
    assert!(wait_until(Duration::from_secs(5), || gate.waiters() == 1));
    let s2 = s.clone();
    let stopper = s.submit(
        async move {
            s2.shutdown();
            "stopped"
        },
        Priority::High,
    );
    assert_eq!(s.block_on(stopper).unwrap(), "stopped");
    assert!(wait_until(Duration::from_secs(5), || drops.get() == 1));
    assert!(s.block_on(waiting).unwrap_err().is_cancelled());
    s.shutdown(); // from outside now: joins the threads
    assert!(s.try_submit(async {}, Priority::Low).is_err());
}

#[test]
fn wakers_held_outside_outlive_the_scheduler_safely() {
    let kept: Arc<Mutex<Vec<Waker>>> = Arc::default();
    {
        let s = Scheduler::builder().worker_count(2).build().unwrap();
        for _ in 0..50 {
            let kept = kept.clone();
            drop(s.submit(
                std::future::poll_fn(move |cx| {
                    kept.lock().unwrap().push(cx.waker().clone());
                    std::task::Poll::<()>::Pending
                }),
                Priority::Normal,
            ));
        }
        assert!(wait_until(Duration::from_secs(5), || kept
            .lock()
            .unwrap()
            .len()
            == 50));
    }
    // The scheduler is gone; its tasks' memory lives until the last waker.
    let wakers = std::mem::take(&mut *kept.lock().unwrap());
    for (i, w) in wakers.into_iter().enumerate() {
        if i % 2 == 0 {
            w.wake();
        } else {
            w.wake_by_ref();
            drop(w);
        }
    }
}
