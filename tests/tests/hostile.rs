//! Echo used as a hostile user would: user data that panics when dropped,
//! at any depth; shutdown from every thread and at every moment; spawns at
//! the bound on live tasks; memory after outside bursts; absurd settings;
//! aborts that race a task's last poll; tasks nothing can wake. Each test
//! pins a promise of the README. CI also runs them under AddressSanitizer
//! with leak checking, which catches what they leak.

use echo_std::{BuildError, Priority, Scheduler};
use echo_tests::{DropCount, Gate, thread_names, wait_until};
use std::future::poll_fn;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

fn scheduler(workers: usize, name: &str) -> Scheduler {
    Scheduler::builder()
        .worker_count(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

/// Threads of this process whose name starts with `prefix` (names are cut
/// to 15 bytes by the kernel).
fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Panics when dropped; with `depth > 0`, the panic's payload is another
/// `Bomb` of depth `depth - 1`, and so on.
struct Bomb {
    depth: usize,
    drops: Arc<AtomicUsize>,
}

impl Bomb {
    fn new(depth: usize, drops: &Arc<AtomicUsize>) -> Bomb {
        Bomb {
            depth,
            drops: drops.clone(),
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.depth == 0 {
            panic!("bomb");
        }
        panic::panic_any(Bomb::new(self.depth - 1, &self.drops));
    }
}

/// A payload whose drop always panics with another one like it.
struct Hydra;

impl Drop for Hydra {
    fn drop(&mut self) {
        panic::panic_any(Hydra);
    }
}

/// The names of the threads that panicked so far (any panic, contained
/// or not), recorded by the hook `quiet_panics` installs.
static PANICKED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn quiet_panics() {
    // The default hook would print every contained panic; this one only
    // records on which thread it happened, for tests that expect none.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|_| {
            let name = thread::current().name().unwrap_or("").to_owned();
            PANICKED_ON
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(name);
        }))
    });
}

/// Panics so far on threads whose name starts with `prefix`.
fn panics_on(prefix: &str) -> usize {
    let names = PANICKED_ON.lock().unwrap_or_else(|e| e.into_inner());
    names.iter().filter(|n| n.starts_with(prefix)).count()
}

/// Whether a scheduler with one worker still runs tasks.
fn still_runs(s: &Scheduler) -> bool {
    let (tx, rx) = mpsc::channel();
    drop(s.submit(
        async move {
            let _ = tx.send(7);
        },
        Priority::High,
    ));
    rx.recv_timeout(PATIENCE) == Ok(7)
}

// ---- drops of user data ----------------------------------------------

#[test]
fn an_unread_output_that_panics_on_drop_is_contained() {
    quiet_panics();
    let s = scheduler(1, "h-output");
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let handle = s.submit(async move { Bomb::new(0, &d) }, Priority::Normal);
    assert!(wait_until(PATIENCE, || handle.is_finished()));
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(handle)));
    assert!(
        dropped.is_ok(),
        "the output's panic escaped JoinHandle::drop"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(s.live_tasks(), 0);
    assert!(still_runs(&s));
}

#[test]
fn an_unread_panic_whose_payload_panics_on_drop_is_contained() {
    quiet_panics();
    let s = scheduler(1, "h-payload");
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let handle = s.submit(
        async move {
            panic::panic_any(Bomb::new(2, &d));
        },
        Priority::Normal,
    );
    assert!(wait_until(PATIENCE, || handle.is_finished()));
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(handle)));
    assert!(
        dropped.is_ok(),
        "a payload's panic escaped JoinHandle::drop"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "every nested payload dropped"
    );
    assert!(still_runs(&s));
}

#[test]
fn nested_panicking_payloads_of_a_detached_task_never_kill_its_worker() {
    quiet_panics();
    let s = scheduler(1, "h-nested");
    let drops = Arc::new(AtomicUsize::new(0));
    for depth in 0..4 {
        let d = drops.clone();
        // Detached: the worker itself drops the payload after the poll.
        drop(s.submit(
            async move {
                panic::panic_any(Bomb::new(depth, &d));
            },
            Priority::Normal,
        ));
    }
    assert!(still_runs(&s), "the worker died");
    assert!(wait_until(PATIENCE, || drops.load(Ordering::SeqCst) == 1 + 2 + 3 + 4));
    assert_eq!(s.metrics().lost_panic_payloads, 0);
    assert_eq!(s.metrics().tier(Priority::Normal).panicked, 4);
}

#[test]
fn an_endless_chain_of_panicking_payloads_is_cut_and_counted() {
    quiet_panics();
    let s = scheduler(1, "h-hydra");
    drop(s.submit(async { panic::panic_any(Hydra) }, Priority::Low));
    assert!(still_runs(&s), "the worker died");
    assert!(wait_until(PATIENCE, || s.metrics().lost_panic_payloads == 1));
}

/// A future that panics in `poll` is dropped while that panic unwinds, so
/// its `Drop` sees `thread::panicking()` (as in tokio); a panic of that drop
/// is contained too. (A hand-written future: the locals of an `async`
/// block are dropped by the block itself as the panic leaves it.)
#[test]
fn a_future_is_dropped_while_its_poll_panics() {
    quiet_panics();
    struct SeesUnwind {
        seen: Arc<Mutex<Option<bool>>>,
        drop_panics: bool,
    }
    impl Drop for SeesUnwind {
        fn drop(&mut self) {
            *self.seen.lock().unwrap() = Some(thread::panicking());
            if self.drop_panics {
                panic!("and the drop panics too");
            }
        }
    }
    impl std::future::Future for SeesUnwind {
        type Output = ();
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
            panic!("poll");
        }
    }
    let s = scheduler(1, "h-unwind");
    for drop_panics in [false, true] {
        let seen = Arc::new(Mutex::new(None));
        let future = SeesUnwind {
            seen: seen.clone(),
            drop_panics,
        };
        let err = s.block_on(s.submit(future, Priority::Normal)).unwrap_err();
        assert!(err.is_panic());
        let msg = err.into_panic().downcast::<&str>().unwrap();
        assert_eq!(*msg, "poll", "the handle reports the poll's panic");
        assert_eq!(
            *seen.lock().unwrap(),
            Some(true),
            "dropped during unwinding"
        );
    }
    assert!(still_runs(&s));
}

// ---- shutdown from every thread, at every moment ---------------------

/// A parked task holds the last `Arc<Scheduler>`; another task shuts down;
/// `main` has dropped its reference first. The last worker out cancels the
/// parked task during the shutdown walk, which drops the last reference on
/// that worker: shutdown then runs on a worker, in the middle of the walk.
#[test]
fn the_last_arc_dropped_on_a_worker_during_the_shutdown_walk() {
    quiet_panics();
    let name = "h-lastarc";
    let s = Arc::new(scheduler(2, name));
    let weak: Weak<Scheduler> = Arc::downgrade(&s);
    let waker_slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let parked = Arc::new(AtomicBool::new(false));
    {
        let (s2, slot, parked) = (s.clone(), waker_slot.clone(), parked.clone());
        drop(s.submit(
            async move {
                let _last = s2;
                poll_fn(move |cx| {
                    *slot.lock().unwrap() = Some(cx.waker().clone());
                    parked.store(true, Ordering::SeqCst);
                    Poll::<()>::Pending
                })
                .await;
            },
            Priority::Normal,
        ));
    }
    assert!(wait_until(PATIENCE, || parked.load(Ordering::SeqCst)));
    // The shutting task waits until `main` has let go, so that the parked
    // task's reference is the last one when the walk cancels it.
    let go = Gate::new();
    let shut = {
        let go = go.clone();
        s.submit(
            async move {
                go.wait().await;
                if let Some(s) = weak.upgrade() {
                    s.shutdown();
                }
            },
            Priority::Normal,
        )
    };
    drop(s);
    go.open();
    drop(shut);
    assert!(
        wait_until(PATIENCE, || threads_named(name) == 0),
        "threads left behind: {}",
        threads_named(name)
    );
    // Shutdown on the worker that dropped the last reference must not have
    // tried to join its own thread (which panics with EDEADLK).
    assert_eq!(panics_on(name), 0, "shutdown panicked on a worker");
    drop(waker_slot);
}

#[test]
fn shutdown_from_a_task_joins_every_other_thread() {
    let name = "h-fromtask";
    let s = Arc::new(
        Scheduler::builder()
            .worker_count(2)
            .thread_name(name)
            .build()
            .unwrap(),
    );
    // A blocking-pool thread exists too.
    assert_eq!(s.block_on(s.spawn_blocking(|| 5)).unwrap(), 5);
    let s2 = s.clone();
    let (tx, rx) = mpsc::channel();
    drop(s.submit(
        async move {
            s2.shutdown();
            // Every thread but this one was joined before shutdown returned.
            let _ = tx.send(threads_named(name));
        },
        Priority::Normal,
    ));
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(1), "only the caller's worker");
    assert!(wait_until(PATIENCE, || threads_named(name) == 0));
    drop(s);
}

#[test]
fn shutdown_from_many_threads_at_once_and_from_a_blocking_closure() {
    for round in 0..20 {
        let name = format!("h-many{round}");
        let s = Arc::new(scheduler(2, &name));
        for i in 0..50u32 {
            drop(s.submit(
                async move {
                    echo_std::yield_now().await;
                    i
                },
                Priority::Normal,
            ));
        }
        let s2 = s.clone();
        let from_pool = s.spawn_blocking(move || s2.shutdown());
        let callers: Vec<_> = (0..3)
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || {
                    if i == 0 {
                        s.shutdown_timeout(Duration::from_millis(1));
                    } else {
                        s.shutdown();
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().expect("shutdown never panics");
        }
        drop(from_pool);
        drop(s);
        assert!(wait_until(PATIENCE, || threads_named(&name) == 0));
    }
}

// ---- refusals at the bound -------------------------------------------

#[test]
fn spawns_inside_block_on_at_the_bound_wait_for_room_instead_of_dropping() {
    let s = Scheduler::builder()
        .worker_count(1)
        .max_tasks(1)
        .thread_name("h-bound")
        .build()
        .unwrap();
    let gate = Gate::new();
    // The one slot is taken until the gate opens.
    let blocker = s.submit(gate.wait(), Priority::Normal);
    let opener = {
        let gate = gate.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            gate.open();
        })
    };
    let (spawned, blocking) = s.block_on(async {
        let spawned = echo_std::spawn(async { 7 }, Priority::Normal).await;
        let blocking = echo_std::spawn_blocking(|| 8).await;
        (spawned, blocking)
    });
    assert_eq!(
        spawned.unwrap(),
        7,
        "the spawn waited for room, not cancelled"
    );
    assert_eq!(blocking.unwrap(), 8, "the closure ran");
    opener.join().unwrap();
    s.block_on(blocker).unwrap();
    assert!(s.metrics().total().cancelled == 0, "nothing was cancelled");
}

// ---- memory return ---------------------------------------------------

#[test]
fn an_idle_scheduler_returns_the_memory_of_an_outside_burst() {
    let s = scheduler(2, "h-memory");
    const N: usize = 200_000;
    for i in 0..N {
        drop(s.submit(async move { i }, Priority::Normal));
    }
    assert!(wait_until(PATIENCE, || s.live_tasks() == 0));
    // 200 000 tasks of 64 bytes took about 13 MiB of pages; idle, the
    // scheduler keeps a current page per heap, a few MiB of chunks at most.
    let held = || s.metrics().slab_bytes;
    assert!(
        wait_until(PATIENCE, || held() <= 3 << 20),
        "an idle scheduler still holds {} bytes of task memory",
        held()
    );
    // The same burst spawned inside a task.
    s.block_on(s.submit(
        async {
            for i in 0..N {
                drop(echo_std::spawn(async move { i }, Priority::Normal));
            }
        },
        Priority::Normal,
    ))
    .unwrap();
    assert!(wait_until(PATIENCE, || s.live_tasks() == 0));
    assert!(
        wait_until(PATIENCE, || held() <= 3 << 20),
        "held {}",
        held()
    );
}

// ---- input validation ------------------------------------------------

#[test]
fn every_builder_input_gives_a_scheduler_or_an_error() {
    let err = Scheduler::builder()
        .worker_count(1)
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidThreadName(_)), "{err}");
    assert!(
        Scheduler::builder()
            .worker_count(usize::MAX)
            .build()
            .is_err()
    );

    let extremes: Vec<(&str, echo_std::SchedulerBuilder)> = vec![
        ("intervals", {
            Scheduler::builder()
                .normal_interval(u32::MAX)
                .low_interval(u32::MAX)
                .global_queue_interval(u32::MAX)
        }),
        ("bounds", {
            Scheduler::builder()
                .max_tasks(usize::MAX)
                .max_blocking_threads(usize::MAX)
        }),
        ("keep-alive", {
            Scheduler::builder().blocking_keep_alive(Duration::MAX)
        }),
        ("zero keep-alive", {
            Scheduler::builder().blocking_keep_alive(Duration::ZERO)
        }),
        ("tiny stack", Scheduler::builder().stack_size(0)),
        ("huge stack", Scheduler::builder().stack_size(usize::MAX)),
        ("empty name", Scheduler::builder().thread_name("")),
    ];
    for (what, builder) in extremes {
        let built = panic::catch_unwind(AssertUnwindSafe(|| builder.worker_count(2).build()));
        let Ok(built) = built else {
            panic!("{what}: build panicked");
        };
        let Ok(s) = built else { continue }; // an error is a fine answer
        let tasks: Vec<_> = (0..20u32)
            .map(|i| s.submit(async move { i }, Priority::ALL[i as usize % 3]))
            .collect();
        let sum: u32 = tasks.into_iter().map(|h| s.block_on(h).unwrap()).sum();
        assert_eq!(sum, (0..20).sum::<u32>(), "{what}");
        assert_eq!(s.block_on(s.spawn_blocking(|| 3)).unwrap(), 3, "{what}");
        assert!(s.shutdown_timeout(Duration::MAX), "{what}");
    }
}

#[test]
fn shutdown_timeout_saturates() {
    let s = scheduler(1, "h-saturate");
    drop(s.submit(async { 1 }, Priority::Low));
    assert!(s.shutdown_timeout(Duration::MAX));
    let s = scheduler(1, "h-saturate");
    assert!(s.shutdown_timeout(Duration::from_secs(u64::MAX)));
}

// ---- shutdown_timeout is bounded -------------------------------------

#[test]
fn shutdown_timeout_does_not_wait_for_a_running_blocking_closure() {
    let s = scheduler(1, "h-bounded");
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let closure = {
        let (release, started, finished) = (release.clone(), started.clone(), finished.clone());
        s.spawn_blocking(move || {
            started.store(true, Ordering::SeqCst);
            // Runs until the test lets it end (or, at worst, a minute).
            let deadline = Instant::now() + Duration::from_secs(60);
            while !release.load(Ordering::SeqCst) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            finished.store(true, Ordering::SeqCst);
        })
    };
    assert!(wait_until(PATIENCE, || started.load(Ordering::SeqCst)));
    assert!(!s.shutdown_timeout(Duration::from_millis(100)));
    assert!(
        !finished.load(Ordering::SeqCst),
        "shutdown_timeout waited for the closure"
    );
    assert!(s.block_on(closure).unwrap_err().is_cancelled());
    release.store(true, Ordering::SeqCst);
    assert!(wait_until(PATIENCE, || threads_named("h-bounded") == 0));
}

#[test]
fn shutdown_timeout_does_not_wait_for_a_worker_stuck_in_a_poll() {
    let s = scheduler(1, "h-stuck");
    let release = Arc::new(AtomicBool::new(false));
    let polling = Arc::new(AtomicBool::new(false));
    {
        let (release, polling) = (release.clone(), polling.clone());
        drop(s.submit(
            async move {
                polling.store(true, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(60);
                while !release.load(Ordering::SeqCst) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
            },
            Priority::Normal,
        ));
    }
    assert!(wait_until(PATIENCE, || polling.load(Ordering::SeqCst)));
    assert!(!s.shutdown_timeout(Duration::from_millis(50)));
    assert_eq!(threads_named("h-stuck-0"), 1, "the stuck worker, detached");
    release.store(true, Ordering::SeqCst);
    assert!(wait_until(PATIENCE, || threads_named("h-stuck") == 0));
    drop(s);
}

// ---- abort racing the last poll ----------------------------------------

/// `abort()` while the task's last poll is running: the poll's output wins
/// (as in tokio), and the docs say so.
#[test]
fn abort_during_the_final_poll_keeps_the_output() {
    let s = scheduler(1, "h-abort");
    let polling = Arc::new(AtomicBool::new(false));
    let aborted = Arc::new(AtomicBool::new(false));
    let handle = {
        let (polling, aborted) = (polling.clone(), aborted.clone());
        s.submit(
            async move {
                polling.store(true, Ordering::SeqCst);
                assert!(wait_until(PATIENCE, || aborted.load(Ordering::SeqCst)));
                42
            },
            Priority::Normal,
        )
    };
    assert!(wait_until(PATIENCE, || polling.load(Ordering::SeqCst)));
    handle.abort();
    aborted.store(true, Ordering::SeqCst);
    assert_eq!(s.block_on(handle).unwrap(), 42);

    // Aborted while waiting instead: cancelled, and its future dropped.
    let drops = DropCount::new();
    let gate = Gate::new();
    let handle = s.submit(drops.wrap(gate.wait()), Priority::Normal);
    assert!(wait_until(PATIENCE, || gate.waiters() == 1));
    handle.abort();
    assert!(s.block_on(handle).unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 1);
}

// ---- tasks nothing can wake ------------------------------------------

#[test]
fn detached_tasks_that_nothing_can_wake_are_freed_at_once() {
    let s = scheduler(2, "h-orphans");
    let drops = DropCount::new();
    for _ in 0..1000 {
        // Pending, keeping no waker: nothing can ever wake it.
        drop(s.submit(
            drops.wrap(poll_fn(|_| Poll::<()>::Pending)),
            Priority::Normal,
        ));
    }
    assert!(wait_until(PATIENCE, || drops.get() == 1000));
    assert!(wait_until(PATIENCE, || s.live_tasks() == 0));

    // Its waker kept somewhere, then dropped.
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let parked = DropCount::new();
    {
        let slot = slot.clone();
        drop(s.submit(
            parked.wrap(poll_fn(move |cx| {
                *slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            })),
            Priority::Low,
        ));
    }
    assert!(wait_until(PATIENCE, || slot.lock().unwrap().is_some()));
    assert_eq!(parked.get(), 0, "a task whose waker is kept stays");
    drop(slot.lock().unwrap().take());
    assert!(wait_until(PATIENCE, || parked.get() == 1));
    let m = s.metrics();
    assert_eq!(m.tier(Priority::Normal).orphaned, 1000);
    assert_eq!(m.tier(Priority::Low).orphaned, 1);
    assert_eq!(m.live, 0);
}
