//! The interrupt storm: a timer interrupt at a high rate whose handler
//! wakes tasks, while the main context spawns and wakes tasks in a loop,
//! thousands of pushes into the shared queues (once a `SegQueue` injector,
//! which took a new block every 31 entries and hung here; now the inbox).
//! It must finish and lose no wake.
//!
//! Each task has a slot: its waker, how many times it was woken (counted
//! by the waker's taker just before it wakes, in the handler or the main
//! context) and how many wakes its last poll had seen. A poll registers
//! the waker, then reads the count. Once the interrupt is stopped and
//! every task is told to finish and woken a last time, each task must
//! complete; one that does not, with more wakes than its last poll saw,
//! lost a wake.
//!
//! A wake path that waits for the code it interrupted (a spinning
//! injector push, a lock held by the interrupted worker) hangs the core
//! here: the run script's timeout ends it and prints where the core was.

use crate::util::{check, run_root, yield_now};
use crate::{Board, Failure, irq};
use alloc::boxed::Box;
use alloc::vec::Vec;
use atomic_waker::AtomicWaker;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use echo_sched_core::{Config, Priority};
use portable_atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// Interrupt periods, in nanoseconds of the platform clock, one round
/// each. A hang needs the interrupt to land in a window of a few
/// instructions of the interrupted push; short periods that differ from
/// round to round move it across the main context's code.
const PERIODS_NANOS: [u32; 4] = [2_000, 2_440, 3_080, 4_160];
/// Tasks each interrupt tries to wake.
const WAKES_PER_IRQ: usize = 2;
/// Rounds of wakes from the main context after the spawns.
const ROUNDS: usize = 4;

struct Slot {
    waker: AtomicWaker,
    /// Wakes delivered: incremented by whoever took the waker, before it
    /// wakes the task.
    woken: AtomicU32,
    /// `woken` as the task's last poll read it, after registering.
    seen: AtomicU32,
    polls: AtomicU32,
    done: AtomicBool,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            waker: AtomicWaker::new(),
            woken: AtomicU32::new(0),
            seen: AtomicU32::new(0),
            polls: AtomicU32::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// Wakes the slot's task if its waker is registered; counts the wake
    /// first, so the poll it causes sees it.
    fn wake(&self) -> bool {
        match self.waker.take() {
            Some(waker) => {
                self.woken.fetch_add(1, Ordering::SeqCst);
                waker.wake();
                true
            }
            None => false,
        }
    }
}

/// The slots, for the handler: set while the test runs, null otherwise.
static SLOTS: AtomicPtr<Slot> = AtomicPtr::new(core::ptr::null_mut());
/// Slots with a task spawned: the handler wakes only those.
static SPAWNED: AtomicUsize = AtomicUsize::new(0);
static CURSOR: AtomicUsize = AtomicUsize::new(0);
static IRQS: AtomicU32 = AtomicU32::new(0);
static IRQ_WAKES: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static DONE: AtomicU32 = AtomicU32::new(0);

/// The slots while the test holds them.
#[derive(Clone, Copy)]
struct Slots(*const Slot, usize);

// SAFETY: the slots are shared on purpose (atomics and `AtomicWaker`
// only); the test frees them only after every task and handler is done.
unsafe impl Send for Slots {}
// SAFETY: as for `Send`: every access goes through atomics.
unsafe impl Sync for Slots {}

impl Slots {
    fn get(&self, i: usize) -> &Slot {
        assert!(i < self.1);
        // SAFETY: in bounds, and alive while the test runs (see `Send`).
        unsafe { &*self.0.add(i) }
    }
}

fn handler() {
    IRQS.fetch_add(1, Ordering::Relaxed);
    let base = SLOTS.load(Ordering::Acquire);
    let spawned = SPAWNED.load(Ordering::Acquire);
    if base.is_null() || spawned == 0 {
        return;
    }
    let slots = Slots(base, spawned);
    for _ in 0..WAKES_PER_IRQ {
        // Two cores may race on the cursor: a skipped or repeated slot is
        // harmless, every wake is counted where it is delivered.
        let c = CURSOR.load(Ordering::Relaxed);
        CURSOR.store(c.wrapping_add(1), Ordering::Relaxed);
        if slots.get(c % spawned).wake() {
            IRQ_WAKES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct StormTask {
    slots: Slots,
    index: usize,
}

impl Future for StormTask {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let slot = self.slots.get(self.index);
        slot.polls.fetch_add(1, Ordering::Relaxed);
        slot.waker.register(cx.waker());
        slot.seen
            .store(slot.woken.load(Ordering::SeqCst), Ordering::SeqCst);
        if STOP.load(Ordering::SeqCst) {
            drop(slot.waker.take());
            slot.done.store(true, Ordering::SeqCst);
            DONE.fetch_add(1, Ordering::SeqCst);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// What the main context did.
struct Totals {
    high_spawns: u32,
    main_wakes: u32,
    main_high_wakes: u32,
}

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    for period in PERIODS_NANOS {
        round::<B>(period * B::STORM_PERIOD_SCALE)?;
    }
    Ok(())
}

fn round<B: Board>(period: u32) -> Result<(), Failure> {
    let n = B::STORM_TASKS;
    let owned: Box<[Slot]> = (0..n).map(|_| Slot::new()).collect();
    let slots = Slots(owned.as_ptr(), n);
    for (word, value) in [(&IRQS, 0), (&IRQ_WAKES, 0), (&DONE, 0)] {
        word.store(value, Ordering::SeqCst);
    }
    STOP.store(false, Ordering::SeqCst);
    SPAWNED.store(0, Ordering::SeqCst);
    SLOTS.store(owned.as_ptr() as *mut Slot, Ordering::Release);
    irq::set(handler);

    let result = run_root::<B, _, _>(Config::new(B::CORES), move |s| async move {
        B::start_periodic_interrupt(period);
        let tier = |i: usize| {
            if i % 8 == 7 {
                Priority::Normal
            } else {
                Priority::High
            }
        };
        let mut totals = Totals {
            high_spawns: 0,
            main_wakes: 0,
            main_high_wakes: 0,
        };
        let wake_from_main = |i: usize, totals: &mut Totals| {
            if slots.get(i).wake() {
                totals.main_wakes += 1;
                if tier(i) == Priority::High {
                    totals.main_high_wakes += 1;
                }
            }
        };
        for i in 0..n {
            match s.try_spawn(StormTask { slots, index: i }, tier(i)) {
                Ok(handle) => drop(handle),
                Err(e) => {
                    // Stop the other tasks before leaving: they borrow
                    // the slots.
                    B::stop_periodic_interrupt();
                    STOP.store(true, Ordering::SeqCst);
                    for j in 0..i {
                        slots.get(j).wake();
                    }
                    return Err(alloc::format!(
                        "spawn {i} of {n} refused ({:?}): STORM_TASKS is too many for this board",
                        e.reason()
                    ));
                }
            }
            if tier(i) == Priority::High {
                totals.high_spawns += 1;
            }
            SPAWNED.store(i + 1, Ordering::Release);
            wake_from_main((i * 7 + 3) % (i + 1), &mut totals);
            wake_from_main((i * 13 + 1) % (i + 1), &mut totals);
            if i % 8 == 7 {
                yield_now().await;
            }
        }
        for _ in 0..ROUNDS {
            for i in 0..n {
                wake_from_main(i, &mut totals);
                if i % 8 == 7 {
                    yield_now().await;
                }
            }
        }
        B::stop_periodic_interrupt();
        STOP.store(true, Ordering::SeqCst);
        for i in 0..n {
            slots.get(i).wake();
        }
        // Every task has a wake in flight now; give them time to finish.
        let mut waited = 0;
        while (DONE.load(Ordering::SeqCst) as usize) < n && waited < 64 * n {
            yield_now().await;
            waited += 1;
        }
        Ok(totals)
    });
    irq::clear();
    SLOTS.store(core::ptr::null_mut(), Ordering::Release);
    let totals = result?;

    let mut lost = Vec::new();
    let mut unfinished = 0;
    let (mut woken, mut polls) = (0u32, 0u32);
    for (i, slot) in owned.iter().enumerate() {
        let (w, seen) = (
            slot.woken.load(Ordering::SeqCst),
            slot.seen.load(Ordering::SeqCst),
        );
        woken += w;
        polls += slot.polls.load(Ordering::SeqCst);
        if !slot.done.load(Ordering::SeqCst) {
            unfinished += 1;
            if w > seen && lost.len() < 8 {
                lost.push((i, w, seen));
            }
        }
    }
    let irq_wakes = IRQ_WAKES.load(Ordering::SeqCst);
    crate::println!(
        "  interrupt every {period} ns: {n} tasks; {} interrupts woke tasks {irq_wakes} times; \
         the main context spawned {n} and woke {} times",
        IRQS.load(Ordering::SeqCst),
        totals.main_wakes
    );
    let pushes = totals.high_spawns + totals.main_high_wakes + irq_wakes;
    crate::println!(
        "  about {pushes} spawns and wakes into shared queues; {woken} wakes, {polls} polls"
    );
    for (i, w, seen) in &lost {
        crate::println!("  task {i}: woken {w} times, its last poll saw {seen}: a wake was lost");
    }
    check!(
        unfinished == 0,
        "{unfinished} of {n} tasks never finished ({} of them with a lost wake)",
        lost.len()
    );
    check!(irq_wakes > 0, "the interrupt handler woke nothing");
    drop(owned);
    Ok(())
}
