//! A hierarchical timing wheel with intrusive entries.
//!
//! Invariants (all state is guarded by the lock of the wheel's shard,
//! `shard.rs`):
//! - Time is counted in ticks of `2^TICK_SHIFT` ns (about 1 µs); a
//!   deadline of `d` ns is in tick `d >> TICK_SHIFT`. Slots are found by
//!   tick, but an entry fires only once the clock has reached its exact
//!   deadline, so never early and, on a host whose clock is coarser than a
//!   tick, not a host tick late either.
//! - Level `L` has `SLOTS` slots of `SLOTS^L` ticks each (64 slots on
//!   64-bit targets; 16 on 32-bit ones, with more levels for the same
//!   span, so that a wheel takes 0.6 KiB of a microcontroller's RAM
//!   rather than 1.5). An entry with tick `t` sits at the level of the
//!   highest `SLOT_BITS`-bit group in which `t` and `elapsed` differ
//!   (capped at the top level), in slot `(t >> SLOT_BITS*L) % SLOTS`.
//!   So every entry of a lower level comes before every entry of a higher
//!   one, and the next expiry is found by looking at one bitmap per level.
//! - A linked entry is in exactly one list: a slot's, or `due` (its tick
//!   has been reached; it is popped once the clock reaches its deadline). Bit `s` of a level's
//!   `occupied` is set exactly when slot `s`'s list is not empty.
//! - The wheel owns no entry. An entry lives inside its timer future, which
//!   is pinned while the entry is linked and unlinks it (under the lock)
//!   before it is dropped; that is what makes the raw links valid.
//!
//! Insert and remove are O(1). Popping expired entries cascades an entry
//! at most once per level on its way down, as in any hierarchical wheel.

use core::cell::UnsafeCell;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use core::task::Waker;

/// log2 of a tick in nanoseconds.
const TICK_SHIFT: u32 = 10;
/// Levels and slots per level: both geometries span 2^36 ticks (about 19
/// hours) below the top level.
#[cfg(target_pointer_width = "64")]
const LEVELS: usize = 6;
#[cfg(target_pointer_width = "64")]
const SLOT_BITS: u32 = 6;
/// A level's occupied slots, one bit each.
#[cfg(target_pointer_width = "64")]
type Occupied = u64;
#[cfg(not(target_pointer_width = "64"))]
const LEVELS: usize = 9;
#[cfg(not(target_pointer_width = "64"))]
const SLOT_BITS: u32 = 4;
#[cfg(not(target_pointer_width = "64"))]
type Occupied = u16;
const SLOTS: usize = 1 << SLOT_BITS;
const _: () = assert!(Occupied::BITS as usize == SLOTS);

/// The tick of a deadline in nanoseconds.
#[inline]
fn tick_of(nanos: u64) -> u64 {
    nanos >> TICK_SHIFT
}

/// The first nanosecond of `tick`.
#[inline]
fn nanos_of(tick: u64) -> u64 {
    tick.saturating_mul(1 << TICK_SHIFT)
}

/// Where an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In no list: never inserted, removed, or reset.
    Unlinked,
    /// Popped as expired; its waker was taken.
    Fired,
    /// In a slot's list.
    Slot { level: u8, slot: u8 },
    /// In the `due` list.
    Due,
}

struct Node {
    /// The deadline, in nanoseconds.
    deadline: u64,
    prev: Option<NonNull<TimerEntry>>,
    next: Option<NonNull<TimerEntry>>,
    place: Place,
    waker: Option<Waker>,
}

/// One timer's link in the wheel. It lives inside its timer future.
pub(crate) struct TimerEntry {
    node: UnsafeCell<Node>,
    _pinned: PhantomPinned,
}

// SAFETY: the node is only touched under the wheel's lock.
unsafe impl Send for TimerEntry {}
// SAFETY: as above.
unsafe impl Sync for TimerEntry {}

impl TimerEntry {
    pub(crate) const fn new() -> TimerEntry {
        TimerEntry {
            node: UnsafeCell::new(Node {
                deadline: 0,
                prev: None,
                next: None,
                place: Place::Unlinked,
                waker: None,
            }),
            _pinned: PhantomPinned,
        }
    }
}

/// The node of `entry`.
///
/// # Safety
///
/// The caller holds the wheel's lock (or has the only access to the
/// entry), `entry` is alive, and no other reference to the node is live.
#[allow(clippy::mut_from_ref)]
unsafe fn node<'a>(entry: NonNull<TimerEntry>) -> &'a mut Node {
    // SAFETY: per the contract.
    unsafe { &mut *(*entry.as_ptr()).node.get() }
}

/// A circular doubly linked list of entries: `head` is the first, its
/// `prev` the last. One pointer per list, so a wheel of 384 slots costs
/// 1.5 KiB on a 32-bit target (every worker has one).
#[derive(Clone, Copy, Default)]
struct List {
    head: Option<NonNull<TimerEntry>>,
}

impl List {
    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// # Safety
    ///
    /// Wheel lock held; `entry` alive and in no list.
    unsafe fn push_back(&mut self, entry: NonNull<TimerEntry>) {
        let Some(head) = self.head else {
            // SAFETY: per the contract.
            let n = unsafe { node(entry) };
            n.prev = Some(entry);
            n.next = Some(entry);
            self.head = Some(entry);
            return;
        };
        // SAFETY: per the contract; the head and the last entry are live
        // linked entries, other than `entry`, and each borrow of a node
        // ends before the next begins (the last may be the head).
        unsafe {
            let last = node(head).prev.expect("a linked entry has neighbours");
            let n = node(entry);
            n.prev = Some(last);
            n.next = Some(head);
            node(last).next = Some(entry);
            node(head).prev = Some(entry);
        }
    }

    /// # Safety
    ///
    /// Wheel lock held; `entry` alive and in this list.
    unsafe fn unlink(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: per the contract.
        let n = unsafe { node(entry) };
        let prev = n.prev.take().expect("a linked entry has neighbours");
        let next = n.next.take().expect("a linked entry has neighbours");
        if next == entry {
            self.head = None;
            return;
        }
        // SAFETY: per the contract; its neighbours are live linked entries
        // other than `entry` (the borrow of its node has ended), and each
        // borrow of a node ends before the next begins.
        unsafe {
            node(prev).next = Some(next);
            node(next).prev = Some(prev);
        }
        if self.head == Some(entry) {
            self.head = Some(next);
        }
    }

    /// The entry after `entry`, or `None` after the last.
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive and in this list.
    unsafe fn after(&self, entry: NonNull<TimerEntry>) -> Option<NonNull<TimerEntry>> {
        // SAFETY: per the contract.
        let next = unsafe { node(entry) }.next;
        if next == self.head { None } else { next }
    }

    /// # Safety
    ///
    /// Wheel lock held.
    unsafe fn pop_front(&mut self) -> Option<NonNull<TimerEntry>> {
        let head = self.head?;
        // SAFETY: the head is a live linked entry.
        unsafe { self.unlink(head) };
        Some(head)
    }
}

struct Level {
    occupied: Occupied,
    slots: [List; SLOTS],
}

/// The timers of one shard.
pub(crate) struct Wheel {
    /// Every tick up to here has been processed.
    elapsed: u64,
    levels: [Level; LEVELS],
    due: List,
    len: usize,
}

// SAFETY: the links point into pinned futures that unlink themselves under
// the lock guarding the wheel; the wheel may move between threads with it.
unsafe impl Send for Wheel {}

/// The level for an entry at `tick` seen from `elapsed`.
fn level_for(elapsed: u64, tick: u64) -> usize {
    // `| (SLOTS - 1)`: when only the lowest group differs, level 0.
    let masked = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let top_bit = 63 - masked.leading_zeros();
    ((top_bit / SLOT_BITS) as usize).min(LEVELS - 1)
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            levels: core::array::from_fn(|_| Level {
                occupied: 0,
                slots: [List::default(); SLOTS],
            }),
            due: List::default(),
            len: 0,
        }
    }

    /// Linked entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where `entry` is.
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive.
    pub(crate) unsafe fn place(&self, entry: NonNull<TimerEntry>) -> Place {
        // SAFETY: per the contract.
        unsafe { node(entry) }.place
    }

    /// Whether the waker stored for `entry` wakes the same task as `waker`.
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive.
    pub(crate) unsafe fn will_wake(&self, entry: NonNull<TimerEntry>, waker: &Waker) -> bool {
        // SAFETY: per the contract.
        let n = unsafe { node(entry) };
        n.waker.as_ref().is_some_and(|w| w.will_wake(waker))
    }

    /// Stores the waker to wake when `entry` fires. Returns the one it
    /// replaced, for the caller to drop once the lock is released (a drop
    /// may run user code; so may a clone, which is why this takes the
    /// waker made already).
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive.
    pub(crate) unsafe fn set_waker(
        &mut self,
        entry: NonNull<TimerEntry>,
        waker: Waker,
    ) -> Option<Waker> {
        // SAFETY: per the contract.
        unsafe { node(entry) }.waker.replace(waker)
    }

    /// Takes the waker of a fired entry.
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive.
    pub(crate) unsafe fn take_waker(&mut self, entry: NonNull<TimerEntry>) -> Option<Waker> {
        // SAFETY: per the contract.
        unsafe { node(entry) }.waker.take()
    }

    /// Links `entry` to fire once the clock reaches `deadline` (ns).
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` is unlinked, pinned, and stays alive until
    /// it is removed or popped.
    pub(crate) unsafe fn insert(&mut self, entry: NonNull<TimerEntry>, deadline: u64) {
        // SAFETY: per the contract.
        unsafe {
            debug_assert_eq!(node(entry).place, Place::Unlinked);
            node(entry).deadline = deadline;
            self.link(entry);
        }
        self.len += 1;
    }

    /// Files `entry` by its tick: in `due` if reached, else in its slot.
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive and in no list.
    unsafe fn link(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: per the contract.
        let n = unsafe { node(entry) };
        let tick = tick_of(n.deadline);
        if tick <= self.elapsed {
            n.place = Place::Due;
            // SAFETY: per the contract.
            unsafe { self.due.push_back(entry) };
            return;
        }
        let level = level_for(self.elapsed, tick);
        let slot = ((tick >> (SLOT_BITS * level as u32)) % SLOTS as u64) as usize;
        n.place = Place::Slot {
            level: level as u8,
            slot: slot as u8,
        };
        let lvl = &mut self.levels[level];
        lvl.occupied |= 1 << slot;
        // SAFETY: per the contract.
        unsafe { lvl.slots[slot].push_back(entry) };
    }

    /// Unlinks `entry` if it is linked; afterwards it is `Unlinked`, ready
    /// to be inserted again. Returns whether the earliest deadline may have
    /// risen (the entry was due, or the last of its slot).
    ///
    /// # Safety
    ///
    /// Wheel lock held; `entry` alive.
    pub(crate) unsafe fn remove(&mut self, entry: NonNull<TimerEntry>) -> bool {
        // SAFETY: per the contract.
        let place = unsafe { node(entry) }.place;
        let emptied = match place {
            Place::Unlinked => return false,
            Place::Fired => {
                // SAFETY: per the contract.
                unsafe { node(entry) }.place = Place::Unlinked;
                return false;
            }
            Place::Due => {
                // SAFETY: it is in `due`.
                unsafe { self.due.unlink(entry) };
                true
            }
            Place::Slot { level, slot } => {
                let lvl = &mut self.levels[level as usize];
                let list = &mut lvl.slots[slot as usize];
                // SAFETY: it is in this slot's list.
                unsafe { list.unlink(entry) };
                if list.is_empty() {
                    lvl.occupied &= !(1 << slot);
                }
                list.is_empty()
            }
        };
        // SAFETY: per the contract.
        unsafe { node(entry) }.place = Place::Unlinked;
        self.len -= 1;
        emptied
    }

    /// The earliest occupied slot: its level, index and first tick.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            // Search from the slot after `elapsed`'s: the slot of `elapsed`
            // itself (only ever occupied at the top level, by an entry a
            // whole turn away) comes last.
            let start = ((self.elapsed >> shift) + 1) % SLOTS as u64;
            let offset = u64::from(lvl.occupied.rotate_right(start as u32).trailing_zeros());
            let slot = (start + offset) % SLOTS as u64;
            let slot_range = 1u64 << shift;
            let level_range = slot_range << SLOT_BITS;
            let level_start = self.elapsed & !(level_range - 1);
            let mut tick = level_start + slot * slot_range;
            if tick <= self.elapsed {
                // Only at the top level, for entries beyond its span: the
                // slot is in the next turn of the wheel.
                tick += level_range;
            }
            return Some((level, slot as usize, tick));
        }
        None
    }

    /// The earliest moment (ns) an entry may be due, if any: for entries
    /// in `due`, the earliest deadline among the first few (all within the
    /// current tick or before, so at most a tick after the true earliest,
    /// and a real deadline, so a host that advances its clock to it fires
    /// something); else the start of the earliest occupied slot (a lower
    /// bound; at level 0 within a tick of the deadline).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        /// Bounds the scan when many timers expire together.
        const SCAN: usize = 8;
        let mut earliest = None;
        let mut at = self.due.head;
        for _ in 0..SCAN {
            let Some(entry) = at else { break };
            // SAFETY: `&self` means the lock is held (the wheel is only
            // reached through it); linked entries are alive.
            let deadline = unsafe { node(entry) }.deadline;
            earliest = Some(earliest.map_or(deadline, |e: u64| e.min(deadline)));
            // SAFETY: as above; it is in `due`.
            at = unsafe { self.due.after(entry) };
        }
        earliest.or_else(|| self.next_slot().map(|(_, _, tick)| nanos_of(tick)))
    }

    /// Unlinks and returns one entry whose deadline is at most `now` (ns),
    /// marked `Fired`, or `None` once there is none (the wheel has then
    /// reached `now`'s tick).
    ///
    /// # Safety
    ///
    /// Wheel lock held.
    pub(crate) unsafe fn pop_expired(&mut self, now: u64) -> Option<NonNull<TimerEntry>> {
        // SAFETY: per the contract.
        let entry = unsafe { self.first_due(now) }?;
        // SAFETY: lock held; it is alive and in `due`.
        unsafe {
            self.due.unlink(entry);
            node(entry).place = Place::Fired;
        }
        self.len -= 1;
        Some(entry)
    }

    /// Advances the wheel to `now` (ns), cascading slots as their ticks
    /// pass, and returns an entry of `due` whose deadline is at most `now`,
    /// left linked; `None` if there is none.
    ///
    /// # Safety
    ///
    /// Wheel lock held.
    pub(crate) unsafe fn first_due(&mut self, now: u64) -> Option<NonNull<TimerEntry>> {
        let now_tick = tick_of(now);
        loop {
            // Entries in `due` have reached their tick; only those of the
            // current tick can still be short of their deadline.
            let mut at = self.due.head;
            while let Some(entry) = at {
                // SAFETY: lock held; linked entries are alive.
                if unsafe { node(entry) }.deadline <= now {
                    return Some(entry);
                }
                // SAFETY: as above; it is in `due`.
                at = unsafe { self.due.after(entry) };
            }
            let Some((level, slot, tick)) = self.next_slot().filter(|s| s.2 <= now_tick) else {
                self.elapsed = self.elapsed.max(now_tick);
                return None;
            };
            self.elapsed = tick;
            let lvl = &mut self.levels[level];
            let mut list = core::mem::take(&mut lvl.slots[slot]);
            lvl.occupied &= !(1 << slot);
            // Cascade: each entry moves to `due` or to a lower level.
            // SAFETY: lock held; the entries are alive and leave `list`
            // before they are filed again.
            while let Some(entry) = unsafe { list.pop_front() } {
                // SAFETY: as above.
                unsafe { self.link(entry) };
            }
        }
    }
}

impl Drop for Wheel {
    fn drop(&mut self) {
        // Every timer future unlinks itself before it drops, and each holds
        // its scheduler (and so this wheel) alive until then.
        debug_assert_eq!(self.len, 0, "a timer outlived its wheel");
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    /// Nanoseconds of `t` ticks.
    const fn ticks(t: u64) -> u64 {
        t << TICK_SHIFT
    }

    /// Boxed: an entry must not move while linked.
    #[allow(clippy::vec_box)]
    fn entries(n: usize) -> Vec<Box<TimerEntry>> {
        (0..n).map(|_| Box::new(TimerEntry::new())).collect()
    }

    fn ptr(e: &TimerEntry) -> NonNull<TimerEntry> {
        NonNull::from(e)
    }

    /// Pops everything due by `now` (ns), as indexes into `es`.
    fn fire(wheel: &mut Wheel, es: &[Box<TimerEntry>], now: u64) -> Vec<usize> {
        let mut out = Vec::new();
        // SAFETY: one thread stands in for the lock; entries are alive.
        while let Some(e) = unsafe { wheel.pop_expired(now) } {
            out.push(es.iter().position(|x| ptr(x) == e).unwrap());
        }
        out
    }

    #[test]
    fn a_wheel_costs_a_pointer_per_slot() {
        // Every worker has a wheel: 384 one-pointer lists, the due list,
        // the bitmaps and two counters.
        let slots = LEVELS * SLOTS + 1;
        let words = slots * size_of::<usize>() + (LEVELS + 2) * size_of::<u64>();
        assert!(size_of::<Wheel>() <= words, "{}", size_of::<Wheel>());
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let mut wheel = Wheel::new();
        let es = entries(6);
        let at = [5u64, 1, 64, 63, 4096 + 7, 70];
        for (e, &t) in es.iter().zip(&at) {
            // SAFETY: entries are boxed (do not move) and outlive the test's
            // use of the wheel; all fired before the end.
            unsafe { wheel.insert(ptr(e), ticks(t)) };
        }
        assert_eq!(wheel.len(), 6);
        assert_eq!(wheel.next_deadline(), Some(ticks(1)));
        assert_eq!(fire(&mut wheel, &es, 0), Vec::<usize>::new());
        assert_eq!(fire(&mut wheel, &es, ticks(4)), [1]);
        assert_eq!(fire(&mut wheel, &es, ticks(62)), [0]);
        assert_eq!(wheel.next_deadline(), Some(ticks(63)));
        assert_eq!(fire(&mut wheel, &es, ticks(69)), [3, 2]);
        assert_eq!(fire(&mut wheel, &es, ticks(4096 + 6)), [5]);
        assert_eq!(fire(&mut wheel, &es, u64::MAX / 2), [4]);
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn a_deadline_inside_a_tick_fires_at_its_nanosecond() {
        let mut wheel = Wheel::new();
        let es = entries(2);
        // SAFETY: as above.
        unsafe {
            wheel.insert(ptr(&es[0]), 1_500);
            wheel.insert(ptr(&es[1]), 1_200);
        }
        // Both are in tick 1 (1024..2048): reaching the tick is not enough.
        assert!(wheel.next_deadline().unwrap() <= 1_200);
        assert_eq!(fire(&mut wheel, &es, 1_100), Vec::<usize>::new());
        assert_eq!(wheel.next_deadline(), Some(1_200), "exact once in due");
        assert_eq!(fire(&mut wheel, &es, 1_200), [1]);
        assert_eq!(fire(&mut wheel, &es, 1_499), Vec::<usize>::new());
        assert_eq!(fire(&mut wheel, &es, 1_500), [0]);
        // A deadline already passed is filed as due, and pops next time.
        // SAFETY: as above.
        unsafe {
            wheel.remove(ptr(&es[0])); // fired: back to unlinked
            wheel.insert(ptr(&es[0]), 10);
        }
        assert_eq!(fire(&mut wheel, &es, 1_600), [0]);
    }

    #[test]
    fn remove_unlinks_from_slots_and_due() {
        let mut wheel = Wheel::new();
        let es = entries(3);
        // SAFETY: as above.
        unsafe {
            wheel.insert(ptr(&es[0]), ticks(100));
            wheel.insert(ptr(&es[1]), ticks(100));
            wheel.insert(ptr(&es[2]), ticks(1 << 20));
            wheel.remove(ptr(&es[0]));
            assert_eq!(wheel.place(ptr(&es[0])), Place::Unlinked);
            wheel.remove(ptr(&es[0])); // twice is fine
        }
        assert_eq!(fire(&mut wheel, &es, ticks(200)), [1]);
        // SAFETY: as above.
        unsafe {
            assert_eq!(wheel.place(ptr(&es[1])), Place::Fired);
            wheel.remove(ptr(&es[1]));
            assert_eq!(wheel.place(ptr(&es[1])), Place::Unlinked, "ready to re-arm");
            wheel.insert(ptr(&es[0]), ticks(200) + 1);
            assert_eq!(wheel.place(ptr(&es[0])), Place::Due);
            wheel.remove(ptr(&es[0]));
            wheel.remove(ptr(&es[2]));
        }
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn far_deadlines_beyond_the_top_level_wait_their_turn() {
        let mut wheel = Wheel::new();
        let es = entries(2);
        let far = 5u64 << 36; // ticks: several turns of the top level
        // SAFETY: as above.
        unsafe {
            wheel.insert(ptr(&es[0]), ticks(far));
            wheel.insert(ptr(&es[1]), u64::MAX);
        }
        let mut now = 0;
        // Advance in big steps: nothing fires before its deadline.
        while now < far - 1 {
            now = (now + (1 << 35)).min(far - 1);
            assert!(
                fire(&mut wheel, &es, ticks(now)).is_empty(),
                "early at {now}"
            );
        }
        assert_eq!(fire(&mut wheel, &es, ticks(far)), [0]);
        // SAFETY: as above.
        unsafe { wheel.remove(ptr(&es[1])) };
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn random_operations_keep_the_earliest_deadline_a_lower_bound() {
        // Inserts, removes, pops and advances with clocks that disagree
        // (each shard's wheel is driven by several threads' clocks): the
        // wheel's earliest deadline is never after a linked entry's, and is
        // `None` only when nothing is linked.
        let es = entries(64);
        let mut wheel = Wheel::new();
        let mut linked: Vec<Option<u64>> = alloc::vec![None; es.len()];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut now = 0u64;
        let steps = if cfg!(miri) { 2_000 } else { 200_000 };
        for _ in 0..steps {
            let i = (next() % es.len() as u64) as usize;
            match next() % 4 {
                0 => {
                    // SAFETY: boxed entries, removed before the end.
                    unsafe { wheel.remove(ptr(&es[i])) };
                    linked[i] = None;
                    let d = now + next() % (1 << (next() % 36));
                    // SAFETY: as above; unlinked just now.
                    unsafe { wheel.insert(ptr(&es[i]), d) };
                    linked[i] = Some(d);
                }
                1 => {
                    // SAFETY: as above.
                    unsafe { wheel.remove(ptr(&es[i])) };
                    linked[i] = None;
                }
                2 => {
                    // Another thread's clock, a little behind or ahead.
                    let at = (now + next() % 4096).saturating_sub(2048);
                    // SAFETY: as above.
                    while let Some(e) = unsafe { wheel.pop_expired(at) } {
                        let j = es.iter().position(|x| ptr(x) == e).unwrap();
                        assert!(linked[j].unwrap() <= at, "early");
                        linked[j] = None;
                        // SAFETY: as above; back to unlinked.
                        unsafe { wheel.remove(e) };
                    }
                }
                _ => {
                    now += next() % (1 << (next() % 30));
                    // SAFETY: as above.
                    let _ = unsafe { wheel.first_due(now) };
                }
            }
            let live: Vec<u64> = linked.iter().flatten().copied().collect();
            assert_eq!(wheel.len(), live.len());
            match (wheel.next_deadline(), live.iter().min()) {
                (None, None) => {}
                (Some(n), Some(&m)) => assert!(n <= m, "earliest {n} after a deadline {m}"),
                (n, m) => panic!("earliest {n:?} with deadlines {m:?}"),
            }
        }
        for e in &es {
            // SAFETY: as above.
            unsafe { wheel.remove(ptr(e)) };
        }
    }

    #[test]
    fn many_timers_insert_and_cancel() {
        let mut wheel = Wheel::new();
        // Fewer under miri, which is about a thousand times slower.
        let n = if cfg!(miri) { 400 } else { 10_000 };
        let es = entries(n);
        let deadline = |i: usize| 1 + (i as u64 * 7_919_003) % 1_000_000_000;
        for (i, e) in es.iter().enumerate() {
            // SAFETY: as above.
            unsafe { wheel.insert(ptr(e), deadline(i)) };
        }
        assert_eq!(wheel.len(), n);
        for e in es.iter().step_by(2) {
            // SAFETY: as above.
            unsafe { wheel.remove(ptr(e)) };
        }
        // Fire in steps, checking nothing fires early.
        let mut fired = Vec::new();
        let mut now = 0;
        let step = if cfg!(miri) { 50_000_017 } else { 3_000_017 };
        while now < 2_000_000_000 {
            now += step;
            for i in fire(&mut wheel, &es, now) {
                assert!(deadline(i) <= now, "early");
                fired.push(i);
            }
        }
        assert_eq!(fired.len(), n / 2);
        assert!(fired.iter().all(|i| i % 2 == 1));
        assert_eq!(wheel.len(), 0);
    }
}
