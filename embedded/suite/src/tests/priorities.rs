//! A High task woken from an interrupt handler runs before Normal work
//! already queued on the same worker, and how long that takes: from the
//! handler's wake to the first instruction of the task's poll.
//!
//! One worker (the guarantee is per worker). Each round, the driver (a
//! Normal task) queues four Normal tasks, raises the software interrupt
//! and yields; the handler stamps the clock and wakes the High task; the
//! High task stamps the clock as its poll begins and checks that none of
//! the round's Normal tasks ran first. Under `-icount shift=0` one
//! nanosecond of the virtual clock is one instruction; the clock ticks
//! coarser than that, so the driver varies the phase of the interrupt by
//! a few instructions each round and the mean over the rounds is finer
//! than a tick.

use crate::util::{check, run_root, spin, yield_now};
use crate::{Board, Failure, irq};
use atomic_waker::AtomicWaker;
use core::task::Poll;
use echo_sched_core::{Config, Priority};
use portable_atomic::{AtomicU32, Ordering};

const ROUNDS: u32 = 200;
const QUEUED: u32 = 4;

static HIGH: AtomicWaker = AtomicWaker::new();
/// Low 32 bits of the clock when the handler woke the High task.
static IRQ_AT: AtomicU32 = AtomicU32::new(0);
/// Interrupts taken so far.
static IRQS: AtomicU32 = AtomicU32::new(0);
/// Normal tasks that have run, and how many had when the interrupt came.
static NORMAL_RAN: AtomicU32 = AtomicU32::new(0);
static NORMAL_AT_IRQ: AtomicU32 = AtomicU32::new(0);

fn handler<B: Board>() {
    IRQ_AT.store(B::now_nanos() as u32, Ordering::SeqCst);
    IRQS.fetch_add(1, Ordering::SeqCst);
    HIGH.wake();
}

/// What the High task saw over all rounds.
#[derive(Clone, Copy)]
struct Seen {
    wakes: u32,
    late: u32,
    sum: u64,
    min: u32,
    max: u32,
}

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    IRQS.store(0, Ordering::SeqCst);
    NORMAL_RAN.store(0, Ordering::SeqCst);
    irq::set(handler::<B>);
    let seen = run_root::<B, _, _>(Config::new(1), |s| async move {
        let mut seen = Seen {
            wakes: 0,
            late: 0,
            sum: 0,
            min: u32::MAX,
            max: 0,
        };
        let mut handled = 0;
        let high = s.spawn(
            core::future::poll_fn(move |cx| {
                let now = B::now_nanos() as u32; // the poll's first act
                let irqs = IRQS.load(Ordering::SeqCst);
                if irqs != handled {
                    handled = irqs;
                    let latency = now.wrapping_sub(IRQ_AT.load(Ordering::SeqCst));
                    seen.wakes += 1;
                    seen.sum += u64::from(latency);
                    seen.min = seen.min.min(latency);
                    seen.max = seen.max.max(latency);
                    if NORMAL_RAN.load(Ordering::SeqCst) != NORMAL_AT_IRQ.load(Ordering::SeqCst) {
                        seen.late += 1;
                    }
                    if seen.wakes == ROUNDS {
                        return Poll::Ready(seen);
                    }
                }
                HIGH.register(cx.waker());
                Poll::Pending
            }),
            Priority::High,
        );
        yield_now().await; // the High task runs once and registers
        for round in 0..ROUNDS {
            for _ in 0..QUEUED {
                drop(s.spawn(
                    async {
                        NORMAL_RAN.fetch_add(1, Ordering::SeqCst);
                    },
                    Priority::Normal,
                ));
            }
            NORMAL_AT_IRQ.store(NORMAL_RAN.load(Ordering::SeqCst), Ordering::SeqCst);
            spin(round % 37); // moves the interrupt against the clock's ticks
            B::pend_interrupt();
            yield_now().await; // queued behind this round's Normal tasks
        }
        high.await.map_err(|e| alloc::format!("the High task: {e}"))
    })?;
    check!(
        seen.late == 0,
        "{} of {} wakes ran after Normal work queued before them",
        seen.late,
        seen.wakes
    );
    let tenths = seen.sum * 10 / u64::from(seen.wakes);
    crate::println!(
        "  High woken by an interrupt handler, {QUEUED} Normal tasks queued: ran first {}/{}",
        seen.wakes - seen.late,
        seen.wakes
    );
    crate::println!(
        "  wake-to-poll latency: mean {}.{} ns, min {} ns, max {} ns over {} wakes \
         (platform clock; under QEMU's -icount shift=0, 1 ns = 1 instruction)",
        tenths / 10,
        tenths % 10,
        seen.min,
        seen.max,
        seen.wakes
    );
    Ok(())
}
