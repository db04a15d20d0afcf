//! Wakes from an "interrupt handler", on the host: a POSIX signal handler
//! runs on the thread it interrupts, as an interrupt handler runs on its
//! core, so it may land anywhere in that thread's code (inside a queue
//! push, inside the allocator) and must never wait for it.
//!
//! echo-core runs on a one-worker `Platform` of this file's own (a futex
//! parker, whose unpark is async-signal-safe). The test thread spawns
//! tasks from outside the pool in a loop, across many injector blocks, and
//! wakes tasks too; another thread interrupts it with a signal every few
//! tens of microseconds, and the handler wakes tasks. It must finish, and
//! lose no wake: every task woken after its last poll is polled again.
//!
//! Before wakes from outside the pool went through the inbox, the handler
//! pushed into crossbeam's `SegQueue`, which allocates: it hung within
//! seconds, the handler waiting for the allocator's lock that the
//! interrupted spawn held. A watchdog turns a hang into a failure.
#![cfg(target_os = "linux")]

use echo_sched_core::{Config, PanicPayload, Platform, Priority, Scheduler};
use futures::task::AtomicWaker;
use std::cell::Cell;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Tasks that the handler and the test thread wake.
const WOKEN_TASKS: usize = 16;
/// Tasks the test thread spawns from outside the pool at least (about a
/// thousand of the injector's 31-entry blocks); it goes on until the
/// handler has run `INTERRUPTS` times.
const SPAWNS: usize = 30_000;
/// Signals handled at least while the test thread spawns.
const INTERRUPTS: u64 = 5_000;
/// How long the whole test may take before the watchdog calls it a hang.
const WATCHDOG: Duration = Duration::from_secs(120);

/// A one-worker host: a futex token to park on, the worker identity in a
/// thread-local, the monotonic clock.
struct FutexHost {
    token: AtomicU32,
}

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned u32; spurious returns are fine.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

// SAFETY: `current_worker` reads a thread-local that `set_current_worker`
// writes on the same thread, so it answers for the calling thread only;
// a signal handler sees the interrupted thread's value, which is `None`
// on the test thread (it never runs a worker).
unsafe impl Platform for FutexHost {
    fn park(&self, _worker: usize) {
        while self.token.swap(0, Ordering::SeqCst) == 0 {
            futex_wait(&self.token, 0);
        }
    }
    fn unpark(&self, _worker: usize) {
        // Async-signal-safe: an atomic store and a system call.
        self.token.store(1, Ordering::SeqCst);
        futex_wake(&self.token);
    }
    fn now_nanos(&self) -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
    fn random_seed(&self) -> u64 {
        7
    }
    fn current_worker(&self) -> Option<usize> {
        WORKER.with(Cell::get)
    }
    fn set_current_worker(&self, worker: Option<usize>) {
        WORKER.with(|w| w.set(worker));
    }
    fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    }
}

/// One task that is woken from outside the pool.
#[derive(Default)]
struct Slot {
    waker: AtomicWaker,
    /// Wakes sent: a waker counts, then wakes.
    woken: AtomicU64,
    /// The `woken` count the task's latest poll saw.
    seen: AtomicU64,
    polls: AtomicU64,
}

impl Slot {
    /// Lock-free and allocation-free (`AtomicWaker::wake` never waits for
    /// a concurrent register or wake): fit for a signal handler.
    fn wake(&self) {
        self.woken.fetch_add(1, Ordering::SeqCst);
        self.waker.wake();
    }
}

#[derive(Default)]
struct Storm {
    slots: [Slot; WOKEN_TASKS],
    /// Signals handled.
    interrupts: AtomicU64,
}

/// The handler's view of the storm (set while the signals fly).
static STORM: AtomicPtr<Storm> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_signal(_: libc::c_int) {
    let storm = STORM.load(Ordering::SeqCst);
    if storm.is_null() {
        return;
    }
    // SAFETY: the storm outlives the time the pointer is set.
    let storm = unsafe { &*storm };
    let n = storm.interrupts.fetch_add(1, Ordering::SeqCst) as usize;
    // Two wakes per interrupt, round robin.
    storm.slots[(2 * n) % WOKEN_TASKS].wake();
    storm.slots[(2 * n + 1) % WOKEN_TASKS].wake();
}

/// The calling thread's pthread id, as a plain integer to send across.
fn this_thread() -> libc::pthread_t {
    // SAFETY: always safe.
    unsafe { libc::pthread_self() }
}

#[test]
fn wakes_from_a_signal_handler_during_outside_spawns_finish_and_lose_nothing() {
    let done = Arc::new(AtomicBool::new(false));
    {
        let done = done.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < WATCHDOG {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!(
                "wakes from the signal handler hung for {WATCHDOG:?}: an interrupt's wake \
                 waited for the code it interrupted"
            );
            std::process::abort();
        });
    }

    let scheduler = Scheduler::new(
        FutexHost {
            token: AtomicU32::new(0),
        },
        Config::new(1),
    )
    .expect("one worker is a valid configuration");
    let worker = {
        let s = scheduler.clone();
        std::thread::spawn(move || s.run_worker(0))
    };

    let storm: &'static Storm = Box::leak(Box::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for slot in &storm.slots {
        let stop = stop.clone();
        handles.push(scheduler.spawn(
            poll_fn(move |cx| {
                slot.polls.fetch_add(1, Ordering::SeqCst);
                slot.waker.register(cx.waker());
                slot.seen
                    .store(slot.woken.load(Ordering::SeqCst), Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
            Priority::High,
        ));
    }

    // SAFETY: installs a handler that only touches atomics, the storm's
    // wakers and the scheduler's wake path (the code under test).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
    STORM.store(std::ptr::from_ref(storm).cast_mut(), Ordering::SeqCst);

    let target = this_thread();
    let firing = Arc::new(AtomicBool::new(true));
    let interrupter = {
        let firing = firing.clone();
        std::thread::spawn(move || {
            // The default 50 µs of timer slack would stretch each pause.
            // SAFETY: prctl on the calling thread; failure only slows it.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
            while firing.load(Ordering::SeqCst) {
                // SAFETY: the target thread outlives the storm (it joins
                // this thread before returning).
                unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    };

    // The interrupted thread: spawns from outside the pool, and wakes.
    let ran = Arc::new(AtomicUsize::new(0));
    let mut spawned = Vec::with_capacity(SPAWNS);
    let mut i = 0;
    while i < SPAWNS || storm.interrupts.load(Ordering::Relaxed) < INTERRUPTS {
        i += 1;
        let ran = ran.clone();
        let priority = if i % 3 == 0 {
            Priority::Low
        } else {
            Priority::Normal
        };
        spawned.push(scheduler.spawn(
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
            },
            priority,
        ));
        if i % 8 == 0 {
            storm.slots[i % WOKEN_TASKS].wake();
        }
        if spawned.len() == 4 * SPAWNS {
            // Keep the handles' memory bounded on a slow machine.
            spawned.retain(|h: &echo_sched_core::JoinHandle<()>| !h.is_finished());
        }
    }
    let spawns = i;

    firing.store(false, Ordering::SeqCst);
    interrupter.join().unwrap();
    STORM.store(std::ptr::null_mut(), Ordering::SeqCst);
    let interrupts = storm.interrupts.load(Ordering::SeqCst);
    assert!(interrupts >= INTERRUPTS);

    // No lost wake: each task's latest poll saw its latest wake.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let behind: Vec<(usize, u64, u64)> = storm
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    i,
                    s.woken.load(Ordering::SeqCst),
                    s.seen.load(Ordering::SeqCst),
                )
            })
            .filter(|&(_, woken, seen)| seen != woken)
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tasks woken after their last poll were never polled again \
             (slot, wakes, wakes seen): {behind:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while ran.load(Ordering::SeqCst) < spawns {
        assert!(
            Instant::now() < deadline,
            "{} of {spawns} spawned tasks ran",
            ran.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(spawned.iter().all(|h| h.is_finished()));

    stop.store(true, Ordering::SeqCst);
    for slot in &storm.slots {
        slot.wake();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !handles.iter().all(|h| h.is_finished()) {
        assert!(Instant::now() < deadline, "the woken tasks did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let polls: u64 = storm
        .slots
        .iter()
        .map(|s| s.polls.load(Ordering::SeqCst))
        .sum();
    eprintln!("{interrupts} interrupts, {spawns} outside spawns, {polls} polls of the woken tasks");
    // The finished tasks' last wakers stay registered in the slots; they
    // hold the tasks, and so the scheduler's pages (a leak to LeakSanitizer).
    for slot in &storm.slots {
        drop(slot.waker.take());
    }
    drop(handles);
    drop(spawned);
    scheduler.shutdown();
    worker.join().unwrap();
    // SAFETY: the storm came from `Box::leak` above; the handler no longer
    // reads it (STORM is null, and a handler runs on this thread, so none
    // is midway), and every task that borrowed a slot has finished and
    // dropped its future.
    drop(unsafe { Box::from_raw(std::ptr::from_ref(storm).cast_mut()) });
    done.store(true, Ordering::SeqCst);
}
