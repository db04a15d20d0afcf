//! The ring's unit tests.

use super::*;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Pops everything (this thread owns `d`).
fn pop_all<T>(d: &Deque<T>) -> Vec<T> {
    // SAFETY: the tests call this as the ring's owner.
    core::iter::from_fn(|| unsafe { d.pop() }).collect()
}

#[test]
fn owner_takes_in_fifo_order() {
    let d = Deque::new();
    let inj = Injector::new();
    for i in 0..10 {
        // SAFETY: single-threaded test; this thread is the owner.
        unsafe { d.push(i, &inj) };
    }
    assert_eq!(d.len(), 10);
    assert_eq!(pop_all(&d), (0..10).collect::<Vec<_>>());
    assert!(inj.is_empty());
}

#[test]
fn overflow_moves_the_older_half_to_the_injector() {
    let d = Deque::new();
    let inj = Injector::new();
    for i in 0..=CAPACITY {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    assert_eq!(inj.len(), CAPACITY / 2 + 1);
    assert_eq!(d.len(), CAPACITY / 2);
    let spilled: Vec<_> = core::iter::from_fn(|| inj.pop()).collect();
    let mut expect: Vec<_> = (0..CAPACITY / 2).collect();
    expect.push(CAPACITY);
    assert_eq!(spilled, expect);
    // SAFETY: owner.
    assert_eq!(unsafe { d.pop() }, Some(CAPACITY / 2));
}

#[test]
fn steal_takes_the_older_half_rounded_up() {
    let a = Deque::new();
    let b = Deque::new();
    let inj = Injector::new();
    for i in 0..7 {
        // SAFETY: owner of `a`.
        unsafe { a.push(i, &inj) };
    }
    // SAFETY: this thread owns `b`, which is not `a`.
    let first = unsafe { a.steal_half_into(&b) };
    assert_eq!(first, Some((3, 4)));
    assert_eq!(b.len(), 3);
    assert_eq!(pop_all(&b), [0, 1, 2]);
    assert_eq!(pop_all(&a), [4, 5, 6]);
}

#[test]
fn positions_wrap_around() {
    // Start just short of the wrap, so that it comes within a few
    // hundred operations (fast under miri too).
    let d = Deque::starting_at(Pos::MAX - 300);
    let inj = Injector::new();
    let mut next_out = 0usize;
    for i in 0..1_000 {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
        if i % 2 == 1 {
            for _ in 0..2 {
                // SAFETY: owner.
                assert_eq!(unsafe { d.pop() }, Some(next_out));
                next_out += 1;
            }
        }
    }
    assert!(inj.is_empty(), "never more than two in the ring");
    // A full ring, a steal and an overflow across the wrap.
    let half = CAPACITY / 2;
    let d = Deque::starting_at(Pos::MAX - 10);
    let thief = Deque::new();
    for i in 0..CAPACITY {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    assert_eq!(d.len(), CAPACITY);
    // SAFETY: this thread owns `thief`, which is not `d`.
    let got = unsafe { d.steal_half_into(&thief) };
    assert_eq!(got, Some((half - 1, half)));
    for i in CAPACITY..CAPACITY + half + 1 {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    let spilled: Vec<_> = core::iter::from_fn(|| inj.pop()).collect();
    let mut expect: Vec<_> = (half..CAPACITY).collect();
    expect.push(CAPACITY + half);
    assert_eq!(spilled, expect);
    assert_eq!(pop_all(&thief), (0..half - 1).collect::<Vec<_>>());
    assert_eq!(pop_all(&d), (CAPACITY..CAPACITY + half).collect::<Vec<_>>());
}

/// A thief reads `head` and `tail`, is preempted, and the owner's
/// positions move on by exactly 2^16 before it claims. With 16-bit
/// positions its stale CAS succeeds and it takes values that the owner
/// already took; with the wide positions the claim fails. (Miri runs
/// the same steps over 2^10 positions: 2^16 owner operations take it
/// many minutes.)
#[test]
fn a_stale_thief_cannot_claim_after_16_bit_positions_wrap() {
    let d = Deque::new();
    let inj = Injector::new();
    for i in 0..8u32 {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    let snapshot = d.steal_snapshot();
    // The owner takes all eight, then pushes and pops one at a time
    // until its positions have moved on by 2^16, and pushes one more.
    let mut taken: BTreeSet<u32> = pop_all(&d).into_iter().collect();
    let wrap = if cfg!(miri) { 1u32 << 10 } else { 1 << 16 };
    for i in 8..wrap {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
        // SAFETY: owner.
        let v = unsafe { d.pop() }.expect("just pushed");
        assert!(taken.insert(v));
    }
    // SAFETY: owner.
    unsafe { d.push(wrap, &inj) };
    // The thief resumes, with its own ring.
    let mine = Deque::new();
    // SAFETY: this thread owns `mine`.
    let dst_tail = unsafe { mine.steal_room() }.expect("empty");
    // SAFETY: the snapshot is of `d` (stale, which is the point).
    match unsafe { d.steal_claim(snapshot) } {
        Err(ClaimError::Moved) => {}
        Ok(claim) => {
            let n = claim.count();
            // SAFETY: a claim of `d`, copied once into `mine`, which
            // this thread owns.
            unsafe { d.steal_copy(&claim, 0..n, &mine, dst_tail) };
            d.steal_release(claim);
            // SAFETY: owner of `mine`; `n` values were copied.
            let mut stolen = alloc::vec![unsafe { mine.steal_publish(dst_tail, n) }];
            stolen.extend(pop_all(&mine));
            let twice: Vec<_> = stolen.iter().filter(|v| taken.contains(v)).collect();
            panic!("a stale claim took {stolen:?}; already taken: {twice:?}");
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
    assert_eq!(pop_all(&d), [wrap]);
    assert!(inj.is_empty());
}

/// While a thief holds a claim, the owner measures fullness from the
/// claim's start: a push that would reuse a claimed slot goes to the
/// injector instead, and the thief copies out what it claimed.
#[test]
fn the_owner_never_writes_over_a_claim() {
    let d = Deque::new();
    let mine = Deque::new();
    let inj = Injector::new();
    for i in 0..CAPACITY {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    // SAFETY: this thread owns `mine`.
    let dst_tail = unsafe { mine.steal_room() }.expect("empty");
    // SAFETY: a snapshot of `d`.
    let claim = unsafe { d.steal_claim(d.steal_snapshot()) }.expect("a full ring");
    assert_eq!(claim.count(), CAPACITY / 2);
    // The owner pops one (past the claim) and pushes two: the ring
    // counts the claimed slots as full, so both go to the injector,
    // one at a time (no spill while a thief copies).
    // SAFETY: owner.
    assert_eq!(unsafe { d.pop() }, Some(CAPACITY / 2));
    for i in [1000, 1001] {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    assert_eq!(inj.len(), 2);
    // A second thief gives up while the first is copying.
    // SAFETY: a snapshot of `d`.
    let second = unsafe { d.steal_claim(d.steal_snapshot()) };
    assert_eq!(second, Err(ClaimError::Busy));
    let n = claim.count();
    // SAFETY: the claim is of `d` and unreleased; copied once into
    // `mine`, which this thread owns.
    unsafe { d.steal_copy(&claim, 0..n, &mine, dst_tail) };
    d.steal_release(claim);
    // SAFETY: owner of `mine`; `n` values were copied.
    let last = unsafe { mine.steal_publish(dst_tail, n) };
    assert_eq!(last, n - 1);
    assert_eq!(pop_all(&mine), (0..n - 1).collect::<Vec<_>>());
    // Released: the owner's pushes go into the ring again.
    // SAFETY: owner.
    unsafe { d.push(2000, &inj) };
    assert_eq!(inj.len(), 2);
    let mut rest: Vec<_> = (CAPACITY / 2 + 1..CAPACITY).collect();
    rest.push(2000);
    assert_eq!(pop_all(&d), rest);
}

#[test]
fn a_claim_from_a_stale_snapshot_fails_and_a_fresh_one_succeeds() {
    let d = Deque::new();
    let inj = Injector::new();
    for i in 0..4 {
        // SAFETY: owner.
        unsafe { d.push(i, &inj) };
    }
    let stale = d.steal_snapshot();
    // SAFETY: owner.
    assert_eq!(unsafe { d.pop() }, Some(0));
    // SAFETY: snapshots of `d`.
    assert_eq!(unsafe { d.steal_claim(stale) }, Err(ClaimError::Moved));
    // SAFETY: as above.
    let claim = unsafe { d.steal_claim(d.steal_snapshot()) }.expect("three left");
    assert_eq!(claim.count(), 2);
    d.steal_release(claim);
    // Released without copying: the claimed values are gone from the
    // ring (a thief that claims always copies; this checks the head).
    assert_eq!(pop_all(&d), [3]);
    // An empty ring.
    // SAFETY: a snapshot of `d`.
    let none = unsafe { d.steal_claim(d.steal_snapshot()) };
    assert_eq!(none, Err(ClaimError::Empty));
}

#[test]
fn owner_and_thief_views() {
    let (ring, theirs, overflow) = (Deque::new(), Deque::new(), Injector::new());
    // SAFETY: this test's thread owns both rings.
    let (mine, thief) = unsafe { (OwnerRing::new(&ring), OwnerRing::new(&theirs)) };
    for i in 0..5 {
        mine.push(i, &overflow);
    }
    // Another worker steals the older half, rounded up: 0, 1, 2. It runs
    // the last one now and finds the rest in its own ring.
    assert_eq!(thief.steal_half_from(ring.stealer()), Some((2, 3)));
    assert_eq!(thief.pop(), Some(0));
    assert_eq!(mine.pop(), Some(3));
    assert_eq!(ring.stealer().len(), 1);
    assert_eq!(
        mine.steal_half_from(ring.stealer()),
        None,
        "not from itself"
    );
}
