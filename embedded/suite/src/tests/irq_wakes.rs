//! Wakes from an interrupt handler: a periodic timer interrupt (on every
//! core) wakes a task until it has counted a hundred interrupts. Between
//! interrupts the workers have nothing to do and park, so the wakes must
//! also unpark them from the handler; a lost wake leaves the task waiting
//! for good (the run's timeout). Wakes that find the task already queued
//! coalesce, so polls can be fewer than interrupts.

use crate::util::{check, parks_and_unparks, run_root};
use crate::{Board, Failure, irq};
use atomic_waker::AtomicWaker;
use core::task::Poll;
use echo_sched_core::Config;
use portable_atomic::{AtomicU32, Ordering};

const WAKES: u32 = 100;
const PERIOD_NANOS: u32 = 40_000;

static WAITER: AtomicWaker = AtomicWaker::new();
static FIRED: AtomicU32 = AtomicU32::new(0);

fn handler() {
    FIRED.fetch_add(1, Ordering::SeqCst);
    WAITER.wake();
}

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    FIRED.store(0, Ordering::SeqCst);
    irq::set(handler);
    run_root::<B, _, _>(Config::new(B::CORES), |s| async move {
        let before = parks_and_unparks::<B>(&s);
        let mut polls = 0u32;
        B::start_periodic_interrupt(PERIOD_NANOS);
        core::future::poll_fn(|cx| {
            polls += 1;
            WAITER.register(cx.waker());
            if FIRED.load(Ordering::SeqCst) >= WAKES {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        B::stop_periodic_interrupt();
        // The waker registered last would keep the task, and through it
        // the scheduler, alive.
        drop(WAITER.take());
        let after = parks_and_unparks::<B>(&s);
        let (parks, unparks) = (after.0 - before.0, after.1 - before.1);
        check!(polls > 10, "{WAKES} interrupts but only {polls} polls");
        check!(
            parks > 10 && unparks > 10,
            "over {WAKES} interrupts the workers parked {parks} and were unparked {unparks} times"
        );
        crate::println!(
            "  {WAKES} interrupts every {} us: task polled {polls} times; \
             workers parked {parks} times, unparked {unparks} times",
            PERIOD_NANOS / 1000
        );
        Ok(())
    })
}
