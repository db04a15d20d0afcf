//! The pooled task slab: size-classed pages with owner-only free lists and
//! an atomic remote-free list per page.
//!
//! Every task lives in a *page*. Small tasks share 64 KiB pages of one size
//! class, aligned to 64 KiB so that a task finds its page (and through it
//! its scheduler) from its own address; a task too large or too aligned for
//! the classes gets a page of its own (a *large* page, kept on a locked
//! list), with the task at a fixed offset after the page header.
//!
//! Each page belongs to one `Heap`: a worker's, or one of the shards
//! that serve threads outside the pool. Only the owner allocates from a
//! page and only the owner touches its local free list, so a worker
//! allocates and frees its own tasks with no atomic instruction. A task
//! freed on any other thread is pushed onto the page's remote-free list
//! with a CAS; the owner takes that list whole with one swap (never popping
//! single nodes, so there is no ABA), when its current page runs out or
//! when it trims before parking.
//!
//! Invariants:
//! - `own` fields are touched only by the owner (or by the shutdown walk,
//!   which runs when no owner is active).
//! - A free slot keeps its task's last state word (COMPLETE, zero
//!   references) at offset 0; the free-list link lives at
//!   `LINK_OFFSET`, over the vtable pointer. So the shutdown walk can
//!   read the state of any slot below `bump` that is not on a free list.
//! - Each page holds one strong reference to its scheduler (`KeepAlive`),
//!   so a waker that outlives the scheduler's handles still finds it.
//! - Page return policy: a class keeps its current page; any other page
//!   that empties (its last slot freed locally, or its owner collected the
//!   remote frees that empty it) goes to the heap's spare list, which any
//!   class reuses, and which holds at most `MAX_SPARES` pages: beyond that,
//!   pages go back to the allocator at once. A worker trims (collects remote
//!   frees, returns emptied pages) whenever it parks.
//! - After shutdown a page still holding tasks is *orphaned*: its remote
//!   word becomes the `orphaned()` mark and a count of live slots; the free that takes
//!   the count to zero returns the page.

use crate::padded::CachePadded;
use crate::spin::SpinLock;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};
use alloc::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::{self, NonNull};

/// Bytes per small-task page.
pub const PAGE_BYTES: usize = 64 * 1024;
/// Bytes of page header before the first slot.
const PAGE_HEADER: usize = 256;
/// The small size classes, in bytes per slot: 8-byte steps where tasks
/// are most common, then about 15% steps. A class whose size is a multiple
/// of 16 also serves 16-aligned tasks (slots start 256 bytes into an
/// aligned page).
pub const CLASS_SIZES: [usize; 23] = [
    40, 48, 56, 64, 72, 80, 88, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 448, 512, 640,
    768, 896, 1024,
];
const NUM_CLASSES: usize = CLASS_SIZES.len();
/// Empty pages a heap keeps for reuse before returning them.
const MAX_SPARES: usize = 8;
/// Words of a page's free-slot bitmap.
const BITMAP_WORDS: usize = (PAGE_BYTES - PAGE_HEADER) / CLASS_SIZES[0] / 64 + 1;
/// The owner id of large pages.
pub const LARGE_OWNER: u32 = u32::MAX;
/// Remote-word value of an orphaned page.
fn orphaned() -> *mut u8 {
    // An address no slot can have; it is only compared, never dereferenced.
    ptr::without_provenance_mut(1)
}
/// Where a free slot keeps its free-list link (set by the task module to
/// the vtable field, so the state word survives).
pub const LINK_OFFSET: usize = crate::task::FREE_LINK_OFFSET;

/// The class serving objects of `size` bytes and `align` alignment, or
/// `None` if they need a large page.
pub const fn class_for(size: usize, align: usize) -> Option<usize> {
    if align > 16 {
        return None;
    }
    let mut i = 0;
    while i < NUM_CLASSES {
        if size <= CLASS_SIZES[i] && CLASS_SIZES[i] % align == 0 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Where an object of alignment `align` starts in a large page.
pub const fn large_offset(align: usize) -> usize {
    let align = if align > 128 { align } else { 128 };
    PAGE_HEADER.next_multiple_of(align)
}

/// How a page keeps its scheduler alive: a pointer and the functions that
/// take and drop one strong reference to it.
#[derive(Clone, Copy)]
pub struct KeepAlive {
    /// The scheduler.
    pub ptr: *const (),
    /// Takes one strong reference to it.
    pub acquire: unsafe fn(*const ()),
    /// Drops one strong reference to it.
    pub release: unsafe fn(*const ()),
}

/// A freshly allocated, uninitialized slot and the page it lives in.
pub struct Slot {
    /// The slot's memory.
    pub ptr: NonNull<u8>,
    /// The page (the scheduler finds it from the address; tests check it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub page: NonNull<Page>,
}

/// Set when the page is made; read by anyone.
struct Meta {
    keep: *const (),
    release: unsafe fn(*const ()),
    /// Where a small page's memory goes back to (null for a large page).
    pool: *const PagePool,
    owner: u32,
    class: u32,
    slot_size: u32,
    capacity: u32,
    slot_offset: u32,
    layout: Layout,
}

/// The owner's bookkeeping.
struct Own {
    free: *mut u8,
    bump: u32,
    used: u32,
    index: u32,
}

/// What other threads write.
struct Remote {
    head: AtomicPtr<u8>,
    orphan_live: AtomicUsize,
}

/// A page header; its slots follow it in the same allocation.
#[repr(C)]
pub struct Page {
    meta: Meta,
    own: UnsafeCell<Own>,
    remote: CachePadded<Remote>,
}

const _: () = assert!(core::mem::size_of::<Page>() <= PAGE_HEADER || cfg!(echo_loom));
const _: () = assert!(PAGE_HEADER % 16 == 0);

#[inline]
unsafe fn read_link(slot: *mut u8) -> *mut u8 {
    // SAFETY: the caller passes a free slot, whose link word it may read.
    unsafe { slot.add(LINK_OFFSET).cast::<*mut u8>().read() }
}

#[inline]
unsafe fn write_link(slot: *mut u8, next: *mut u8) {
    // SAFETY: the caller owns the free slot `slot`.
    unsafe { slot.add(LINK_OFFSET).cast::<*mut u8>().write(next) }
}

impl Page {
    /// Allocates and initializes a page; takes one reference through `keep`.
    #[allow(clippy::too_many_arguments)]
    fn create(
        owner: u32,
        class: u32,
        slot_size: usize,
        capacity: usize,
        slot_offset: usize,
        layout: Layout,
        keep: &KeepAlive,
        pool: Option<&PagePool>,
    ) -> NonNull<Page> {
        let page = match pool {
            Some(pool) => pool.take().cast::<Page>(),
            None => {
                // SAFETY: `layout` has a non-zero size (it includes the
                // header).
                let raw = unsafe { alloc(layout) };
                let Some(page) = NonNull::new(raw.cast::<Page>()) else {
                    handle_alloc_error(layout)
                };
                page
            }
        };
        // SAFETY: `keep` came from the scheduler that owns this heap; taking
        // a reference is always allowed while the scheduler is alive.
        unsafe { (keep.acquire)(keep.ptr) };
        let header = Page {
            meta: Meta {
                keep: keep.ptr,
                release: keep.release,
                pool: pool.map_or(ptr::null(), |p| p as *const PagePool),
                owner,
                class,
                slot_size: slot_size as u32,
                capacity: capacity as u32,
                slot_offset: slot_offset as u32,
                layout,
            },
            own: UnsafeCell::new(Own {
                free: ptr::null_mut(),
                bump: 0,
                used: 0,
                index: 0,
            }),
            remote: CachePadded(Remote {
                head: AtomicPtr::new(ptr::null_mut()),
                orphan_live: AtomicUsize::new(0),
            }),
        };
        // SAFETY: fresh allocation, aligned for `Page` (layout align >= 128).
        unsafe { page.as_ptr().write(header) };
        page
    }

    /// The scheduler this page keeps alive.
    #[inline]
    pub fn scheduler(&self) -> *const () {
        self.meta.keep
    }

    /// The heap that owns the page (`LARGE_OWNER` for large pages).
    #[inline]
    pub fn owner(&self) -> u32 {
        self.meta.owner
    }

    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn own(&self) -> &mut Own {
        // SAFETY: the caller is the owner (or the walk with no owner
        // active), so no other reference to `own` exists.
        self.own.with_mut(|p| unsafe { &mut *p })
    }

    #[inline]
    fn slot_at(&self, i: u32) -> *mut u8 {
        let base = (self as *const Page).cast::<u8>().cast_mut();
        let offset = self.meta.slot_offset as usize + i as usize * self.meta.slot_size as usize;
        base.wrapping_add(offset)
    }

    #[inline]
    fn index_of(&self, slot: *mut u8) -> u32 {
        let base = (self as *const Page).addr();
        ((slot.addr() - base - self.meta.slot_offset as usize) / self.meta.slot_size as usize)
            as u32
    }

    /// Takes a free slot, if the page has one without collecting.
    #[inline]
    unsafe fn take(&self) -> Option<NonNull<u8>> {
        // SAFETY: owner-only, per this function's contract.
        let own = unsafe { self.own() };
        if !own.free.is_null() {
            let slot = own.free;
            // SAFETY: `slot` is on the local free list, so it is free.
            own.free = unsafe { read_link(slot) };
            own.used += 1;
            // SAFETY: free-list entries are never null.
            return Some(unsafe { NonNull::new_unchecked(slot) });
        }
        if own.bump < self.meta.capacity {
            let slot = self.slot_at(own.bump);
            own.bump += 1;
            own.used += 1;
            return NonNull::new(slot);
        }
        None
    }

    /// Moves the remote-free list onto the local one; returns how many.
    unsafe fn collect_remote(&self) -> u32 {
        if self.remote.head.load(Ordering::Relaxed).is_null() {
            return 0;
        }
        let mut node = self.remote.head.swap(ptr::null_mut(), Ordering::Acquire);
        debug_assert_ne!(node, orphaned());
        // SAFETY: owner-only.
        let own = unsafe { self.own() };
        let mut n = 0;
        while !node.is_null() {
            // SAFETY: the swap gave us the whole list; each node is a free
            // slot whose link was written before its push (Release/Acquire).
            let next = unsafe { read_link(node) };
            // SAFETY: as above; the slot is now ours.
            unsafe { write_link(node, own.free) };
            own.free = node;
            node = next;
            n += 1;
        }
        own.used -= n;
        n
    }

    /// Makes an empty page of this heap serve another class.
    ///
    /// # Safety
    ///
    /// The caller owns the page and no slot of it is in use.
    unsafe fn reformat(page: NonNull<Page>, class: u32, slot_size: usize, capacity: usize) {
        // SAFETY: per the contract nobody else reads the page now; the
        // writes go through the raw pointer, with no reference alive.
        unsafe {
            let meta = ptr::addr_of_mut!((*page.as_ptr()).meta);
            (*meta).class = class;
            (*meta).slot_size = slot_size as u32;
            (*meta).capacity = capacity as u32;
            let own = page.as_ref().own();
            own.free = ptr::null_mut();
            own.bump = 0;
            own.used = 0;
        }
    }

    /// Gives the page's memory back and drops its scheduler reference.
    unsafe fn release(page: NonNull<Page>) {
        // SAFETY: the caller proves no slot of the page is in use and no
        // list refers to it any more.
        unsafe {
            let Meta {
                keep,
                release,
                pool,
                layout,
                ..
            } = ptr::read(&(*page.as_ptr()).meta);
            ptr::drop_in_place(page.as_ptr());
            if pool.is_null() {
                dealloc(page.as_ptr().cast(), layout);
            } else {
                // The pool belongs to the scheduler that `keep` keeps alive.
                (*pool).give(page.cast());
            }
            release(keep);
        }
    }

    /// The free slots, as a bitmap over slot indices (owner-only).
    unsafe fn free_bitmap(&self) -> [u64; BITMAP_WORDS] {
        let mut bits = [0u64; BITMAP_WORDS];
        // SAFETY: owner-only.
        let mut node = unsafe { self.own() }.free;
        while !node.is_null() {
            let i = self.index_of(node) as usize;
            bits[i / 64] |= 1 << (i % 64);
            // SAFETY: `node` is on the local free list.
            node = unsafe { read_link(node) };
        }
        bits
    }
}

/// Frees `slot` of `page` from a thread that does not own the page.
///
/// # Safety
///
/// `slot` is an allocated slot of `page` that nobody uses any more, and
/// `page` is not a large page.
pub unsafe fn free_remote(page: NonNull<Page>, slot: NonNull<u8>) {
    // SAFETY: the page lives while one of its slots is allocated.
    let remote = unsafe { &page.as_ref().remote };
    let mut head = remote.head.load(Ordering::Acquire);
    loop {
        if head == orphaned() {
            if remote.orphan_live.fetch_sub(1, Ordering::AcqRel) == 1 {
                // SAFETY: that was the page's last live slot, and an
                // orphaned page is on no heap's list.
                unsafe { Page::release(page) };
            }
            return;
        }
        // SAFETY: the slot is ours until the CAS publishes it.
        unsafe { write_link(slot.as_ptr(), head) };
        match remote.head.compare_exchange_weak(
            head,
            slot.as_ptr(),
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => return,
            Err(actual) => head = actual,
        }
    }
}

/// Where small pages come from: 1 MiB chunks of sixteen 64 KiB pages,
/// (Pages remember their pool by address: a pool must not move while any
/// of its pages exists. The scheduler keeps its pool inside its `Arc`.)
///
/// aligned so that a page is aligned to its size. Allocating pages one by
/// one with that alignment costs the allocator about two extra 4 KiB pages
/// of touched memory per page (measured here: 74 bytes of RSS per 64-byte
/// task instead of 65); a chunk spreads that over sixteen pages. A chunk
/// goes back to the allocator when all its pages are free.
pub struct PagePool(SpinLock<PoolState>);

struct PoolState {
    /// Free pages, most recently freed last.
    free: Vec<NonNull<u8>>,
    /// Per chunk, by address: the chunk and how many of its pages are free.
    chunks: BTreeMap<usize, (NonNull<u8>, usize)>,
}

// SAFETY: the pointers are owned by the pool and only touched under its
// lock.
unsafe impl Send for PagePool {}
// SAFETY: as above.
unsafe impl Sync for PagePool {}

const CHUNK_PAGES: usize = 16;
const CHUNK_BYTES: usize = PAGE_BYTES * CHUNK_PAGES;

impl PagePool {
    /// The layout a pool page has (recorded in its page header).
    const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_BYTES, PAGE_BYTES) {
        Ok(l) => l,
        Err(_) => panic!("page layout"),
    };
    const CHUNK_LAYOUT: Layout = match Layout::from_size_align(CHUNK_BYTES, CHUNK_BYTES) {
        Ok(l) => l,
        Err(_) => panic!("chunk layout"),
    };

    /// An empty pool.
    pub fn new() -> PagePool {
        PagePool(SpinLock::new(PoolState {
            free: Vec::new(),
            chunks: BTreeMap::new(),
        }))
    }

    /// A free page, from a new chunk if need be.
    fn take(&self) -> NonNull<u8> {
        let mut st = self.0.lock();
        if let Some(page) = st.free.pop() {
            st.chunks
                .get_mut(&(page.as_ptr().addr() & !(CHUNK_BYTES - 1)))
                .expect("a free page's chunk is known")
                .1 -= 1;
            return page;
        }
        // SAFETY: the chunk layout has a non-zero size.
        let raw = unsafe { alloc(Self::CHUNK_LAYOUT) };
        let Some(chunk) = NonNull::new(raw) else {
            handle_alloc_error(Self::CHUNK_LAYOUT)
        };
        st.chunks
            .insert(chunk.as_ptr().addr(), (chunk, CHUNK_PAGES - 1));
        for i in (1..CHUNK_PAGES).rev() {
            // SAFETY: inside the chunk.
            st.free.push(unsafe { chunk.add(i * PAGE_BYTES) });
        }
        chunk
    }

    /// Takes a page back; returns its chunk if that was the chunk's last.
    fn give(&self, page: NonNull<u8>) {
        let mut st = self.0.lock();
        let base = page.as_ptr().addr() & !(CHUNK_BYTES - 1);
        let (_, free) = st
            .chunks
            .get_mut(&base)
            .expect("a pool page's chunk is known");
        *free += 1;
        if *free < CHUNK_PAGES {
            st.free.push(page);
            return;
        }
        let (chunk, _) = st.chunks.remove(&base).expect("present above");
        st.free
            .retain(|p| p.as_ptr().addr() & !(CHUNK_BYTES - 1) != base);
        // SAFETY: every page of the chunk is free: nobody uses its memory.
        unsafe { dealloc(chunk.as_ptr(), Self::CHUNK_LAYOUT) };
    }

    /// Chunks allocated now.
    pub fn chunks(&self) -> usize {
        self.0.lock().chunks.len()
    }

    /// Bytes allocated now (whole chunks, used or not).
    pub fn bytes(&self) -> usize {
        self.chunks() * CHUNK_BYTES
    }
}

impl Default for PagePool {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PagePool {
    fn drop(&mut self) {
        let st = self.0.lock();
        for &(chunk, free) in st.chunks.values() {
            debug_assert_eq!(free, CHUNK_PAGES, "a page outlived its scheduler");
            // SAFETY: the pool owns its chunks, and nothing can use a page
            // once the scheduler that owns the pool is gone.
            unsafe { dealloc(chunk.as_ptr(), Self::CHUNK_LAYOUT) };
        }
    }
}

/// Returns a large page (after [`LargeList::unlink`]). This may drop the
/// last reference to the scheduler, so the caller must hold no borrow of it.
///
/// # Safety
///
/// `page` is unlinked and its object unused.
pub unsafe fn release_page(page: NonNull<Page>) {
    // SAFETY: forwarded contract.
    unsafe { Page::release(page) }
}

/// One class's pages in a heap.
struct Class {
    current: Option<NonNull<Page>>,
    pages: Vec<NonNull<Page>>,
}

/// An owner's set of pages, one list per size class.
pub struct Heap {
    id: u32,
    classes: [Class; NUM_CLASSES],
    /// Empty pages, reusable by any class.
    spares: Vec<NonNull<Page>>,
    /// Set by `detach`: the heap may not allocate again.
    detached: bool,
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

    /// Takes a slot of class `class`.
    #[inline]
    pub fn alloc(&mut self, class: usize, keep: &KeepAlive, pool: &PagePool) -> Slot {
        debug_assert!(!self.detached);
        if let Some(page) = self.classes[class].current {
            // SAFETY: this heap owns its pages.
            if let Some(ptr) = unsafe { page.as_ref().take() } {
                return Slot { ptr, page };
            }
        }
        self.alloc_slow(class, keep, pool)
    }

    #[cold]
    fn alloc_slow(&mut self, class: usize, keep: &KeepAlive, pool: &PagePool) -> Slot {
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
                return Slot { ptr, page };
            }
        }
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
            ),
        };
        // SAFETY: the page is ours.
        unsafe { page.as_ref().own() }.index = c.pages.len() as u32;
        c.pages.push(page);
        c.current = Some(page);
        // SAFETY: a fresh page has free slots.
        let ptr = unsafe { page.as_ref().take() }.expect("fresh page has room");
        Slot { ptr, page }
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
        if self.spares.len() < MAX_SPARES {
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
        for page in self.spares.drain(..) {
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
    /// locally (frees from it must go through [`free_remote`]).
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

    /// Gives up every page: empty pages are returned, pages with live slots
    /// are orphaned and returned by their last free.
    ///
    /// # Safety
    ///
    /// No owner uses the heap any more, and no task in it will be claimed
    /// by a worker again (the scheduler has shut down).
    pub unsafe fn detach(&mut self) {
        self.detached = true;
        for page in self.spares.drain(..) {
            // SAFETY: spares are empty and on no list.
            unsafe { Page::release(page) };
        }
        for c in &mut self.classes {
            c.current = None;
            for page in c.pages.drain(..) {
                // SAFETY: per the contract.
                unsafe { orphan(page) };
            }
        }
    }
}

/// Returns `page` if it is empty, otherwise hands its remaining slots'
/// frees the job of returning it.
unsafe fn orphan(page: NonNull<Page>) {
    // SAFETY: the caller has exclusive owner rights.
    let p = unsafe { page.as_ref() };
    // SAFETY: as above.
    unsafe { p.collect_remote() };
    // SAFETY: as above.
    let live = unsafe { p.own() }.used as usize;
    if live == 0 {
        // SAFETY: nothing in use, on no list.
        unsafe { Page::release(page) };
        return;
    }
    p.remote.orphan_live.store(live, Ordering::Relaxed);
    // Publishes the count with the tag; frees that see ORPHANED count down.
    let mut node = p.remote.head.swap(orphaned(), Ordering::AcqRel);
    let mut late = 0;
    while !node.is_null() {
        late += 1;
        // SAFETY: the swap gave us these free slots.
        node = unsafe { read_link(node) };
    }
    if late > 0 && p.remote.orphan_live.fetch_sub(late, Ordering::AcqRel) == late {
        // SAFETY: the frees we just counted were the last live slots.
        unsafe { Page::release(page) };
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

impl Default for LargeList {
    fn default() -> Self {
        Self::new()
    }
}

/// The list of large pages (one task each), for the shutdown walk.
pub struct LargeList(SpinLock<Vec<NonNull<Page>>>);

// SAFETY: the page pointers are only touched under the lock.
unsafe impl Send for LargeList {}
// SAFETY: as above.
unsafe impl Sync for LargeList {}

impl LargeList {
    /// An empty list.
    pub fn new() -> Self {
        LargeList(SpinLock::new(Vec::new()))
    }

    /// Allocates a page holding one object of `size` bytes and `align`, at
    /// [`large_offset`]`(align)` from the page header.
    pub fn alloc(&self, size: usize, align: usize, keep: &KeepAlive) -> Slot {
        let offset = large_offset(align);
        let layout =
            Layout::from_size_align(offset + size, align.max(128)).expect("large task layout");
        let page = Page::create(LARGE_OWNER, 0, size, 1, offset, layout, keep, None);
        {
            let mut list = self.0.lock();
            // SAFETY: large pages' `own` is guarded by this lock.
            unsafe { page.as_ref().own() }.index = list.len() as u32;
            list.push(page);
        }
        // SAFETY: the page is fresh; its one slot is free.
        let ptr = unsafe { page.as_ref().take() }.expect("fresh page has room");
        Slot { ptr, page }
    }

    /// Takes a large page off the list; the caller then releases it with
    /// [`release_page`].
    ///
    /// # Safety
    ///
    /// `page` is a large page from this list whose object nobody uses.
    pub unsafe fn unlink(&self, page: NonNull<Page>) {
        let mut list = self.0.lock();
        // SAFETY: guarded by the lock.
        let index = unsafe { page.as_ref().own() }.index as usize;
        list.swap_remove(index);
        if let Some(&moved) = list.get(index) {
            // SAFETY: guarded by the lock.
            unsafe { moved.as_ref().own() }.index = index as u32;
        }
    }

    /// Collects the objects of all large pages for which `keep(ptr)` holds
    /// (it is called under the lock and must not free).
    pub fn collect(&self, mut keep: impl FnMut(NonNull<u8>) -> bool) -> Vec<NonNull<u8>> {
        let list = self.0.lock();
        let mut out = Vec::new();
        for &page in list.iter() {
            // SAFETY: pages on the list are live.
            let slot = unsafe { page.as_ref() }.slot_at(0);
            // SAFETY: slot addresses are never null.
            let slot = unsafe { NonNull::new_unchecked(slot) };
            if keep(slot) {
                out.push(slot);
            }
        }
        out
    }

    /// How many large pages exist.
    #[cfg(all(test, not(echo_loom)))]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicUsize as StdCount;

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

    #[test]
    fn classes_cover_sizes_in_order() {
        assert_eq!(class_for(1, 8), Some(0));
        assert_eq!(CLASS_SIZES[class_for(72, 8).unwrap()], 72);
        assert_eq!(
            CLASS_SIZES[class_for(72, 16).unwrap()],
            80,
            "16-aligned needs a 16-multiple"
        );
        assert_eq!(CLASS_SIZES[class_for(49, 16).unwrap()], 64);
        assert_eq!(class_for(1024, 8), Some(NUM_CLASSES - 1));
        assert_eq!(class_for(1025, 8), None);
        assert_eq!(class_for(64, 32), None);
        assert_eq!(large_offset(8), 256);
        assert_eq!(large_offset(4096), 4096);
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
        let slots: Vec<_> = (0..n).map(|_| heap.alloc(class, &k, &pool)).collect();
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
        let again = heap.alloc(class, &k, &pool);
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

        // Large pages.
        let large = LargeList::new();
        let big = large.alloc(5000, 256, &k);
        assert_eq!(big.ptr.as_ptr() as usize % 256, 0);
        assert_eq!(large.len(), 1);
        assert_eq!(large.collect(|_| true), [big.ptr]);
        // SAFETY: allocated above, unused.
        unsafe {
            large.unlink(big.page);
            release_page(big.page);
        }
        assert_eq!(large.len(), 0);
        assert_eq!(REFS.load(Ordering::Relaxed), 0);
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
        let slots: Vec<_> = (0..10).map(|_| heap.alloc(class, &k, &pool)).collect();
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
