//! The anti-starvation bounds, asserted in polls (not time): one worker,
//! every poll logged in order.

use echo_std::{Priority, Scheduler};
use echo_tests::wait_until;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<&'static str>>>;

/// Holds the only worker until released; runs `before` on the worker first
/// (so that what it spawns lands in that worker's ring).
fn hold_worker(s: &Scheduler, before: impl FnOnce() + Send + 'static) -> Arc<AtomicBool> {
    let release = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicBool::new(false));
    let (r, h) = (release.clone(), held.clone());
    drop(s.submit(
        async move {
            before();
            h.store(true, Ordering::SeqCst);
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_micros(200));
            }
        },
        Priority::High,
    ));
    assert!(wait_until(Duration::from_secs(10), || held.load(Ordering::SeqCst)));
    release
}

/// A High task that logs and resubmits itself until `stop`.
fn high_flooder(s: Arc<Scheduler>, log: Log, stop: Arc<AtomicBool>) {
    let s2 = s.clone();
    drop(s.submit(
        async move {
            log.lock().unwrap().push("high");
            if !stop.load(Ordering::SeqCst) {
                high_flooder(s2, log, stop);
            }
        },
        Priority::High,
    ));
}

/// Every window of `n` consecutive polls, up to the last poll of `tag`,
/// contains a poll of `tag`.
fn assert_served_every(log: &[&str], tag: &str, n: usize) {
    let last = log.iter().rposition(|&t| t == tag).expect("the tier ran");
    let mut since = 0;
    for (i, &t) in log[..=last].iter().enumerate() {
        if t == tag {
            since = 0;
        } else {
            since += 1;
            assert!(
                since < n,
                "{n} polls without {tag} ending at poll {i}: {:?}",
                &log[i + 1 - n..=i]
            );
        }
    }
}

#[test]
fn normal_and_low_are_served_within_their_intervals_under_a_high_flood() {
    for (n, m) in [(8, 32), (2, 3), (4, 6)] {
        let s = Arc::new(
            Scheduler::builder()
                .worker_count(1)
                .normal_interval(n)
                .low_interval(m)
                .build()
                .unwrap(),
        );
        let log: Log = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let release = hold_worker(&s, || {});
        for _ in 0..20 {
            high_flooder(s.clone(), log.clone(), stop.clone());
        }
        let mut handles = Vec::new();
        for (tag, p, count) in [("normal", Priority::Normal, 40), ("low", Priority::Low, 15)] {
            for _ in 0..count {
                let log = log.clone();
                handles.push(s.submit(async move { log.lock().unwrap().push(tag) }, p));
            }
        }
        release.store(true, Ordering::SeqCst);
        for h in handles {
            s.block_on(h).unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        assert!(s.shutdown_timeout(Duration::from_secs(10)));
        let log = log.lock().unwrap();
        assert_served_every(&log, "normal", n as usize);
        assert_served_every(&log, "low", m as usize);
        // High got the rest: with the defaults, far more than the others.
        let highs = log.iter().filter(|&&t| t == "high").count();
        assert!(highs > 0);
        if (n, m) == (8, 32) {
            assert!(highs > 40 + 15, "only {highs} High polls");
        }
    }
}

#[test]
fn low_is_served_within_its_interval_under_a_normal_flood() {
    let s = Arc::new(Scheduler::builder().worker_count(1).build().unwrap());
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let release = hold_worker(&s, || {});
    fn normal_flooder(s: Arc<Scheduler>, log: Log, stop: Arc<AtomicBool>) {
        let s2 = s.clone();
        drop(s.submit(
            async move {
                log.lock().unwrap().push("normal");
                if !stop.load(Ordering::SeqCst) {
                    normal_flooder(s2, log, stop);
                }
            },
            Priority::Normal,
        ));
    }
    for _ in 0..20 {
        normal_flooder(s.clone(), log.clone(), stop.clone());
    }
    let lows: Vec<_> = (0..20)
        .map(|_| {
            let log = log.clone();
            s.submit(
                async move { log.lock().unwrap().push("low") },
                Priority::Low,
            )
        })
        .collect();
    release.store(true, Ordering::SeqCst);
    for h in lows {
        s.block_on(h).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    assert!(s.shutdown_timeout(Duration::from_secs(10)));
    assert_served_every(&log.lock().unwrap(), "low", 32);
}

#[test]
fn the_injector_is_checked_within_k_ticks_of_a_busy_ring() {
    const K: u32 = 8;
    let s = Arc::new(
        Scheduler::builder()
            .worker_count(1)
            .global_queue_interval(K)
            .build()
            .unwrap(),
    );
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // On the worker: 50 Normal tasks that log and yield forever, so the
    // worker's own ring never runs dry.
    let (l, st) = (log.clone(), stop.clone());
    let release = hold_worker(&s, move || {
        for _ in 0..50 {
            let (log, stop) = (l.clone(), st.clone());
            drop(echo_std::spawn(
                async move {
                    while !stop.load(Ordering::SeqCst) {
                        log.lock().unwrap().push("local");
                        echo_std::yield_now().await;
                    }
                },
                Priority::Normal,
            ));
        }
    });
    // From outside: lands in the Normal injector, behind a full ring.
    let l = log.clone();
    let remote = s.submit(
        async move { l.lock().unwrap().push("remote") },
        Priority::Normal,
    );
    release.store(true, Ordering::SeqCst);
    s.block_on(remote).unwrap();
    stop.store(true, Ordering::SeqCst);
    assert!(s.shutdown_timeout(Duration::from_secs(10)));
    let log = log.lock().unwrap();
    let at = log.iter().position(|&t| t == "remote").unwrap();
    assert!(
        at <= K as usize,
        "the remote task waited {at} local polls (K = {K})"
    );
}

#[test]
fn intervals_below_their_minimum_are_build_errors() {
    assert!(
        Scheduler::builder()
            .worker_count(1)
            .normal_interval(1)
            .build()
            .is_err()
    );
    assert!(
        Scheduler::builder()
            .worker_count(1)
            .low_interval(2)
            .build()
            .is_err()
    );
    assert!(
        Scheduler::builder()
            .worker_count(1)
            .global_queue_interval(0)
            .build()
            .is_err()
    );
}
