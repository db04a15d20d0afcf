//! The ring: owner push/pop and overflow racing thieves' steal-half.
//! Every value pushed is taken exactly once, by someone.
//!
//! Every ring starts two positions short of the wrap of its positions, so
//! that each model also races the wrapping arithmetic (claims, releases
//! and fullness checks whose ranges straddle `Pos::MAX`).

use echo_sched_core::internals::{CAPACITY, Deque, Injector, Pos};
use loom::sync::Arc;
use loom::thread;

/// Drains what is left and checks that `taken` holds each of `0..n` once.
fn check_exactly_once(mut taken: Vec<usize>, n: usize) {
    taken.sort_unstable();
    assert_eq!(taken, (0..n).collect::<Vec<_>>(), "lost or duplicated");
}

/// A ring whose positions wrap after its first two pushes.
fn ring_near_wrap() -> Deque<usize> {
    Deque::starting_at(Pos::MAX - 1)
}

fn drain(d: &Deque<usize>, inj: &Injector<usize>, out: &mut Vec<usize>) {
    // SAFETY: called after every other thread joined; this thread acts as
    // the owner.
    while let Some(v) = unsafe { d.pop() } {
        out.push(v);
    }
    while let Some(v) = inj.pop() {
        out.push(v);
    }
}

#[test]
fn owner_pops_race_a_thief() {
    crate::model("deque::owner_pops_race_a_thief", || {
        let ring = Arc::new(ring_near_wrap());
        let inj = Arc::new(Injector::new());
        let n = 3;
        for i in 0..n {
            // SAFETY: the model thread is the owner until it spawns.
            unsafe { ring.push(i, &*inj) };
        }
        let thief = {
            let (ring, inj) = (ring.clone(), inj.clone());
            thread::spawn(move || {
                let mine = ring_near_wrap();
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some((v, moved)) = unsafe { ring.steal_half_into(&mine) } {
                    assert!(moved >= 1);
                    got.push(v);
                }
                drain(&mine, &inj, &mut got);
                got
            })
        };
        let mut got = Vec::new();
        // SAFETY: owner thread.
        if let Some(v) = unsafe { ring.pop() } {
            got.push(v);
        }
        // SAFETY: owner thread.
        if let Some(v) = unsafe { ring.pop() } {
            got.push(v);
        }
        got.extend(thief.join().unwrap());
        drain(&ring, &Injector::new(), &mut got);
        check_exactly_once(got, n);
    });
}

#[test]
fn owner_overflow_races_a_thief() {
    crate::model("deque::owner_overflow_races_a_thief", || {
        let ring = Arc::new(ring_near_wrap());
        let inj = Arc::new(Injector::new());
        let n = CAPACITY + 1;
        for i in 0..CAPACITY - 1 {
            // SAFETY: the model thread is the owner until it spawns.
            unsafe { ring.push(i, &*inj) };
        }
        let thief = {
            let ring = ring.clone();
            thread::spawn(move || {
                let mine = ring_near_wrap();
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some((v, _)) = unsafe { ring.steal_half_into(&mine) } {
                    got.push(v);
                }
                drain(&mine, &Injector::new(), &mut got);
                got
            })
        };
        // Fill the ring and go over: spills half to the injector, or pushes
        // the one value there if the thief is mid-steal.
        for i in CAPACITY - 1..n {
            // SAFETY: owner thread.
            unsafe { ring.push(i, &*inj) };
        }
        let mut got = thief.join().unwrap();
        drain(&ring, &inj, &mut got);
        check_exactly_once(got, n);
    });
}

#[test]
fn two_thieves_and_the_owner() {
    crate::model("deque::two_thieves_and_the_owner", || {
        let ring = Arc::new(ring_near_wrap());
        let n = 4;
        for i in 0..n {
            // SAFETY: the model thread is the owner until it spawns.
            unsafe { ring.push(i, &Injector::new()) };
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mine = ring_near_wrap();
                    let mut got = Vec::new();
                    // SAFETY: this thread owns `mine`.
                    if let Some((v, _)) = unsafe { ring.steal_half_into(&mine) } {
                        got.push(v);
                    }
                    drain(&mine, &Injector::new(), &mut got);
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        // SAFETY: owner thread.
        if let Some(v) = unsafe { ring.pop() } {
            got.push(v);
        }
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        drain(&ring, &Injector::new(), &mut got);
        check_exactly_once(got, n);
    });
}
