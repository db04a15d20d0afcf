//! The core's timers on the chip's clock: three `Sleep`s fire in deadline
//! order and never early, and a periodic interval (one `Sleep` reset to
//! the next multiple of its period) keeps its ticks. Nothing else runs
//! meanwhile, so each fire needs the worker that parked until the
//! deadline (`Platform::park_until`) to be woken by the chip's timer.

use crate::util::{check, parks_and_unparks, run_root};
use crate::{Board, Failure};
use alloc::vec::Vec;
use core::pin::pin;
use echo_sched_core::{Config, Priority};

const US: u64 = 1_000;
/// A timer may fire later than its deadline by at most what it slept plus
/// this. On a chip the wake comes within microseconds. Under QEMU 7.2's
/// `-icount` the virtual clock counts an idle `WFI` of d ns as about 2d
/// (measured: a 44 us one-shot seen 44 us late when the core waits in
/// `WFI`, on time when it spins), so the bound allows the whole sleep;
/// without `-icount` (the RISC-V run) the host's own timer lateness adds
/// up to milliseconds. A `park_until` that ignored its deadline would not
/// be late but hang: nothing else wakes the worker here.
const SLACK: u64 = 5_000 * US;
const PERIOD: u64 = 250 * US;
const TICKS: u64 = 8;

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    run_root::<B, _, _>(Config::new(B::CORES), |s| async move {
        let start = B::now_nanos();
        let sleepers: Vec<_> = [300 * US, 100 * US, 200 * US]
            .into_iter()
            .map(|after| {
                let deadline = start + after;
                let timer = s.sleep_until(deadline);
                s.spawn(
                    async move {
                        timer.await;
                        (deadline, B::now_nanos())
                    },
                    Priority::Normal,
                )
            })
            .collect();
        let mut woke = Vec::new();
        for sleeper in sleepers {
            woke.push(
                sleeper
                    .await
                    .map_err(|e| alloc::format!("a sleeper: {e}"))?,
            );
        }
        for &(deadline, at) in &woke {
            check!(at >= deadline, "a sleeper woke {} ns early", deadline - at);
            check!(
                at - deadline < 300 * US + SLACK,
                "a sleeper woke {} ns late",
                at - deadline
            );
        }
        // Deadline order: a timer woke after a later one only if that one
        // was due too (both fired in the same pass).
        for &(d1, at1) in &woke {
            for &(d2, at2) in &woke {
                check!(
                    !(d1 < d2 && at1 > at2 && at1 < d2),
                    "the timer due at {d2} fired before the one due at {d1}"
                );
            }
        }
        let lateness: Vec<u64> = woke.iter().map(|&(d, at)| at - d).collect();
        crate::println!(
            "  Sleep x3 (300, 100, 200 us): none early, in deadline order, late by {} / {} / {} ns",
            lateness[0],
            lateness[1],
            lateness[2]
        );

        let parks_before = parks_and_unparks::<B>(&s).0;
        let start = B::now_nanos();
        let mut tick = pin!(s.sleep_until(start + PERIOD));
        let (mut worst, mut sum) = (0u64, 0u64);
        for k in 1..=TICKS {
            tick.as_mut().await;
            let now = B::now_nanos();
            let deadline = start + k * PERIOD;
            check!(
                now >= deadline,
                "tick {k} fired {} ns early",
                deadline - now
            );
            let late = now - deadline;
            check!(late < PERIOD + SLACK, "tick {k} fired {late} ns late");
            worst = worst.max(late);
            sum += late;
            tick.as_mut().reset(deadline + PERIOD);
        }
        let parks = parks_and_unparks::<B>(&s).0 - parks_before;
        // A tick already due when the last one ran needs no park, so on a
        // slow host (no -icount) there can be fewer parks than ticks.
        check!(parks > 0, "the worker never parked over {TICKS} ticks");
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
