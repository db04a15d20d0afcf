//! echo-core driven by a host of its own: one thread, a host loop, a
//! tick clock and "interrupts" that wake tasks between runs. No echo-std.

use echo_sched_core::{Config, PanicPayload, Platform, Priority, Scheduler};
use echo_tests::DropCount;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A single-threaded host: no threads, no blocking, a tick counter for a
/// clock, and a flag that `unpark` raises to tell the loop to run again.
#[derive(Default)]
struct LoopHost {
    worker: AtomicUsize, // 0 = none, i + 1 = worker i
    ticks: AtomicU64,
    wake_flag: AtomicBool,
    unparks: AtomicUsize,
}

// SAFETY: only one thread ever calls into this host's scheduler, so the
// "current worker" value is that thread's.
unsafe impl Platform for LoopHost {
    fn park(&self, _worker: usize) {
        unreachable!("a run_until_idle host never parks through the platform")
    }
    fn unpark(&self, _worker: usize) {
        self.unparks.fetch_add(1, Ordering::SeqCst);
        self.wake_flag.store(true, Ordering::SeqCst);
    }
    fn now_nanos(&self) -> u64 {
        self.ticks.load(Ordering::SeqCst) * 1_000
    }
    fn random_seed(&self) -> u64 {
        42
    }
    fn current_worker(&self) -> Option<usize> {
        self.worker.load(Ordering::SeqCst).checked_sub(1)
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        self.worker
            .store(worker.map_or(0, |w| w + 1), Ordering::SeqCst);
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        Ok(f())
    }
}

/// A timer wheel the host fires between runs.
#[derive(Clone, Default)]
struct Timers(Arc<Mutex<Vec<(u64, Waker)>>>);

impl Timers {
    fn sleep_until(&self, now: Arc<AtomicU64>, deadline: u64) -> Sleep {
        Sleep {
            timers: self.clone(),
            now,
            deadline,
        }
    }

    /// Wakes every timer due at `now`; returns how many.
    fn fire(&self, now: u64) -> usize {
        let mut due = Vec::new();
        self.0.lock().unwrap().retain(|(at, w)| {
            if *at <= now {
                due.push(w.clone());
                false
            } else {
                true
            }
        });
        let n = due.len();
        due.into_iter().for_each(Waker::wake);
        n
    }
}

struct Sleep {
    timers: Timers,
    now: Arc<AtomicU64>,
    deadline: u64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.now.load(Ordering::SeqCst) >= self.deadline {
            return Poll::Ready(());
        }
        self.timers
            .0
            .lock()
            .unwrap()
            .push((self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

#[test]
fn a_host_loop_drives_the_core_single_threaded() {
    let sched = Scheduler::new(LoopHost::default(), Config::new(1)).unwrap();
    let timers = Timers::default();
    let now = Arc::new(AtomicU64::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));

    // Three sleepers at different priorities and deadlines, and a parent
    // that spawns children from inside the loop.
    let mut handles = Vec::new();
    for (i, (p, at)) in [
        (Priority::Low, 3),
        (Priority::High, 1),
        (Priority::Normal, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let (t, n, l) = (timers.clone(), now.clone(), log.clone());
        handles.push(sched.spawn(
            async move {
                t.sleep_until(n, at).await;
                l.lock().unwrap().push(format!("sleeper{i}@{at}"));
                i
            },
            p,
        ));
    }
    let inner = sched.clone();
    let parent = sched.spawn(
        async move {
            let kids: Vec<_> = (0..5u32)
                .map(|k| inner.spawn(async move { k * k }, Priority::Low))
                .collect();
            let mut sum = 0;
            for k in kids {
                sum += k.await.unwrap();
            }
            sum
        },
        Priority::Normal,
    );

    let mut runs = 0;
    loop {
        runs += 1;
        sched.platform().wake_flag.store(false, Ordering::SeqCst);
        sched.run_until_idle(0);
        if handles.iter().all(|h| h.is_finished()) && parent.is_finished() {
            break;
        }
        // The host's "timer interrupt": advance the clock, fire due timers.
        let t = now.fetch_add(1, Ordering::SeqCst) + 1;
        sched.platform().ticks.store(t, Ordering::SeqCst);
        let fired = timers.fire(t);
        if fired > 0 {
            assert!(
                sched.platform().wake_flag.load(Ordering::SeqCst),
                "a wake after run_until_idle must unpark the host"
            );
        }
        assert!(runs < 100, "the host loop did not converge");
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["sleeper1@1", "sleeper2@2", "sleeper0@3"]
    );
    // Results come out through the handles; poll them with a no-op waker.
    let mut cx = Context::from_waker(Waker::noop());
    let mut parent = parent;
    match Pin::new(&mut parent).poll(&mut cx) {
        Poll::Ready(Ok(sum)) => assert_eq!(sum, 30),
        other => panic!("parent not done: {other:?}"),
    }
    let m = sched.metrics();
    assert_eq!(m.total().submitted, 9);
    assert_eq!(m.total().completed, 9);
    assert_eq!(m.live, 0);

    // A task parked on a waker nobody will fire is cancelled at shutdown.
    let drops = DropCount::new();
    let (t, n) = (timers.clone(), now.clone());
    let stuck = sched.spawn(drops.wrap(t.sleep_until(n, u64::MAX)), Priority::Low);
    sched.run_until_idle(0);
    assert!(!stuck.is_finished());
    sched.shutdown();
    assert!(sched.is_terminated());
    assert_eq!(drops.get(), 1);
    assert!(stuck.is_finished());
    assert!(
        sched
            .try_spawn(async {}, Priority::High)
            .unwrap_err()
            .is_shutdown()
    );
    // Firing the dead timer's waker after shutdown is harmless.
    timers.fire(u64::MAX);
}

/// The core's own timers on a `run_until_idle` host: the host asks
/// `next_timer_deadline` when to run again, jumps its clock there, and the
/// next run fires the timers (in deadline order, never early) and runs the
/// tasks they woke. A dropped timer leaves nothing armed.
#[test]
fn core_timers_drive_a_run_until_idle_host() {
    let sched = Scheduler::new(LoopHost::default(), Config::new(1)).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    // Deadlines in nanoseconds; the clock ticks in microseconds.
    for (name, at) in [("c", 30_500u64), ("a", 10_000), ("b", 20_001)] {
        let (log, s) = (log.clone(), sched.clone());
        let timer = sched.sleep_until(at);
        drop(sched.spawn(
            async move {
                timer.await;
                let now = s.platform().now_nanos();
                assert!(now >= at, "{name} fired at {now}, before {at}");
                log.lock().unwrap().push(name);
            },
            Priority::Normal,
        ));
    }
    // A timer that is armed, then dropped with its task.
    let forgotten = {
        let timer = sched.sleep_until(5_000);
        sched.spawn(timer, Priority::Low)
    };
    sched.run_until_idle(0);
    assert_eq!(sched.armed_timers(), 4);
    forgotten.abort();
    sched.run_until_idle(0);
    assert_eq!(sched.armed_timers(), 3);

    let mut wakeups = 0;
    while let Some(deadline) = sched.next_timer_deadline() {
        wakeups += 1;
        assert!(wakeups < 50, "the host loop did not converge");
        let host = sched.platform();
        let ticks = deadline.div_ceil(1_000);
        assert!(
            ticks >= host.ticks.load(Ordering::SeqCst),
            "deadline in the past"
        );
        host.ticks.store(ticks, Ordering::SeqCst);
        sched.run_until_idle(0);
    }
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c"]);
    assert_eq!(sched.armed_timers(), 0);
    assert_eq!(sched.live_tasks(), 0);
    sched.shutdown();
}
