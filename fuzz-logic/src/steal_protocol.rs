//! `steal_protocol`: the ring's owner and thieves interleaved one atomic
//! step at a time, on one thread, on the real `Deque`.
//!
//! Each simulated worker owns one ring; all share one overflow injector.
//! The input picks which worker moves next. A worker with a steal in
//! flight takes that steal's next phase; an idle one starts what the
//! input says. The steal phases are the ring's own functions (the ones
//! `steal_half_into` calls in a row):
//!
//! 1. room and snapshot: the thief checks its own ring is at most half
//!    full, then reads the victim's `head` and `tail`;
//! 2. claim: the CAS that moves the victim's `real` past the older half;
//! 3. copy: some of the claimed values into the thief's ring (repeated
//!    until all are copied, so owner steps land mid-copy);
//! 4. release and publish: the CAS that gives the slots back, then the
//!    thief's tail store, which hands back the last value to run now.
//!
//! Owner steps are whole operations (push, with its spill on a full ring;
//! pop), because an owner is one thread: nobody else writes `tail`, and
//! its own CAS loops can only race thieves' CASes, which are steps here.
//! Every ring starts a little short of the wrap of its positions, so
//! wrapping arithmetic runs in most inputs. Under cargo-fuzz the ring has
//! 16 slots (`CAPACITY` under `--cfg fuzzing`), so a few pushes fill it;
//! the corpus replay on stable runs the same inputs on 256-slot rings.
//!
//! The oracle is a plain model: per ring, the values a pop or claim can
//! take (a `VecDeque`, oldest first), the positions between `steal` and
//! `real` (a claim in flight, plus what the owner popped since), and a
//! count of `head` changes. The rings overflow into a plain list instead
//! of the scheduler's concurrent injector (the push takes any
//! `Overflow`), so each push's spill is compared with the model at once;
//! the injector's own behaviour is crossbeam's, and `steal_tiers` runs
//! the real one. Checked:
//! - every value is taken exactly once (by a pop, from the injector, or as
//!   the value a steal returns), and the final drain finds the rest;
//! - owner pops are FIFO; a spill moves the older half, then the new
//!   value, in order;
//! - a claim takes the older half, rounded up, of what its snapshot saw,
//!   and the values that reach the thief are those oldest values;
//! - a claim from a stale snapshot (any `head` change since) fails, a busy
//!   ring (a claim in flight) refuses a second thief, an empty one gives
//!   nothing;
//! - the owner never writes over a claimed slot: while a claim is in
//!   flight, a push onto a ring that is full counting the claimed slots
//!   sends its value alone to the injector (a spill would be wrong too),
//!   and an overwritten slot would reach the thief as a wrong value;
//! - `len`, `is_empty` and the thief's room check agree with the model.

use crate::Input;
use echo_sched_core::internals::{
    CAPACITY, ClaimError, Deque, Overflow, Pos, StealClaim, StealSnapshot,
};
use std::cell::RefCell;
use std::collections::VecDeque;

const HALF: usize = CAPACITY / 2;

/// A steal in flight, by the worker that holds it.
struct Steal {
    victim: usize,
    /// Where the stolen values go in the thief's own ring.
    dst_tail: Pos,
    phase: Phase,
}

enum Phase {
    /// Next: read the victim's `head` and `tail`.
    Snapshot,
    /// Next: the claim CAS. What the model says the snapshot saw.
    Claim {
        snapshot: StealSnapshot,
        head_changes: u64,
        available: usize,
        busy: bool,
    },
    /// Next: copy more values, or release once all are copied.
    Copy {
        claim: StealClaim,
        /// The claimed values, oldest first.
        values: Vec<u64>,
        copied: usize,
    },
}

struct Worker {
    ring: Deque<u64>,
    /// The values a pop or a claim can take (`real..tail`), oldest first.
    model: VecDeque<u64>,
    /// Positions between `steal` and `real`: a thief's claim in flight,
    /// plus what the owner popped since (it keeps the thief's `steal`
    /// mark, so those slots stay unusable until the release too).
    behind: usize,
    /// How many times `head` has changed: pops, claims, releases, spills.
    head_changes: u64,
    steal: Option<Steal>,
}

impl Worker {
    /// Positions the ring counts towards its capacity (`tail - steal`).
    fn len(&self) -> usize {
        self.model.len() + self.behind
    }
}

/// The rings' overflow: what the last push sent, checked against the model
/// right after it, then moved to the injector model.
struct Sent(RefCell<Vec<u64>>);

impl Overflow<u64> for Sent {
    fn push(&self, value: u64) {
        self.0.borrow_mut().push(value);
    }
}

struct Sim {
    workers: Vec<Worker>,
    sent: Sent,
    /// The injector the rings overflow into, oldest first.
    injector: VecDeque<u64>,
    /// `taken[v]`: value `v` has been taken.
    taken: Vec<bool>,
}

impl Sim {
    fn fresh(&mut self) -> u64 {
        self.taken.push(false);
        (self.taken.len() - 1) as u64
    }

    fn take(&mut self, v: u64) {
        let seen = &mut self.taken[v as usize];
        if *seen {
            fail(format_args!("value {v} taken twice"));
        }
        *seen = true;
    }

    /// Checks what each ring and the injector report about themselves
    /// (after every step; not inside bursts, which would slow the fuzzer
    /// down for little gain).
    fn check(&self) {
        for (w, worker) in self.workers.iter().enumerate() {
            assert_eq!(worker.ring.len(), worker.len(), "len of ring {w}");
            assert_eq!(
                worker.ring.is_empty(),
                worker.model.is_empty(),
                "is_empty of ring {w}"
            );
        }
    }

    /// Owner push; a full ring spills its older half and `v` to the
    /// injector, or sends `v` alone while a thief holds a claim.
    fn push(&mut self, w: usize) {
        let v = self.fresh();
        let worker = &mut self.workers[w];
        // SAFETY: this thread plays every worker; it is the ring's owner.
        unsafe { worker.ring.push(v, &self.sent) };
        let from = self.injector.len();
        if worker.len() < CAPACITY {
            worker.model.push_back(v);
        } else if worker.behind > 0 {
            self.injector.push_back(v);
        } else {
            self.injector.extend(worker.model.drain(..HALF));
            self.injector.push_back(v);
            worker.head_changes += 1;
        }
        let mut sent = self.sent.0.borrow_mut();
        if !sent.iter().eq(self.injector.range(from..)) {
            fail(format_args!("push onto ring {w} sent {sent:?}"));
        }
        sent.clear();
    }

    /// Owner pop: the oldest value.
    fn pop(&mut self, w: usize) {
        let worker = &mut self.workers[w];
        // SAFETY: owner, as in `push`.
        let got = unsafe { worker.ring.pop() };
        let want = worker.model.pop_front();
        if got != want {
            fail(format_args!("owner pop of ring {w}: {got:?}, not {want:?}"));
        }
        if let Some(v) = got {
            worker.head_changes += 1;
            if worker.behind > 0 {
                worker.behind += 1;
            }
            self.take(v);
        }
    }

    fn pop_injector(&mut self) {
        if let Some(v) = self.injector.pop_front() {
            self.take(v);
        }
    }

    /// Worker `t` checks its room and, if it has some, starts a steal from
    /// `victim`.
    fn start_steal(&mut self, t: usize, victim: usize) {
        let thief = &mut self.workers[t];
        // SAFETY: owner of the thief's ring.
        let room = unsafe { thief.ring.steal_room() };
        assert_eq!(room.is_some(), thief.len() <= HALF, "room of ring {t}");
        if let Some(dst_tail) = room {
            thief.steal = Some(Steal {
                victim,
                dst_tail,
                phase: Phase::Snapshot,
            });
        }
    }

    /// The next phase of worker `t`'s steal; `k` picks how many values a
    /// copy step moves.
    fn step_steal(&mut self, t: usize, k: usize) {
        let mut steal = self.workers[t].steal.take().expect("a steal in flight");
        let v = steal.victim;
        steal.phase = match steal.phase {
            Phase::Snapshot => {
                let victim = &self.workers[v];
                Phase::Claim {
                    snapshot: victim.ring.steal_snapshot(),
                    head_changes: victim.head_changes,
                    available: victim.model.len(),
                    busy: victim.behind > 0,
                }
            }
            Phase::Claim {
                snapshot,
                head_changes,
                available,
                busy,
            } => {
                let victim = &mut self.workers[v];
                // SAFETY: the snapshot is of this victim's ring.
                let got = unsafe { victim.ring.steal_claim(snapshot) };
                let n = available - available / 2;
                let expect = if busy {
                    Err(ClaimError::Busy)
                } else if n == 0 {
                    Err(ClaimError::Empty)
                } else if head_changes != victim.head_changes {
                    Err(ClaimError::Moved)
                } else {
                    Ok(n)
                };
                let summary = got.as_ref().map(StealClaim::count).map_err(|e| *e);
                assert_eq!(summary, expect, "claim by {t} from ring {v}");
                match got {
                    // A stale snapshot: the real loop reads a new one.
                    Err(ClaimError::Moved) => Phase::Snapshot,
                    Err(_) => return, // the steal is over
                    Ok(claim) => {
                        let victim = &mut self.workers[v];
                        victim.behind = n;
                        victim.head_changes += 1;
                        let values = victim.model.drain(..n).collect();
                        Phase::Copy {
                            claim,
                            values,
                            copied: 0,
                        }
                    }
                }
            }
            Phase::Copy {
                claim,
                values,
                copied,
            } if copied < values.len() => {
                let to = copied + 1 + k % (values.len() - copied);
                let (victim, thief) = (&self.workers[v], &self.workers[t]);
                // SAFETY: the claim is the victim's and unreleased, each
                // index is copied once, this thread owns the thief's ring,
                // which is not the victim's, and nothing was pushed to it
                // since `steal_room` gave `dst_tail`.
                unsafe {
                    victim
                        .ring
                        .steal_copy(&claim, copied..to, &thief.ring, steal.dst_tail)
                };
                Phase::Copy {
                    claim,
                    values,
                    copied: to,
                }
            }
            Phase::Copy { claim, values, .. } => {
                let n = values.len();
                let victim = &mut self.workers[v];
                victim.ring.steal_release(claim);
                victim.behind = 0;
                victim.head_changes += 1;
                let thief = &mut self.workers[t];
                // SAFETY: owner of the thief's ring; all `n` values were
                // copied from `dst_tail` on.
                let last = unsafe { thief.ring.steal_publish(steal.dst_tail, n) };
                assert_eq!(last, values[n - 1], "the value a steal returns");
                thief.model.extend(&values[..n - 1]);
                self.take(last);
                return; // the steal is over
            }
        };
        self.workers[t].steal = Some(steal);
    }

    /// The one-call steal, for an idle worker `t`.
    fn steal_half(&mut self, t: usize, v: usize) {
        let (thief, victim) = (&self.workers[t], &self.workers[v]);
        // SAFETY: this thread owns the thief's ring, which is not the
        // victim's.
        let got = unsafe { victim.ring.steal_half_into(&thief.ring) };
        let available = victim.model.len();
        let n = available - available / 2;
        let expect = if thief.len() > HALF || victim.behind > 0 || n == 0 {
            None
        } else {
            Some((victim.model[n - 1], n))
        };
        assert_eq!(got, expect, "steal_half_into by {t} from ring {v}");
        if let Some((last, n)) = got {
            let victim = &mut self.workers[v];
            let values: Vec<u64> = victim.model.drain(..n).collect();
            victim.head_changes += 2; // the claim and the release
            self.workers[t].model.extend(&values[..n - 1]);
            self.take(last);
        }
    }

    /// Finishes every steal in flight, takes everything left and checks
    /// that every value was taken once.
    fn drain(&mut self) {
        for t in 0..self.workers.len() {
            while self.workers[t].steal.is_some() {
                self.step_steal(t, usize::MAX);
                self.check();
            }
        }
        for w in 0..self.workers.len() {
            while !self.workers[w].model.is_empty() {
                self.pop(w);
            }
            self.pop(w); // and finds it empty
        }
        self.check();
        while !self.injector.is_empty() {
            self.pop_injector();
        }
        if let Some(v) = self.taken.iter().position(|t| !t) {
            panic!("value {v} lost");
        }
    }
}

/// Panics with `message`; out of line, so that the hot paths' checks stay
/// cheap under the fuzzer's instrumentation.
#[cold]
#[inline(never)]
fn fail(message: std::fmt::Arguments<'_>) -> ! {
    panic!("{message}");
}

/// Input bytes past this are ignored: a few hundred steps reach every
/// state of a few rings, and longer inputs would only slow the fuzzer.
const MAX_INPUT: usize = 256;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(&data[..data.len().min(MAX_INPUT)]);
    let count = 2 + input.below(3);
    let workers = (0..count)
        .map(|_| {
            // A little short of the wrap of the positions.
            let start = Pos::MAX - Pos::from(input.byte() / 2);
            Worker {
                ring: Deque::starting_at(start),
                model: VecDeque::with_capacity(CAPACITY),
                behind: 0,
                head_changes: 0,
                steal: None,
            }
        })
        .collect();
    let mut sim = Sim {
        workers,
        sent: Sent(RefCell::new(Vec::with_capacity(HALF + 1))),
        injector: VecDeque::with_capacity(CAPACITY),
        taken: Vec::with_capacity(4 * CAPACITY),
    };
    while !input.done() {
        let w = input.below(count);
        if sim.workers[w].steal.is_some() {
            let k = input.below(CAPACITY);
            sim.step_steal(w, k);
            sim.check();
            continue;
        }
        match input.below(8) {
            0 | 1 => sim.push(w),
            2 => {
                // A burst: up to just over a full ring, to reach overflow.
                for _ in 0..1 + input.below(HALF + 8) * 2 {
                    sim.push(w);
                }
            }
            3 => sim.pop(w),
            4 => {
                let v = (w + 1 + input.below(count - 1)) % count;
                sim.start_steal(w, v);
            }
            5 => {
                let v = (w + 1 + input.below(count - 1)) % count;
                sim.steal_half(w, v);
            }
            6 => sim.pop_injector(),
            _ => {
                // Push/pop pairs: move the positions on without filling.
                for _ in 0..1 + input.below(16) {
                    sim.push(w);
                    sim.pop(w);
                }
            }
        }
        sim.check();
    }
    sim.drain();
}
