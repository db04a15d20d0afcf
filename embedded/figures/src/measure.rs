//! The measurement method.
//!
//! Under `-icount shift=0` QEMU advances its virtual clock by exactly 1 ns
//! per instruction, and the board's clock counts that virtual time: one
//! tick is `T` instructions (40 on the AN385, 100 on `virt`). A span of `D`
//! instructions read as a difference of two clock reads is `floor` of
//! `D / T` or one more, depending on where the first read falls between
//! two ticks (its *phase*). If the phase is uniform over the `T` positions,
//! the mean number of ticks is exactly `D / T`. So every measured span is
//! preceded by a delay of `3k` instructions with `k` drawn uniformly from
//! `0..T` (3 is coprime with 40 and 100, so `3k mod T` is uniform too), and
//! the figure is the mean over many repetitions times `T`, less the cost
//! of the clock read itself (`read_overhead`). `calibrate` checks `T`
//! against a loop of a known length, and measures known instruction
//! sequences with the same method. On RISC-V, QEMU also counts `minstret`
//! from the virtual clock, so the spans are read exactly too, as a
//! cross-check.

use crate::board::{self, NOMINAL_TICK_INSNS as T};
use crate::out;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::Waker;

/// The clock at the start of the span being measured.
pub static T0: AtomicU32 = AtomicU32::new(0);
/// `minstret` at the start of the span (RISC-V only).
pub static R0: AtomicU32 = AtomicU32::new(0);

static PHASE: AtomicU32 = AtomicU32::new(0x2545_f491);

/// A pseudo-random delay in `0..T` steps of 3 instructions: xorshift32,
/// scrambled by a multiply and mapped onto `0..T` by its high bits, so
/// that successive delays are independent of each other (the phase of a
/// span's start also depends on the previous delay).
#[inline(always)]
pub fn random_delay() {
    let mut x = PHASE.load(Relaxed);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    PHASE.store(x, Relaxed);
    let k = (u64::from(x.wrapping_mul(0x9e37_79b9)) * u64::from(T)) >> 32;
    board::delay3(k as u32);
}

/// Starts a span: a random delay, then the clock.
#[inline(always)]
pub fn start() {
    random_delay();
    // The clock, then the exact counter; a span ends with the counter,
    // then the clock, so the exact span lies just inside the clock's.
    let t0 = board::ticks();
    let r0 = board::retired();
    T0.store(t0, Relaxed);
    if let Some(r) = r0 {
        R0.store(r, Relaxed);
    }
}

/// Sums of measured spans.
pub struct Acc {
    ticks: AtomicU32,
    n: AtomicU32,
    exact_sum: AtomicU32,
    exact_min: AtomicU32,
    exact_max: AtomicU32,
}

impl Acc {
    /// Empty sums.
    pub const fn new() -> Acc {
        Acc {
            ticks: AtomicU32::new(0),
            n: AtomicU32::new(0),
            exact_sum: AtomicU32::new(0),
            exact_min: AtomicU32::new(u32::MAX),
            exact_max: AtomicU32::new(0),
        }
    }

    /// Clears the sums.
    pub fn reset(&self) {
        self.ticks.store(0, Relaxed);
        self.n.store(0, Relaxed);
        self.exact_sum.store(0, Relaxed);
        self.exact_min.store(u32::MAX, Relaxed);
        self.exact_max.store(0, Relaxed);
    }

    /// Ends a span started by [`start`] with the clock read `t1` (and
    /// `minstret` read `r1`, where there is one).
    #[inline(always)]
    pub fn end(&self, t1: u32, r1: Option<u32>) {
        let d = t1.wrapping_sub(T0.load(Relaxed));
        self.ticks.store(self.ticks.load(Relaxed) + d, Relaxed);
        self.n.store(self.n.load(Relaxed) + 1, Relaxed);
        if let Some(r1) = r1 {
            let e = r1.wrapping_sub(R0.load(Relaxed));
            self.exact_sum
                .store(self.exact_sum.load(Relaxed) + e, Relaxed);
            self.exact_min
                .store(self.exact_min.load(Relaxed).min(e), Relaxed);
            self.exact_max
                .store(self.exact_max.load(Relaxed).max(e), Relaxed);
        }
    }

    /// Repetitions summed.
    pub fn count(&self) -> u32 {
        self.n.load(Relaxed)
    }

    /// The mean span in hundredths of an instruction, from the clock, less
    /// `overhead` (hundredths).
    pub fn mean(&self, overhead: u64) -> u64 {
        let n = u64::from(self.n.load(Relaxed).max(1));
        (u64::from(self.ticks.load(Relaxed)) * u64::from(T) * 100 / n).saturating_sub(overhead)
    }

    /// The exact mean, minimum and maximum from `minstret`, less the
    /// exact overhead, if the board has the counter.
    pub fn exact(&self, overhead: u32) -> Option<(u64, u32, u32)> {
        board::retired()?;
        let n = u64::from(self.n.load(Relaxed).max(1));
        let sum = u64::from(self.exact_sum.load(Relaxed));
        Some((
            (sum * 100 / n).saturating_sub(u64::from(overhead) * 100),
            self.exact_min.load(Relaxed) - overhead,
            self.exact_max.load(Relaxed) - overhead,
        ))
    }
}

impl Default for Acc {
    fn default() -> Self {
        Acc::new()
    }
}

/// The cost of the clock reads themselves, as measured by `calibrate`:
/// hundredths of an instruction (tick method) and instructions (exact).
pub struct Overhead {
    /// From the clock, in hundredths.
    pub ticks: u64,
    /// From `minstret`, in instructions (0 without the counter).
    pub exact: u32,
}

static CAL: Acc = Acc::new();

/// Checks the tick rate against a loop of known length, measures the cost
/// of the clock read (a span with nothing in it), and validates the method
/// on two known instruction sequences. Prints `FIG cal_*` lines and
/// returns the overhead to subtract from later spans.
pub fn calibrate(reps: u32) -> Overhead {
    // The rate: 3 000 002 (ARM) or 3 000 001 (RISC-V) instructions.
    let a = board::ticks();
    board::delay3(1_000_000);
    let b = board::ticks();
    let per_tick_milli = 3_000_000u64 * 1000 / u64::from(b.wrapping_sub(a));
    out::fig("cal_insns_per_tick", per_tick_milli / 10);
    out::fig_int("cal_nominal_insns_per_tick", u64::from(T));

    // A macro, not a closure, so that the body is inlined between the
    // two reads exactly as written.
    macro_rules! run {
        ($($body:tt)*) => {
            CAL.reset();
            for _ in 0..reps {
                start();
                $($body)*
                let r1 = board::retired();
                CAL.end(board::ticks(), r1);
            }
        };
    }
    run!();
    let overhead = Overhead {
        ticks: CAL.mean(0),
        exact: CAL.exact(0).map_or(0, |(_, min, _)| min),
    };
    out::fig("cal_read_overhead", overhead.ticks);
    run!(board::sled1000(););
    out::fig("cal_sled1000", CAL.mean(overhead.ticks));
    if let Some((mean, _, _)) = CAL.exact(overhead.exact) {
        out::fig("cal_sled1000_exact", mean);
    }
    run!(board::delay3(100););
    out::fig("cal_delay3_100", CAL.mean(overhead.ticks));
    if let Some((mean, _, _)) = CAL.exact(overhead.exact) {
        out::fig("cal_delay3_100_exact", mean);
    }
    overhead
}

/// The waker an interrupt handler wakes.
struct Slot(UnsafeCell<Option<Waker>>);

// SAFETY: the slot is written only from the main context, inside a
// critical section, while no interrupt that reads it is armed (see
// `register`); the handler only reads it.
unsafe impl Sync for Slot {}

static SLOT: Slot = Slot(UnsafeCell::new(None));

/// Stores the waker the interrupt handler wakes. Call only while no
/// interrupt of this crate is pending or armed.
pub fn register(waker: &Waker) {
    critical_section::with(|_| {
        // SAFETY: interrupts are masked and no handler runs: nothing else
        // holds a reference into the slot.
        unsafe { *SLOT.0.get() = Some(waker.clone()) };
    });
}

/// Drops the stored waker. Same rule as [`register`].
pub fn unregister() {
    let old = critical_section::with(|_| {
        // SAFETY: as in `register`.
        unsafe { (*SLOT.0.get()).take() }
    });
    drop(old);
}

/// The interrupt handler's work: start the span (random delay, clock),
/// then wake the registered task.
#[inline(always)]
pub fn on_irq() {
    start();
    // SAFETY: the slot is not written while an interrupt can run.
    if let Some(waker) = unsafe { &*SLOT.0.get() } {
        waker.wake_by_ref();
    }
}

/// Prints the wake-to-poll figures summed in `acc` under `key`: the mean
/// from the clock, and on RISC-V the exact mean, minimum and maximum.
pub fn report(key: &str, acc: &Acc, overhead: &Overhead) {
    out::fig(key, acc.mean(overhead.ticks));
    if let Some((mean, min, max)) = acc.exact(overhead.exact) {
        let mut k = with_suffix(key, "_exact");
        out::fig(k.as_str(), mean);
        k = with_suffix(key, "_min");
        out::fig_int(k.as_str(), u64::from(min));
        k = with_suffix(key, "_max");
        out::fig_int(k.as_str(), u64::from(max));
    }
}

/// `key` followed by `suffix`.
fn with_suffix(key: &str, suffix: &str) -> alloc::string::String {
    let mut s = alloc::string::String::from(key);
    s.push_str(suffix);
    s
}
