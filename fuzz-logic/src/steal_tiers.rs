//! `steal_tiers`: owner push/pop, thief steal-half, overflow into the
//! injectors and tiered takes, across several simulated workers, on the
//! real `Deque` and `Injector`. Each operation runs whole; the
//! `steal_protocol` target interleaves the ring's operations one atomic
//! step at a time instead.
//!
//! The oracle is crossbeam-deque: one FIFO `Worker` (with its `Stealer`)
//! mirrors each ring and one `Injector` mirrors each tier's injector. Where
//! Echo's ring has rules of its own (a bounded ring that spills its older
//! half, a steal that moves the older half rounded up and hands back the
//! last value moved), the harness applies the rule to the mirror with
//! crossbeam's single-value operations, whose semantics match: FIFO
//! `pop` takes the oldest value, `Stealer::steal` takes the oldest value.
//!
//! Checked: every result equals the oracle's; every value is taken exactly
//! once (the final drain finds exactly the values not yet taken); owner
//! pops are FIFO and steals take the oldest half; a value only ever comes
//! out of its own tier's queues, and a tiered take finds the most urgent
//! tier with work.

use crate::Input;
use crossbeam_deque::{Injector as CbInjector, Steal, Stealer, Worker as CbWorker};
use echo_sched_core::internals::{CAPACITY, Deque, Injector};
use std::collections::HashSet;

const HIGH: usize = 0;
const NORMAL: usize = 1;
const LOW: usize = 2;

/// A value: a unique sequence number and the tier it was pushed at.
fn value(seq: u64, tier: usize) -> u64 {
    (seq << 2) | tier as u64
}

fn tier_of(v: u64) -> usize {
    (v & 3) as usize
}

struct Ring {
    real: Deque<u64>,
    mirror: CbWorker<u64>,
    stealer: Stealer<u64>,
}

impl Ring {
    fn new() -> Ring {
        let mirror = CbWorker::new_fifo();
        let stealer = mirror.stealer();
        Ring {
            real: Deque::new(),
            mirror,
            stealer,
        }
    }
}

struct Sim {
    /// rings[w][0] is Normal, rings[w][1] is Low.
    rings: Vec<[Ring; 2]>,
    injectors: [Injector<u64>; 3],
    mirrors: [CbInjector<u64>; 3],
    next: u64,
    pushed: usize,
    taken: HashSet<u64>,
}

fn steal_one(s: &Stealer<u64>) -> Option<u64> {
    loop {
        match s.steal() {
            Steal::Success(v) => return Some(v),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

fn steal_injector(i: &CbInjector<u64>) -> Option<u64> {
    loop {
        match i.steal() {
            Steal::Success(v) => return Some(v),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

impl Sim {
    fn new(workers: usize) -> Sim {
        Sim {
            rings: (0..workers).map(|_| [Ring::new(), Ring::new()]).collect(),
            injectors: [Injector::new(), Injector::new(), Injector::new()],
            mirrors: [CbInjector::new(), CbInjector::new(), CbInjector::new()],
            next: 0,
            pushed: 0,
            taken: HashSet::new(),
        }
    }

    fn fresh(&mut self, tier: usize) -> u64 {
        self.next += 1;
        self.pushed += 1;
        value(self.next, tier)
    }

    fn take(&mut self, v: u64, from_tier: usize) {
        assert_eq!(tier_of(v), from_tier, "value {v} left its tier");
        assert!(self.taken.insert(v), "value {v} taken twice");
    }

    fn ring(&self, w: usize, tier: usize) -> &Ring {
        &self.rings[w][tier - 1]
    }

    /// Owner push, with the ring's overflow rule applied to the mirror.
    fn push(&mut self, w: usize, tier: usize) {
        let v = self.fresh(tier);
        let ring = &self.rings[w][tier - 1];
        // SAFETY: this single thread plays every worker, so it is the
        // ring's owner.
        unsafe { ring.real.push(v, &self.injectors[tier]) };
        if ring.mirror.len() < CAPACITY {
            ring.mirror.push(v);
        } else {
            for _ in 0..CAPACITY / 2 {
                let old = ring.mirror.pop().expect("a full ring");
                self.mirrors[tier].push(old);
            }
            self.mirrors[tier].push(v);
        }
        self.check_len(w, tier);
    }

    /// Owner pop: FIFO.
    fn pop(&mut self, w: usize, tier: usize) -> Option<u64> {
        let ring = self.ring(w, tier);
        // SAFETY: owner, as in `push`.
        let got = unsafe { ring.real.pop() };
        assert_eq!(
            got,
            ring.mirror.pop(),
            "owner pop (worker {w}, tier {tier})"
        );
        if let Some(v) = got {
            self.take(v, tier);
        }
        self.check_len(w, tier);
        got
    }

    /// Thief `t` steals half of victim `v`'s ring.
    fn steal(&mut self, t: usize, v: usize, tier: usize) -> Option<u64> {
        assert_ne!(t, v);
        let (dst, src) = (self.ring(t, tier), self.ring(v, tier));
        // SAFETY: this thread owns every ring, and `dst` is not `src`.
        let got = unsafe { src.real.steal_half_into(&dst.real) };
        let expect = if dst.mirror.len() > CAPACITY / 2 {
            None
        } else {
            let available = src.mirror.len();
            let n = available - available / 2;
            let mut moved: Vec<u64> = (0..n)
                .map(|_| steal_one(&src.stealer).expect("counted"))
                .collect();
            moved.pop().map(|last| {
                for m in moved {
                    dst.mirror.push(m);
                }
                (last, n)
            })
        };
        assert_eq!(got, expect, "steal-half from {v} into {t} (tier {tier})");
        self.check_len(t, tier);
        self.check_len(v, tier);
        got.map(|(x, _)| {
            self.take(x, tier);
            x
        })
    }

    fn inject(&mut self, tier: usize) {
        let v = self.fresh(tier);
        self.injectors[tier].push(v);
        self.mirrors[tier].push(v);
        assert_eq!(self.injectors[tier].len(), self.mirrors[tier].len());
    }

    fn pop_injector(&mut self, tier: usize) -> Option<u64> {
        let got = self.injectors[tier].pop();
        assert_eq!(got, steal_injector(&self.mirrors[tier]), "injector {tier}");
        if let Some(v) = got {
            self.take(v, tier);
        }
        assert_eq!(
            self.injectors[tier].is_empty(),
            self.mirrors[tier].is_empty()
        );
        got
    }

    fn check_len(&self, w: usize, tier: usize) {
        let ring = self.ring(w, tier);
        assert_eq!(ring.real.len(), ring.mirror.len(), "ring length");
        assert_eq!(ring.real.is_empty(), ring.mirror.is_empty());
    }

    /// Whether any queue a worker can take from holds a value of `tier`:
    /// the tier's injector, or any worker's ring of it (its own, or a
    /// victim's: a worker whose own ring is empty can always steal).
    fn visible(&self, tier: usize) -> bool {
        !self.mirrors[tier].is_empty()
            || (tier != HIGH && self.rings.iter().any(|r| !r[tier - 1].mirror.is_empty()))
    }

    /// A scheduling point of worker `w`: High injector; then per lower
    /// tier its own ring, the tier's injector, then steals.
    fn next_task(&mut self, w: usize) -> Option<u64> {
        let got = self
            .pop_injector(HIGH)
            .or_else(|| self.take_tier(w, NORMAL))
            .or_else(|| self.take_tier(w, LOW));
        let tier = got.map(tier_of);
        for more_urgent in [HIGH, NORMAL, LOW] {
            if tier.is_some_and(|t| t <= more_urgent) {
                break;
            }
            assert!(
                !self.visible(more_urgent),
                "worker {w} took tier {tier:?} while tier {more_urgent} had work"
            );
        }
        got
    }

    fn take_tier(&mut self, w: usize, tier: usize) -> Option<u64> {
        if let Some(v) = self.pop(w, tier) {
            return Some(v);
        }
        if let Some(v) = self.pop_injector(tier) {
            return Some(v);
        }
        let n = self.rings.len();
        for i in 1..n {
            let victim = (w + i) % n;
            if let Some(v) = self.steal(w, victim, tier) {
                return Some(v);
            }
        }
        None
    }

    /// Takes everything left and checks that every value was taken once.
    fn drain(&mut self) {
        for w in 0..self.rings.len() {
            for tier in [NORMAL, LOW] {
                while self.pop(w, tier).is_some() {}
            }
        }
        for tier in [HIGH, NORMAL, LOW] {
            while self.pop_injector(tier).is_some() {}
        }
        assert_eq!(self.taken.len(), self.pushed, "values lost");
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let workers = 2 + input.below(3);
    let mut sim = Sim::new(workers);
    while !input.done() {
        let op = input.below(8);
        let w = input.below(workers);
        let tier = NORMAL + input.below(2);
        match op {
            0 => sim.push(w, tier),
            1 => {
                // A burst: up to just over a full ring, to reach overflow.
                let n = 1 + input.below(CAPACITY / 2 + 8) * 2;
                for _ in 0..n {
                    sim.push(w, tier);
                }
            }
            2 => {
                sim.pop(w, tier);
            }
            3 => {
                let v = (w + 1 + input.below(workers - 1)) % workers;
                sim.steal(w, v, tier);
            }
            4 => {
                let t = input.below(3);
                for _ in 0..=input.below(4) {
                    sim.inject(t);
                }
            }
            5 => {
                let t = input.below(3);
                sim.pop_injector(t);
            }
            6 => {
                sim.next_task(w);
            }
            _ => {
                // Push/pop pairs: moves the ring's positions on, so that
                // long inputs wrap them around 2^16.
                let n = 1 + 16 * input.below(16);
                for _ in 0..n {
                    sim.push(w, tier);
                    sim.pop(w, tier);
                }
            }
        }
    }
    sim.drain();
}
