//! A heap: one owner's pages (a worker's, or a shard's that serves threads
//! outside the pool), one list per size class plus spare empty pages, and
//! the trim that returns what an idle owner does not need.

use super::layout::{CLASS_SIZES, NUM_CLASSES, PAGE_BYTES, PAGE_HEADER};
use super::page::{KeepAlive, Page, Slot, write_link};
use super::pool::PagePool;
use alloc::vec::Vec;
use core::ptr::NonNull;

/// Empty pages a heap keeps for reuse before returning them.
const MAX_SPARES: usize = 8;

/// One class's pages in a heap.
pub(super) struct Class {
    pub(super) current: Option<NonNull<Page>>,
    pub(super) pages: Vec<NonNull<Page>>,
}

/// An owner's set of pages, one list per size class.
pub struct Heap {
    id: u32,
    pub(super) classes: [Class; NUM_CLASSES],
    /// Empty pages, reusable by any class.
    pub(super) spares: Vec<NonNull<Page>>,
    /// Set by `detach`: the heap may not allocate again.
    pub(super) detached: bool,
}

// SAFETY: a heap is owner-only state; moving it to another thread moves the
// ownership with it (the raw page pointers are owned by the heap).
unsafe impl Send for Heap {}

impl Heap {
    /// An empty heap whose pages carry owner id `id`.
    pub fn new(id: u32) -> Heap {
        Heap {
            id,
            classes: core::array::from_fn(|_| Class {
                current: None,
                pages: Vec::new(),
            }),
            spares: Vec::new(),
            detached: false,
        }
    }

    /// Whether `detach` has run.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// Takes a slot of class `class`, or `None` if a new page was needed
    /// and `pool` had none to give (the heap is unchanged then).
    #[inline]
    pub fn alloc(&mut self, class: usize, keep: &KeepAlive, pool: &PagePool) -> Option<Slot> {
        debug_assert!(!self.detached);
        if let Some(page) = self.classes[class].current {
            // SAFETY: this heap owns its pages.
            if let Some(ptr) = unsafe { page.as_ref().take() } {
                return Some(Slot { ptr, page });
            }
        }
        self.alloc_slow(class, keep, pool)
    }

    #[cold]
    fn alloc_slow(&mut self, class: usize, keep: &KeepAlive, pool: &PagePool) -> Option<Slot> {
        let c = &mut self.classes[class];
        // Frees by other threads first: the cheapest room there is.
        for &page in &c.pages {
            // SAFETY: this heap owns its pages.
            let p = unsafe { page.as_ref() };
            // SAFETY: as above.
            unsafe { p.collect_remote() };
            // SAFETY: as above.
            if let Some(ptr) = unsafe { p.take() } {
                c.current = Some(page);
                return Some(Slot { ptr, page });
            }
        }
        // The list's room first: a refusal, not an abort, if the global
        // allocator has none.
        c.pages.try_reserve(1).ok()?;
        let size = CLASS_SIZES[class];
        let capacity = (PAGE_BYTES - PAGE_HEADER) / size;
        let page = match self.spares.pop() {
            Some(page) => {
                // SAFETY: a spare is ours and empty.
                unsafe { Page::reformat(page, class as u32, size, capacity) };
                page
            }
            None => Page::create(
                self.id,
                class as u32,
                size,
                capacity,
                PAGE_HEADER,
                PagePool::PAGE_LAYOUT,
                keep,
                Some(pool),
            )?,
        };
        // SAFETY: the page is ours.
        unsafe { page.as_ref().own() }.index = c.pages.len() as u32;
        c.pages.push(page);
        c.current = Some(page);
        // SAFETY: a fresh page has free slots.
        let ptr = unsafe { page.as_ref().take() }.expect("fresh page has room");
        Some(Slot { ptr, page })
    }

    /// Frees a slot of one of this heap's pages.
    ///
    /// # Safety
    ///
    /// `page` belongs to this heap, `slot` is an allocated slot of it that
    /// nobody uses any more, and the caller is the heap's owner.
    #[inline]
    pub unsafe fn free_local(&mut self, page: NonNull<Page>, slot: NonNull<u8>) {
        // SAFETY: per the contract, the page is ours.
        let p = unsafe { page.as_ref() };
        debug_assert_eq!(p.meta.owner, self.id);
        // SAFETY: owner-only.
        let own = unsafe { p.own() };
        // SAFETY: the slot is free now and ours.
        unsafe { write_link(slot.as_ptr(), own.free) };
        own.free = slot.as_ptr();
        own.used -= 1;
        if own.used == 0 {
            self.maybe_release(page);
        }
    }

    /// Takes an empty page off its class (unless it is the class's current
    /// page) and keeps it as a spare, or returns it if there are enough.
    fn maybe_release(&mut self, page: NonNull<Page>) {
        // SAFETY: the page is ours.
        let p = unsafe { page.as_ref() };
        let c = &mut self.classes[p.meta.class as usize];
        if c.current == Some(page) {
            return;
        }
        // SAFETY: owner-only.
        let index = unsafe { p.own() }.index as usize;
        c.pages.swap_remove(index);
        if let Some(&moved) = c.pages.get(index) {
            // SAFETY: `moved` is ours too.
            unsafe { moved.as_ref().own() }.index = index as u32;
        }
        // (A spare list the global allocator cannot grow returns the page.)
        if self.spares.len() < MAX_SPARES && self.spares.try_reserve(1).is_ok() {
            self.spares.push(page);
        } else {
            // SAFETY: the page has no used slot and is on no list now.
            unsafe { Page::release(page) };
        }
    }

    /// Collects every page's remote frees, and returns the pages that
    /// emptied and the spares to the allocator. A worker calls this before
    /// it parks: an idle worker keeps only its classes' current pages.
    pub fn trim(&mut self) {
        for class in 0..NUM_CLASSES {
            let mut i = 0;
            while i < self.classes[class].pages.len() {
                let page = self.classes[class].pages[i];
                // SAFETY: the page is ours.
                let p = unsafe { page.as_ref() };
                // SAFETY: as above.
                unsafe { p.collect_remote() };
                // SAFETY: as above.
                let empty = unsafe { p.own() }.used == 0;
                if empty && self.classes[class].current != Some(page) {
                    self.maybe_release(page); // swap_remove: re-check index i
                } else {
                    i += 1;
                }
            }
        }
        // `pop`, not `drain(..)`: drain's tail move brings in memmove, 1.6 KB
        // of a firmware image that has no other use for it.
        while let Some(page) = self.spares.pop() {
            // SAFETY: spares are empty and on no list.
            unsafe { Page::release(page) };
        }
    }

    /// Pages and slots in use.
    #[cfg(all(test, not(echo_loom)))]
    pub fn usage(&self) -> (usize, usize) {
        let mut pages = 0;
        let mut used = 0;
        for c in &self.classes {
            pages += c.pages.len();
            for page in &c.pages {
                // SAFETY: the caller owns the heap (the shutdown walk or a
                // test), so reading `own` does not race.
                used += unsafe { page.as_ref().own() }.used as usize;
            }
        }
        (pages, used)
    }

    /// Calls `f` with every slot that is not free (a live or recently
    /// freed task; see the module invariants).
    ///
    /// # Safety
    ///
    /// No owner uses the heap during the walk. `f` must not free slots
    /// locally (frees from it must go through [`free_remote`](super::free_remote)).
    pub unsafe fn for_each_used(&self, mut f: impl FnMut(NonNull<u8>)) {
        for c in &self.classes {
            for &page in &c.pages {
                // SAFETY: no owner is active, per the contract.
                let p = unsafe { page.as_ref() };
                // SAFETY: as above.
                unsafe { p.collect_remote() };
                // SAFETY: as above.
                let free = unsafe { p.free_bitmap() };
                // SAFETY: as above.
                let bump = unsafe { p.own() }.bump;
                for i in 0..bump {
                    if free[i as usize / 64] & (1 << (i % 64)) == 0 {
                        // SAFETY: slot addresses are never null.
                        f(unsafe { NonNull::new_unchecked(p.slot_at(i)) });
                    }
                }
            }
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        if !self.detached {
            // SAFETY: dropping the heap ends its owner's use of it; any task
            // still in it is already unreachable by workers.
            unsafe { self.detach() };
        }
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use crate::slab::{class_for, free_remote};
    use core::ptr;
    use core::sync::atomic::{AtomicUsize as StdCount, Ordering};

    static REFS: StdCount = StdCount::new(0);
    unsafe fn acquire(_: *const ()) {
        REFS.fetch_add(1, Ordering::Relaxed);
    }
    unsafe fn release(_: *const ()) {
        REFS.fetch_sub(1, Ordering::Relaxed);
    }
    fn keep() -> KeepAlive {
        KeepAlive {
            ptr: ptr::null(),
            acquire,
            release,
        }
    }

    // One test touches the shared REFS counter, so keep the page checks in
    // a single test function.
    #[test]
    fn local_and_remote_frees_and_page_return() {
        let k = keep();
        let pool = PagePool::new();
        let mut heap = Heap::new(0);
        let class = class_for(80, 8).unwrap();
        let per_page = (PAGE_BYTES - PAGE_HEADER) / CLASS_SIZES[class];
        let n = per_page * 2 + 3;
        let slots: Vec<_> = (0..n)
            .map(|_| heap.alloc(class, &k, &pool).unwrap())
            .collect();
        let mut addrs: Vec<_> = slots.iter().map(|s| s.ptr.as_ptr() as usize).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "every slot distinct");
        assert_eq!(heap.usage(), (3, n));
        assert_eq!(REFS.load(Ordering::Relaxed), 3);

        // Free the first page's slots remotely, the rest locally.
        let first_page = slots[0].page;
        for s in &slots {
            if s.page == first_page {
                // SAFETY: allocated above and unused.
                unsafe { free_remote(s.page, s.ptr) };
            }
        }
        assert_eq!(heap.usage().1, n, "remote frees wait for collection");
        heap.trim();
        assert_eq!(heap.usage(), (2, n - per_page), "emptied page returned");
        assert_eq!(REFS.load(Ordering::Relaxed), 2);
        for s in slots.iter().filter(|s| s.page != first_page) {
            // SAFETY: allocated above, unused, and this test owns the heap.
            unsafe { heap.free_local(s.page, s.ptr) };
        }
        assert_eq!(heap.usage(), (1, 0), "only the current page stays");
        assert_eq!(
            REFS.load(Ordering::Relaxed),
            2,
            "the emptied page is a spare"
        );
        heap.trim();
        assert_eq!(REFS.load(Ordering::Relaxed), 1, "trim returns spares");

        // Reuse: a fresh allocation takes a freed slot, not new memory.
        let again = heap.alloc(class, &k, &pool).unwrap();
        assert!(addrs.contains(&(again.ptr.as_ptr() as usize)));

        // Orphaning: a live slot keeps the page until its free.
        // SAFETY: the test is the owner and stops using the heap.
        unsafe { heap.detach() };
        assert_eq!(
            REFS.load(Ordering::Relaxed),
            1,
            "page kept for its live slot"
        );
        // SAFETY: allocated above, unused.
        unsafe { free_remote(again.page, again.ptr) };
        assert_eq!(REFS.load(Ordering::Relaxed), 0, "last free returned it");
        assert_eq!(pool.chunks(), 0, "and the chunk went back with it");
    }

    #[test]
    fn walk_skips_free_slots() {
        let k = KeepAlive {
            ptr: ptr::null(),
            acquire: |_| {},
            release: |_| {},
        };
        let pool = PagePool::new();
        let mut heap = Heap::new(7);
        let class = 0;
        let slots: Vec<_> = (0..10)
            .map(|_| heap.alloc(class, &k, &pool).unwrap())
            .collect();
        for s in slots.iter().step_by(2) {
            // SAFETY: allocated above, unused; the test owns the heap.
            unsafe { heap.free_local(s.page, s.ptr) };
        }
        // SAFETY: allocated above, unused.
        unsafe { free_remote(slots[1].page, slots[1].ptr) };
        let mut seen = Vec::new();
        // SAFETY: no owner is active during the walk.
        unsafe { heap.for_each_used(|p| seen.push(p)) };
        let expect: Vec<_> = [3, 5, 7, 9].iter().map(|&i| slots[i].ptr).collect();
        assert_eq!(seen, expect);
        for &i in &[3, 5, 7, 9] {
            // SAFETY: allocated above, unused; the test owns the heap.
            unsafe { heap.free_local(slots[i].page, slots[i].ptr) };
        }
        drop(heap);
        assert_eq!(pool.chunks(), 0);
    }
}
