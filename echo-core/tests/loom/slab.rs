//! The slab's cross-thread paths: a remote free racing the owner's own
//! allocations, frees and collection, and a remote free racing the heap's
//! detach (orphaning).
//!
//! Slots are raw memory, which loom does not see. Each slot therefore has a
//! loom cell standing in for the task written in it: the thread that used
//! the task last writes the cell before freeing the slot, and whoever gets
//! the slot next writes it again, so loom reports a data race if a free is
//! not ordered before the slot's reuse. Checks: no slot is handed out twice,
//! every page is released exactly once (its keep-alive reference is
//! acquired and released the same number of times), and the page pool gets
//! every page back (its drop asserts that).
//!
//! Loom's partial-order reduction only remembers an atomic's last access,
//! so a thread's own load of a page's remote list hides the owner's earlier
//! load from it and loom would not try the other orders. `Points` gives
//! both sides a shared relaxed counter to bump at each step: relaxed
//! read-modify-writes conflict (so loom tries both orders at each step)
//! but order nothing (so they hide no missing synchronization).

use echo_sched_core::internals::{Heap, KeepAlive, PagePool, Slot, free_remote};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::{Relaxed, SeqCst};
use loom::thread;

/// The scheduler a page keeps alive: here, two counters.
#[derive(Default)]
struct KeepCounts {
    acquired: AtomicUsize,
    released: AtomicUsize,
}

unsafe fn acquire(p: *const ()) {
    // SAFETY: `p` is the `KeepCounts` of `keep_alive`, alive for the model.
    unsafe { &*p.cast::<KeepCounts>() }
        .acquired
        .fetch_add(1, SeqCst);
}

unsafe fn release(p: *const ()) {
    // SAFETY: as in `acquire`.
    let counts = unsafe { &*p.cast::<KeepCounts>() };
    let prev = counts.released.fetch_add(1, SeqCst);
    assert!(
        prev < counts.acquired.load(SeqCst),
        "a page was released more often than it was made"
    );
}

fn keep_alive(counts: &Arc<KeepCounts>) -> KeepAlive {
    KeepAlive {
        ptr: Arc::as_ptr(counts).cast(),
        acquire,
        release,
    }
}

/// A slot handed to another thread (its task's last reference moved there).
struct Moved(Slot);
// SAFETY: the receiving thread is the only user of the slot from then on.
unsafe impl Send for Moved {}

/// Loom cells standing in for the first slots' contents, by slot index.
struct Contents {
    base: usize,
    size: usize,
    cells: Vec<UnsafeCell<usize>>,
}

impl Contents {
    fn new(first: &Slot, size: usize, n: usize) -> Contents {
        Contents {
            base: first.ptr.as_ptr() as usize,
            size,
            cells: (0..n).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    /// Writes `value` into the cell of `slot` (a task using its slot).
    fn write(&self, slot: &Slot, value: usize) {
        let i = (slot.ptr.as_ptr() as usize - self.base) / self.size;
        // SAFETY: a loom cell; loom reports unordered access.
        self.cells[i].with_mut(|c| unsafe { *c = value });
    }
}

/// Scheduling points shared by the threads of a model (see the module
/// docs).
#[derive(Default)]
struct Points(AtomicUsize);

impl Points {
    fn here(&self) {
        self.0.fetch_add(1, Relaxed);
    }
}

const CLASS: usize = 0;
const SIZE: usize = echo_sched_core::internals::CLASS_SIZES[CLASS];

/// Every address in `live` distinct.
fn assert_distinct(live: &[&Slot]) {
    let mut addrs: Vec<usize> = live.iter().map(|s| s.ptr.as_ptr() as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), live.len(), "a slot was handed out twice");
}

#[test]
fn owner_alloc_free_and_trim_race_a_remote_free() {
    crate::model("slab::owner_races_remote_free", || {
        let counts = Arc::new(KeepCounts::default());
        let keep = keep_alive(&counts);
        let pool = PagePool::new();
        let mut heap = Heap::new(0);
        let a = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let b = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let contents = Arc::new(Contents::new(&a, SIZE, 4));
        contents.write(&a, 1);
        contents.write(&b, 1);

        let points = Arc::new(Points::default());
        // Slot `a`'s task finishes on another thread, which frees it.
        let remote = {
            let (contents, a, points) = (contents.clone(), Moved(a), points.clone());
            thread::spawn(move || {
                let Moved(a) = a;
                points.here();
                contents.write(&a, 2);
                points.here();
                // SAFETY: `a` is allocated and nobody else uses it.
                unsafe { free_remote(a.page, a.ptr) };
            })
        };

        // Meanwhile the owner frees and reallocates locally, and collects.
        points.here();
        // SAFETY: `b` is this heap's, unused, and this thread owns the heap.
        unsafe { heap.free_local(b.page, b.ptr) };
        let c = heap.alloc(CLASS, &keep, &pool).expect("memory");
        assert_eq!(c.ptr, b.ptr, "a local free is reused first");
        contents.write(&c, 3);
        points.here();
        heap.trim();
        points.here();
        let d = heap.alloc(CLASS, &keep, &pool).expect("memory");
        contents.write(&d, 3);
        remote.join().unwrap();
        heap.trim();
        let e = heap.alloc(CLASS, &keep, &pool).expect("memory");
        contents.write(&e, 3);
        assert_distinct(&[&c, &d, &e]);
        // Both freed slots are back in use or free; nothing else was taken
        // from the bump pointer beyond one fresh slot.
        let firsts = contents.base..contents.base + 3 * SIZE;
        for s in [&c, &d, &e] {
            assert!(firsts.contains(&(s.ptr.as_ptr() as usize)), "slot leaked");
        }
        for s in [c, d, e] {
            // SAFETY: allocated above, unused; this thread owns the heap.
            unsafe { heap.free_local(s.page, s.ptr) };
        }
        drop(heap);
        assert_eq!(counts.acquired.load(SeqCst), 1);
        assert_eq!(counts.released.load(SeqCst), 1, "page not released once");
        drop(pool); // asserts every page came back
    });
}

#[test]
fn detach_races_remote_frees() {
    crate::model("slab::detach_races_remote_frees", || {
        let counts = Arc::new(KeepCounts::default());
        let keep = keep_alive(&counts);
        let pool = Arc::new(PagePool::new());
        let mut heap = Heap::new(0);
        let a = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let b = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let c = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let contents = Arc::new(Contents::new(&a, SIZE, 3));
        let points = Arc::new(Points::default());
        let frees: Vec<_> = [a, b]
            .into_iter()
            .map(|s| {
                let (contents, s, points) = (contents.clone(), Moved(s), points.clone());
                thread::spawn(move || {
                    let Moved(s) = s;
                    contents.write(&s, 2);
                    points.here();
                    // SAFETY: allocated and unused by anyone else.
                    unsafe { free_remote(s.page, s.ptr) };
                })
            })
            .collect();
        // Shutdown: the owner gives the heap up while the frees land.
        points.here();
        // SAFETY: this thread owns the heap and stops using it.
        unsafe { heap.detach() };
        for f in frees {
            f.join().unwrap();
        }
        assert_eq!(
            counts.released.load(SeqCst),
            0,
            "page released with a live slot"
        );
        // The last live slot's free returns the orphaned page.
        contents.write(&c, 2);
        // SAFETY: allocated and unused.
        unsafe { free_remote(c.page, c.ptr) };
        assert_eq!(counts.acquired.load(SeqCst), 1);
        assert_eq!(counts.released.load(SeqCst), 1, "page not released once");
        drop(heap);
        assert_eq!(counts.released.load(SeqCst), 1);
    });
}

#[test]
fn the_last_remote_free_of_an_orphan_races_detach() {
    crate::model("slab::last_free_races_detach", || {
        let counts = Arc::new(KeepCounts::default());
        let keep = keep_alive(&counts);
        let pool = Arc::new(PagePool::new());
        let mut heap = Heap::new(0);
        let a = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let b = heap.alloc(CLASS, &keep, &pool).expect("memory");
        let contents = Arc::new(Contents::new(&a, SIZE, 2));
        // Both slots are freed remotely while the heap detaches: whichever
        // happens last returns the page, exactly once.
        let points = Arc::new(Points::default());
        let frees: Vec<_> = [a, b]
            .into_iter()
            .map(|s| {
                let (contents, s, points) = (contents.clone(), Moved(s), points.clone());
                thread::spawn(move || {
                    let Moved(s) = s;
                    contents.write(&s, 2);
                    points.here();
                    // SAFETY: allocated and unused by anyone else.
                    unsafe { free_remote(s.page, s.ptr) };
                })
            })
            .collect();
        points.here();
        // SAFETY: this thread owns the heap and stops using it.
        unsafe { heap.detach() };
        for f in frees {
            f.join().unwrap();
        }
        assert_eq!(counts.acquired.load(SeqCst), 1);
        assert_eq!(counts.released.load(SeqCst), 1, "page not released once");
        drop(heap);
        drop(pool);
    });
}
