//! The core's timers on the chip's clock: three `Sleep`s fire in deadline
//! order and never early, and a periodic interval (one `Sleep` reset to
//! the next multiple of its period) keeps its ticks. Nothing else runs
//! meanwhile, so each fire needs the worker that parked until the
//! deadline (`Platform::park_until`) to be woken by the chip's timer.

use crate::util::{check, run_root};
use crate::{Board, Failure};
use alloc::vec::Vec;
use core::cell::Cell;
use core::pin::pin;
use critical_section::Mutex;
use echo_sched_core::{Config, Priority};

const US: u64 = 1_000;
/// A timer may fire later than its deadline by at most what it slept plus
/// this. On a chip the wake comes within microseconds; under QEMU 7.2's
/// `-icount` the virtual clock counts an idle `WFI` of d ns as about 2d
/// (measured: a 44 us one-shot seen 44 us late when the core waits in
/// `WFI`, on time when it spins), so the bound allows the whole sleep.
const SLACK: u64 = 100 * US;
const PERIOD: u64 = 250 * US;
const TICKS: u64 = 8;

/// The order the sleepers woke in, one decimal digit each.
static ORDER: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    critical_section::with(|cs| ORDER.borrow(cs).set(0));
    run_root::<B, _, _>(Config::new(B::CORES), |s| async move {
        let start = B::now_nanos();
        let sleepers: Vec<_> = [(1u32, 300 * US), (2, 100 * US), (3, 200 * US)]
            .into_iter()
            .map(|(id, after)| {
                let deadline = start + after;
                let timer = s.sleep_until(deadline);
                s.spawn(
                    async move {
                        timer.await;
                        let woke = B::now_nanos();
                        critical_section::with(|cs| {
                            let order = ORDER.borrow(cs);
                            order.set(order.get() * 10 + id);
                        });
                        woke as i64 - deadline as i64
                    },
                    Priority::Normal,
                )
            })
            .collect();
        let mut lateness = Vec::new();
        for sleeper in sleepers {
            lateness.push(sleeper.await.map_err(|e| alloc::format!("a sleeper: {e}"))?);
        }
        let order = critical_section::with(|cs| ORDER.borrow(cs).get());
        check!(order == 231, "sleepers woke in the order {order}, not 231");
        for late in &lateness {
            check!(*late >= 0, "a sleeper woke {} ns early", -late);
            check!((*late as u64) < 300 * US + SLACK, "a sleeper woke {late} ns late");
        }
        crate::println!(
            "  Sleep x3 (300, 100, 200 us): woke in deadline order, late by {} / {} / {} ns",
            lateness[0],
            lateness[1],
            lateness[2]
        );

        let parks_before = s.metrics().parks;
        let start = B::now_nanos();
        let mut tick = pin!(s.sleep_until(start + PERIOD));
        let (mut worst, mut sum) = (0u64, 0u64);
        for k in 1..=TICKS {
            tick.as_mut().await;
            let now = B::now_nanos();
            let deadline = start + k * PERIOD;
            check!(now >= deadline, "tick {k} fired {} ns early", deadline - now);
            let late = now - deadline;
            check!(late < PERIOD + SLACK, "tick {k} fired {late} ns late");
            worst = worst.max(late);
            sum += late;
            tick.as_mut().reset(deadline + PERIOD);
        }
        let parks = s.metrics().parks - parks_before;
        check!(
            parks >= TICKS as usize,
            "the worker parked {parks} times over {TICKS} ticks: it did not sleep between them"
        );
        crate::println!(
            "  interval of {} us x{TICKS}: late by {} ns on average, {} ns at worst; \
             the worker parked {parks} times",
            PERIOD / US,
            sum / TICKS,
            worst
        );
        Ok(())
    })
}
