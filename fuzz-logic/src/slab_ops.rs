//! `slab_ops`: allocations, local and remote frees, trims, walks, detaches
//! and large pages, on the real slab, against a model of its pages.
//!
//! The model follows the slab's documented policy page by page: which page
//! an allocation comes from (the class's current page, then the class's
//! other pages after collecting their remote frees, then a spare, then a
//! new page), when an emptied page becomes a spare or goes back, what
//! trim and detach return, and when an orphaned page's last free returns
//! it. Checked after every operation:
//!
//! - no slot is handed out twice, every slot lies in its page, on its
//!   class's grid, and belongs to the heap that allocated it;
//! - a live slot's contents are never touched by the slab (each is filled
//!   with a pattern and checked before its free);
//! - a freed slot is reused before any new memory is taken, and a new page
//!   is taken only when the model says none has room;
//! - pages made and released (the keep-alive's acquire and release calls)
//!   match the model exactly, and balance to zero at the end; the walk
//!   finds exactly the live slots;
//! - chunks come from the pool's source and go back to it exactly when the
//!   model of the pool says (a chunk is held while one of its pages is
//!   out); while the source refuses, an allocation that needs a new chunk
//!   fails and changes nothing, and one that a held chunk can serve
//!   succeeds.

use crate::Input;
use echo_sched_core::internals::{
    CHUNK_PAGES, CLASS_SIZES, ChunkSource, Heap, KeepAlive, LargeList, PAGE_BYTES, PagePool, Slot,
    free_remote, large_offset, release_page,
};
use std::alloc::Layout;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ptr::NonNull;

const PAGE_HEADER: usize = 256;
const MAX_SPARES: usize = 8;
const HEAPS: usize = 3;
/// The classes the target uses: small ones (many slots a page) and the
/// largest (few, so pages fill up quickly).
const CLASSES: [usize; 4] = [0, 3, 14, 22];

#[derive(Default)]
struct KeepCounts {
    acquired: Cell<usize>,
    released: Cell<usize>,
    /// Chunks the pool holds from `chunk_alloc`.
    chunks: Cell<usize>,
    /// Whether `chunk_alloc` refuses.
    refuse: Cell<bool>,
}

const CHUNK_BYTES: usize = PAGE_BYTES * CHUNK_PAGES;

unsafe fn chunk_alloc(p: *const (), layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: the pool's context is the keep-alive pointer, the run's
    // `KeepCounts`.
    let c = unsafe { &*p.cast::<KeepCounts>() };
    assert_eq!(layout.size(), CHUNK_BYTES);
    assert_eq!(layout.align(), CHUNK_BYTES);
    if c.refuse.get() {
        return None;
    }
    c.chunks.set(c.chunks.get() + 1);
    // SAFETY: a non-zero size.
    NonNull::new(unsafe { std::alloc::alloc(layout) })
}

unsafe fn chunk_free(p: *const (), chunk: NonNull<u8>, layout: Layout) {
    // SAFETY: as in `chunk_alloc`.
    let c = unsafe { &*p.cast::<KeepCounts>() };
    c.chunks.set(c.chunks.get() - 1);
    // SAFETY: from `chunk_alloc` with this layout.
    unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) };
}

unsafe fn acquire(p: *const ()) {
    // SAFETY: `p` is the run's `KeepCounts`, which outlives every page.
    let c = unsafe { &*p.cast::<KeepCounts>() };
    c.acquired.set(c.acquired.get() + 1);
}

unsafe fn release(p: *const ()) {
    // SAFETY: as in `acquire`.
    let c = unsafe { &*p.cast::<KeepCounts>() };
    c.released.set(c.released.get() + 1);
    assert!(
        c.released.get() <= c.acquired.get(),
        "released more than made"
    );
}

#[derive(Debug)]
struct PageM {
    heap: usize,
    class: usize,
    capacity: usize,
    /// Slots the owner counts as used: live plus freed remotely and not
    /// yet collected.
    used: usize,
    pending: usize,
    live: HashSet<usize>,
    orphan_live: Option<usize>,
}

#[derive(Default)]
struct ClassM {
    current: Option<usize>,
    pages: Vec<usize>,
}

struct HeapM {
    classes: HashMap<usize, ClassM>,
    spares: Vec<usize>,
    detached: bool,
}

struct Live {
    slot: Slot,
    heap: usize,
    size: usize,
    pattern: u8,
}

struct Sim {
    counts: Box<KeepCounts>,
    keep: KeepAlive,
    /// Boxed: pages keep a pointer to their pool, so it must not move
    /// (the scheduler keeps it inside its `Arc`).
    pool: Box<PagePool>,
    large: LargeList,
    heaps: Vec<Heap>,
    model: Vec<HeapM>,
    pages: HashMap<usize, PageM>,
    /// The pool's chunks, by address: how many of their pages are out.
    chunks: HashMap<usize, usize>,
    expect_acquired: usize,
    expect_released: usize,
    live: Vec<Live>,
    large_live: Vec<Live>,
    addrs: HashSet<usize>,
    next_pattern: u8,
}

fn page_of(slot: &Slot) -> usize {
    slot.page.as_ptr() as usize
}

fn fill(slot: &Slot, size: usize, pattern: u8) {
    // SAFETY: the slot is allocated to us and `size` bytes long.
    unsafe { core::ptr::write_bytes(slot.ptr.as_ptr(), pattern, size) };
}

fn check_fill(slot: &Slot, size: usize, pattern: u8) {
    // SAFETY: as in `fill`.
    let bytes = unsafe { core::slice::from_raw_parts(slot.ptr.as_ptr(), size) };
    assert!(
        bytes.iter().all(|&b| b == pattern),
        "the slab wrote into a live slot"
    );
}

impl Sim {
    fn new() -> Sim {
        let counts = Box::new(KeepCounts::default());
        let keep = KeepAlive {
            ptr: (&*counts as *const KeepCounts).cast(),
            acquire,
            release,
        };
        Sim {
            counts,
            keep,
            pool: Box::new(PagePool::with_source(ChunkSource {
                alloc: chunk_alloc,
                free: chunk_free,
            })),
            large: LargeList::new(),
            heaps: (0..HEAPS).map(|i| Heap::new(i as u32)).collect(),
            model: (0..HEAPS)
                .map(|_| HeapM {
                    classes: HashMap::new(),
                    spares: Vec::new(),
                    detached: false,
                })
                .collect(),
            pages: HashMap::new(),
            chunks: HashMap::new(),
            expect_acquired: 0,
            expect_released: 0,
            live: Vec::new(),
            large_live: Vec::new(),
            addrs: HashSet::new(),
            next_pattern: 1,
        }
    }

    fn check_counts(&self) {
        assert_eq!(
            self.counts.acquired.get(),
            self.expect_acquired,
            "pages made"
        );
        assert_eq!(
            self.counts.released.get(),
            self.expect_released,
            "pages released"
        );
        assert_eq!(self.counts.chunks.get(), self.chunks.len(), "chunks held");
        assert_eq!(self.pool.chunks(), self.chunks.len(), "the pool's count");
    }

    /// The pool has a free page of a held chunk.
    fn pool_has_free_page(&self) -> bool {
        self.chunks.values().any(|&out| out < CHUNK_PAGES)
    }

    fn release_page_m(&mut self, page: usize) {
        let p = self.pages.remove(&page).expect("a known page");
        assert_eq!(p.used - p.pending, 0, "released a page with live slots");
        self.expect_released += 1;
        let chunk = page & !(CHUNK_BYTES - 1);
        let out = self.chunks.get_mut(&chunk).expect("a held chunk");
        *out -= 1;
        if *out == 0 {
            self.chunks.remove(&chunk);
        }
    }

    /// `Page::collect_remote` on the model.
    fn collect(&mut self, page: usize) {
        let p = self.pages.get_mut(&page).expect("a known page");
        p.used -= p.pending;
        p.pending = 0;
    }

    /// `Heap::maybe_release` on the model.
    fn maybe_release(&mut self, h: usize, page: usize) {
        let class = self.pages[&page].class;
        let c = self.model[h].classes.get_mut(&class).expect("class");
        if c.current == Some(page) {
            return;
        }
        let index = c.pages.iter().position(|&p| p == page).expect("listed");
        c.pages.swap_remove(index);
        if self.model[h].spares.len() < MAX_SPARES {
            self.model[h].spares.push(page);
        } else {
            self.release_page_m(page);
        }
    }

    /// Which page the model says an allocation of `class` in heap `h`
    /// comes from; `None` for a new page.
    fn predict_alloc(&mut self, h: usize, class: usize) -> Option<usize> {
        let c = self.model[h].classes.entry(class).or_default();
        if let Some(cur) = c.current {
            let p = &self.pages[&cur];
            if p.used < p.capacity {
                return Some(cur);
            }
        }
        let pages = c.pages.clone();
        for page in pages {
            self.collect(page);
            let p = &self.pages[&page];
            if p.used < p.capacity {
                self.model[h].classes.get_mut(&class).unwrap().current = Some(page);
                return Some(page);
            }
        }
        let spare = self.model[h].spares.pop()?;
        let size = CLASS_SIZES[class];
        let p = self.pages.get_mut(&spare).expect("spare");
        assert_eq!(p.used, 0);
        p.class = class;
        p.capacity = (PAGE_BYTES - PAGE_HEADER) / size;
        let c = self.model[h].classes.get_mut(&class).unwrap();
        c.pages.push(spare);
        c.current = Some(spare);
        Some(spare)
    }

    fn alloc(&mut self, h: usize, class: usize) {
        if self.model[h].detached {
            return;
        }
        let predicted = self.predict_alloc(h, class);
        let refused = predicted.is_none() && !self.pool_has_free_page() && self.counts.refuse.get();
        let slot = self.heaps[h].alloc(class, &self.keep, &self.pool);
        let Some(slot) = slot else {
            assert!(refused, "an allocation failed that had memory");
            self.check_counts();
            return;
        };
        assert!(!refused, "an allocation succeeded with no memory");
        let page = page_of(&slot);
        let size = CLASS_SIZES[class];
        match predicted {
            Some(p) => assert_eq!(page, p, "allocated from an unexpected page"),
            None => {
                assert!(!self.pages.contains_key(&page), "new page is a live one");
                let chunk = page & !(CHUNK_BYTES - 1);
                let had_free = self.pool_has_free_page();
                let out = self.chunks.entry(chunk).or_insert(0);
                assert_eq!(
                    *out > 0,
                    had_free,
                    "a new chunk only when no held chunk has a free page"
                );
                *out += 1;
                self.expect_acquired += 1;
                self.pages.insert(
                    page,
                    PageM {
                        heap: h,
                        class,
                        capacity: (PAGE_BYTES - PAGE_HEADER) / size,
                        used: 0,
                        pending: 0,
                        live: HashSet::new(),
                        orphan_live: None,
                    },
                );
                let c = self.model[h].classes.get_mut(&class).unwrap();
                c.pages.push(page);
                c.current = Some(page);
            }
        }
        let addr = slot.ptr.as_ptr() as usize;
        assert_eq!(page % PAGE_BYTES, 0, "page not aligned to its size");
        assert!(addr >= page + PAGE_HEADER && addr + size <= page + PAGE_BYTES);
        assert_eq!((addr - page - PAGE_HEADER) % size, 0, "slot off the grid");
        // SAFETY: the page lives while its slot is allocated.
        assert_eq!(unsafe { slot.page.as_ref() }.owner(), h as u32);
        assert!(self.addrs.insert(addr), "slot {addr:#x} handed out twice");
        let p = self.pages.get_mut(&page).unwrap();
        p.used += 1;
        assert!(p.used <= p.capacity);
        p.live.insert(addr);
        let pattern = self.pattern();
        fill(&slot, size, pattern);
        self.live.push(Live {
            slot,
            heap: h,
            size,
            pattern,
        });
        self.check_counts();
    }

    fn pattern(&mut self) -> u8 {
        self.next_pattern = self.next_pattern.wrapping_add(1).max(1);
        self.next_pattern
    }

    fn free(&mut self, i: usize, remote: bool) {
        if self.live.is_empty() {
            return;
        }
        let i = i % self.live.len();
        let h = self.live[i].heap;
        // Once detached, every free is remote (no owner is left).
        let remote = remote || self.model[h].detached;
        let l = self.live.swap_remove(i);
        check_fill(&l.slot, l.size, l.pattern);
        let addr = l.slot.ptr.as_ptr() as usize;
        let page = page_of(&l.slot);
        assert!(self.addrs.remove(&addr));
        let p = self.pages.get_mut(&page).unwrap();
        assert_eq!(p.heap, h, "a slot's page belongs to its heap");
        assert!(p.live.remove(&addr));
        if remote {
            // SAFETY: allocated, unused from now on, on a small page.
            unsafe { free_remote(l.slot.page, l.slot.ptr) };
            match &mut p.orphan_live {
                Some(n) => {
                    *n -= 1;
                    p.used -= 1;
                    if *n == 0 {
                        self.release_page_m(page);
                    }
                }
                None => p.pending += 1,
            }
        } else {
            // SAFETY: the slot is heap `h`'s, unused from now on, and this
            // thread plays heap `h`'s owner.
            unsafe { self.heaps[h].free_local(l.slot.page, l.slot.ptr) };
            p.used -= 1;
            if p.used == 0 {
                self.maybe_release(h, page);
            }
        }
        self.check_counts();
    }

    fn trim(&mut self, h: usize) {
        if self.model[h].detached {
            return;
        }
        self.heaps[h].trim();
        for class in CLASSES {
            let mut i = 0;
            while let Some(&page) = self.model[h]
                .classes
                .get(&class)
                .and_then(|c| c.pages.get(i))
            {
                let current = self.model[h].classes[&class].current;
                self.collect(page);
                if self.pages[&page].used == 0 && current != Some(page) {
                    self.maybe_release(h, page);
                } else {
                    i += 1;
                }
            }
        }
        for page in std::mem::take(&mut self.model[h].spares) {
            self.release_page_m(page);
        }
        self.check_counts();
    }

    fn walk(&mut self, h: usize) {
        if self.model[h].detached {
            return;
        }
        let mut seen = Vec::new();
        // SAFETY: this thread plays the owner, which is not using the heap
        // during the walk; the callback frees nothing.
        unsafe { self.heaps[h].for_each_used(|p| seen.push(p.as_ptr() as usize)) };
        let mut expect = Vec::new();
        for class in CLASSES {
            if let Some(c) = self.model[h].classes.get(&class) {
                for &page in &c.pages.clone() {
                    self.collect(page);
                    expect.extend(self.pages[&page].live.iter().copied());
                }
            }
        }
        seen.sort_unstable();
        expect.sort_unstable();
        assert_eq!(seen, expect, "the walk must find exactly the live slots");
    }

    fn detach(&mut self, h: usize) {
        if self.model[h].detached {
            return;
        }
        // SAFETY: this thread plays the owner and stops using the heap.
        unsafe { self.heaps[h].detach() };
        assert!(self.heaps[h].is_detached());
        self.model[h].detached = true;
        for page in std::mem::take(&mut self.model[h].spares) {
            self.release_page_m(page);
        }
        for class in CLASSES {
            let Some(c) = self.model[h].classes.remove(&class) else {
                continue;
            };
            for page in c.pages {
                self.collect(page);
                let p = self.pages.get_mut(&page).unwrap();
                if p.used == 0 {
                    self.release_page_m(page);
                } else {
                    p.orphan_live = Some(p.used);
                }
            }
        }
        self.check_counts();
    }

    fn large_alloc(&mut self, size_sel: usize, align_sel: usize) {
        let size = 1025 + size_sel * 97;
        let align = 8 << align_sel;
        let slot = self.large.alloc(size, align, &self.keep).expect("memory");
        self.expect_acquired += 1;
        let addr = slot.ptr.as_ptr() as usize;
        assert_eq!(addr % align, 0, "large slot misaligned");
        assert_eq!(addr - page_of(&slot), large_offset(align));
        assert!(self.addrs.insert(addr), "large slot handed out twice");
        let pattern = self.pattern();
        fill(&slot, size, pattern);
        self.large_live.push(Live {
            slot,
            heap: usize::MAX,
            size,
            pattern,
        });
        self.check_large();
    }

    fn large_free(&mut self, i: usize) {
        if self.large_live.is_empty() {
            return;
        }
        let l = self.large_live.swap_remove(i % self.large_live.len());
        check_fill(&l.slot, l.size, l.pattern);
        assert!(self.addrs.remove(&(l.slot.ptr.as_ptr() as usize)));
        // SAFETY: a large page of this list, its object unused.
        unsafe {
            self.large.unlink(l.slot.page);
            release_page(l.slot.page);
        }
        self.expect_released += 1;
        self.check_large();
    }

    fn check_large(&self) {
        let mut seen: Vec<usize> = self
            .large
            .collect(|_| true)
            .iter()
            .map(|p| p.as_ptr() as usize)
            .collect();
        let mut expect: Vec<usize> = self
            .large_live
            .iter()
            .map(|l| l.slot.ptr.as_ptr() as usize)
            .collect();
        seen.sort_unstable();
        expect.sort_unstable();
        assert_eq!(seen, expect, "the large list");
        self.check_counts();
    }

    /// Frees everything, detaches every heap, and checks the balance.
    fn finish(mut self) {
        while !self.live.is_empty() {
            self.free(0, false);
        }
        while !self.large_live.is_empty() {
            self.large_free(0);
        }
        for h in 0..HEAPS {
            self.detach(h);
        }
        assert!(self.pages.is_empty(), "pages left: {:?}", self.pages);
        assert_eq!(self.counts.acquired.get(), self.counts.released.get());
        drop(self.heaps);
        drop(self.pool); // debug builds assert that every page came back
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut sim = Sim::new();
    while !input.done() {
        let op = input.below(10);
        let h = input.below(HEAPS);
        match op {
            0 | 1 => {
                let class = CLASSES[input.below(CLASSES.len())];
                let n = if op == 0 { 1 } else { 1 + input.below(80) };
                for _ in 0..n {
                    sim.alloc(h, class);
                }
            }
            2 => {
                let i = input.byte();
                sim.free(usize::from(i), false);
            }
            3 => {
                let i = input.byte();
                sim.free(usize::from(i), true);
            }
            4 => {
                // Free a run of slots, locally or remotely.
                let remote = input.bool();
                for _ in 0..input.below(64) {
                    let i = input.byte();
                    sim.free(usize::from(i), remote);
                }
            }
            5 => sim.trim(h),
            6 => sim.walk(h),
            7 => match input.below(8) {
                0 => sim.detach(h),
                1 => sim.counts.refuse.set(!sim.counts.refuse.get()),
                _ => {}
            },
            8 => {
                let (s, a) = (input.below(40), input.below(7));
                sim.large_alloc(s, a);
            }
            9 => {
                let i = input.byte();
                sim.large_free(usize::from(i));
            }
            _ => {}
        }
    }
    sim.finish();
}
