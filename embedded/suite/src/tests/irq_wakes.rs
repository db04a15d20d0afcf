//! Wakes from an interrupt handler: a periodic timer interrupt (on every
//! core) wakes a task, which waits fifty times for an interrupt it has not
//! seen yet. Between interrupts the workers have nothing to do and park, so
//! the wakes must also unpark them from the handler; a lost wake leaves the
//! task waiting for good (the run's timeout). Interrupts that come in a
//! burst (QEMU's RISC-V machine runs in real time: a busy host delays its
//! timer, which then catches up) coalesce, so a wait may also end at its
//! first poll; the test asks that many did not.

use crate::util::{check, parks_and_unparks, run_root};
use crate::{Board, Failure, irq};
use atomic_waker::AtomicWaker;
use core::task::Poll;
use echo_sched_core::Config;
use portable_atomic::{AtomicU32, Ordering};

const ROUNDS: u32 = 50;
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
        let (mut polls, mut waited) = (0u32, 0u32);
        B::start_periodic_interrupt(PERIOD_NANOS);
        for _ in 0..ROUNDS {
            let seen = FIRED.load(Ordering::SeqCst);
            let mut first = true;
            core::future::poll_fn(|cx| {
                polls += 1;
                WAITER.register(cx.waker());
                if FIRED.load(Ordering::SeqCst) > seen {
                    return Poll::Ready(());
                }
                // Pending at its first poll: only a wake ends this wait.
                waited += u32::from(first);
                first = false;
                Poll::Pending
            })
            .await;
        }
        B::stop_periodic_interrupt();
        // The waker registered last would keep the task, and through it
        // the scheduler, alive.
        drop(WAITER.take());
        let after = parks_and_unparks::<B>(&s);
        let (parks, unparks) = (after.0 - before.0, after.1 - before.1);
        let fired = FIRED.load(Ordering::SeqCst);
        check!(
            waited > 10,
            "only {waited} of {ROUNDS} waits had to be woken ({fired} interrupts, {polls} polls)"
        );
        check!(
            parks > 10 && unparks > 10,
            "over {fired} interrupts the workers parked {parks} and were unparked {unparks} times"
        );
        crate::println!(
            "  {fired} interrupts every {} us: {waited} of {ROUNDS} waits woken, \
             task polled {polls} times; workers parked {parks} times, unparked {unparks} times",
            PERIOD_NANOS / 1000
        );
        Ok(())
    })
}
