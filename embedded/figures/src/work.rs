//! The workloads, written once as plain futures and run unchanged by both
//! executors. Only the glue differs: how a task is spawned and how the
//! end of a scenario is signalled.

use crate::board;
use crate::measure::{self, Acc};
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};
use core::task::{Context, Poll};

/// Set when the measured task has finished: the other tasks of the
/// scenario then finish at their next poll.
pub static DONE: AtomicBool = AtomicBool::new(false);
/// Set by the woken task when it waits for the next busy-case interrupt.
pub static REQUEST: AtomicBool = AtomicBool::new(false);
/// The wake-to-poll spans.
pub static WAKE: Acc = Acc::new();

/// How the woken task's interrupt is raised.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A one-shot timer fires while the executor sleeps in WFI.
    Idle,
    /// The [`Pender`] task raises the soft interrupt at the end of a poll.
    Busy,
}

/// Instructions from arming the one-shot timer to its interrupt.
const IDLE_DELAY: u32 = 20_000;

/// Resets the shared state before a scenario.
pub fn reset() {
    DONE.store(false, Relaxed);
    REQUEST.store(false, Relaxed);
    WAKE.reset();
    measure::unregister();
}

/// The task an interrupt handler wakes, `reps` times. Its poll reads the
/// clock first, so a span runs from the handler's clock read just before
/// `wake_by_ref` to here.
pub struct Woken<D: FnMut()> {
    reps: u32,
    registered: bool,
    trigger: Trigger,
    on_done: D,
}

impl<D: FnMut()> Woken<D> {
    /// `reps` wake-ups raised by `trigger`; `on_done` runs after the last.
    pub fn new(reps: u32, trigger: Trigger, on_done: D) -> Self {
        Woken {
            reps,
            registered: false,
            trigger,
            on_done,
        }
    }
}

impl<D: FnMut()> Future for Woken<D> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let r1 = board::retired();
        let t1 = board::ticks();
        // SAFETY: no field is structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.registered {
            WAKE.end(t1, r1);
            if WAKE.count() == this.reps {
                measure::unregister();
                DONE.store(true, Relaxed);
                (this.on_done)();
                return Poll::Ready(());
            }
        } else {
            measure::register(cx.waker());
            this.registered = true;
        }
        match this.trigger {
            Trigger::Idle => board::arm_oneshot(IDLE_DELAY),
            Trigger::Busy => REQUEST.store(true, Relaxed),
        }
        Poll::Pending
    }
}

/// A task that yields at every poll and, when the woken task waits,
/// raises the soft interrupt as the last thing its poll does.
pub struct Pender;

impl Future for Pender {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if DONE.load(Relaxed) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        if REQUEST.swap(false, Relaxed) {
            board::pend_soft_irq();
        }
        Poll::Pending
    }
}

/// Queued work: a task that yields at every poll until the scenario ends.
pub struct Spinner;

impl Future for Spinner {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if DONE.load(Relaxed) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The trivial task of the spawn-run-complete cycle.
pub struct Trivial;

impl Future for Trivial {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        TRIVIAL_RUNS.store(TRIVIAL_RUNS.load(Relaxed) + 1, Relaxed);
        Poll::Ready(())
    }
}

/// Polls of [`Trivial`] tasks.
pub static TRIVIAL_RUNS: AtomicU32 = AtomicU32::new(0);

/// Spawns a [`Trivial`] task on the executor under test.
pub trait SpawnTrivial {
    /// Spawns one; false if it was refused.
    fn spawn_trivial(&mut self) -> bool;
}

/// Clock ticks of the yield-only and the spawn-and-yield phases.
pub static CYCLE_TICKS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
/// Spawns refused during the cycle.
pub static SPAWN_FAILURES: AtomicU32 = AtomicU32::new(0);

/// A task that yields `iters` times (phase 0), then yields and spawns a
/// [`Trivial`] task `iters` times (phase 1), timing each phase. The
/// difference per iteration is one spawn-run-complete cycle.
pub struct Driver<S: SpawnTrivial, D: FnMut()> {
    spawner: S,
    iters: u32,
    i: u32,
    phase: usize,
    t_start: u32,
    on_done: D,
}

impl<S: SpawnTrivial, D: FnMut()> Driver<S, D> {
    /// A driver of `iters` iterations per phase.
    pub fn new(spawner: S, iters: u32, on_done: D) -> Self {
        Driver {
            spawner,
            iters,
            i: 0,
            phase: 0,
            t_start: 0,
            on_done,
        }
    }
}

impl<S: SpawnTrivial, D: FnMut()> Future for Driver<S, D> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: no field is structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.i == 0 {
            this.t_start = board::ticks();
        }
        if this.i == this.iters {
            CYCLE_TICKS[this.phase].store(board::ticks().wrapping_sub(this.t_start), Relaxed);
            this.i = 0;
            this.phase += 1;
            if this.phase == 2 {
                (this.on_done)();
                return Poll::Ready(());
            }
            this.t_start = board::ticks();
        }
        this.i += 1;
        // Wake first, then spawn: embassy polls its run queue newest
        // first, so this order runs the child before the driver again on
        // both executors.
        cx.waker().wake_by_ref();
        if this.phase == 1 && !this.spawner.spawn_trivial() {
            SPAWN_FAILURES.store(SPAWN_FAILURES.load(Relaxed) + 1, Relaxed);
        }
        Poll::Pending
    }
}

/// A task whose future holds 16 bytes and never finishes; its first poll
/// records where the executor put it (the waker's data pointer).
pub struct Sixteen {
    _payload: [u32; 4],
}

impl Sixteen {
    /// A new one.
    pub const fn new() -> Self {
        Sixteen { _payload: [0; 4] }
    }
}

impl Default for Sixteen {
    fn default() -> Self {
        Sixteen::new()
    }
}

/// The lowest and highest task addresses seen by [`Sixteen`] polls.
pub static SIXTEEN_LOW: AtomicUsize = AtomicUsize::new(usize::MAX);
/// See [`SIXTEEN_LOW`].
pub static SIXTEEN_HIGH: AtomicUsize = AtomicUsize::new(0);
/// Polls of [`Sixteen`] tasks.
pub static SIXTEEN_POLLS: AtomicU32 = AtomicU32::new(0);

impl Future for Sixteen {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = cx.waker().data() as usize;
        SIXTEEN_LOW.store(SIXTEEN_LOW.load(Relaxed).min(at), Relaxed);
        SIXTEEN_HIGH.store(SIXTEEN_HIGH.load(Relaxed).max(at), Relaxed);
        SIXTEEN_POLLS.store(SIXTEEN_POLLS.load(Relaxed) + 1, Relaxed);
        Poll::Pending
    }
}

const _: () = assert!(core::mem::size_of::<Sixteen>() == 16);
