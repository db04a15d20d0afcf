//! Where small pages come from: chunks of pages that the host gives
//! (`Platform::alloc_chunk`), each given back to it when all its pages are
//! free.
//!
//! Invariants:
//! - A chunk is `PAGES` pages (`CHUNK_PAGES` in a scheduler), aligned to
//!   its own size, so a page is aligned to its size and a page's chunk is
//!   found by masking its address.
//! - A chunk is listed in `chunks` exactly while at least one of its pages
//!   is out (taken and not given back); its count is how many of its pages
//!   are on the free list. So a chunk whose last page comes back leaves the
//!   pool at once, and a pool with no page out holds no memory.
//! - A host that has no memory refuses (`None`); the pool is then
//!   unchanged. Nothing else allocates on a free: the free list's capacity
//!   is kept at `PAGES - 1` per listed chunk, the most it can hold.

use super::layout::PAGE_BYTES;
use crate::spin::SpinLock;
use alloc::alloc::Layout;
use alloc::vec::Vec;
use core::ptr::NonNull;

/// Pages per chunk in a scheduler's pool: sixteen on 64-bit hosts (see
/// [`PagePool`]); one on smaller targets, whose allocators waste little on
/// alignment and whose heaps cannot spare a chunk's worth of unused pages.
pub const CHUNK_PAGES: usize = if cfg!(target_pointer_width = "64") {
    16
} else {
    1
};

/// Where a pool's chunks come from and go back to: the host's
/// [`Platform::alloc_chunk`](crate::Platform::alloc_chunk) and
/// [`free_chunk`](crate::Platform::free_chunk), reached through the
/// scheduler that the pool's pages keep alive (`ctx`: the `ptr` of the
/// pages' [`KeepAlive`](super::KeepAlive)). Function pointers, so that the
/// slab is not generic over the platform.
#[derive(Clone, Copy)]
pub struct ChunkSource {
    /// Gets a chunk of `layout` for the scheduler `ctx`, or `None`.
    pub alloc: unsafe fn(ctx: *const (), layout: Layout) -> Option<NonNull<u8>>,
    /// Gives back a chunk that `alloc` gave with the same `ctx` and layout.
    pub free: unsafe fn(ctx: *const (), chunk: NonNull<u8>, layout: Layout),
}

unsafe fn global_alloc(_: *const (), layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: chunk layouts have a non-zero size.
    NonNull::new(unsafe { alloc::alloc::alloc(layout) })
}

unsafe fn global_free(_: *const (), chunk: NonNull<u8>, layout: Layout) {
    // SAFETY: `chunk` came from `global_alloc` with this layout.
    unsafe { alloc::alloc::dealloc(chunk.as_ptr(), layout) }
}

impl ChunkSource {
    /// Chunks from the global allocator; `ctx` is not used.
    pub const GLOBAL: ChunkSource = ChunkSource {
        alloc: global_alloc,
        free: global_free,
    };
}

/// Small pages, carved from chunks of `PAGES` pages (a scheduler's pool:
/// [`CHUNK_PAGES`], 1 MiB chunks of sixteen 64 KiB pages on 64-bit
/// targets). The code holds for any `PAGES` from 1 up. Allocating pages
/// one by one with their alignment cost the global allocator about two
/// extra 4 KiB pages of touched memory per page (measured: 74 bytes of RSS
/// per 64-byte task instead of 65); a chunk spreads that over its pages,
/// and a host that maps chunks from the OS pays none of it.
///
/// (Pages remember their pool by address: a pool must not move while any
/// of its pages exists. The scheduler keeps its pool inside its `Arc`.)
pub struct PagePool<const PAGES: usize = CHUNK_PAGES> {
    state: SpinLock<PoolState>,
    source: ChunkSource,
}

struct PoolState {
    /// Free pages of listed chunks, most recently freed last.
    free: Vec<NonNull<u8>>,
    /// Per listed chunk, sorted by address: the chunk and how many of its
    /// pages are on `free`.
    chunks: Vec<(NonNull<u8>, usize)>,
}

impl PoolState {
    /// Where the chunk of `bytes` bytes holding `page` is (or would be) in
    /// `chunks`.
    fn find(&self, page: NonNull<u8>, bytes: usize) -> Result<usize, usize> {
        let base = page.as_ptr().addr() & !(bytes - 1);
        self.chunks
            .binary_search_by_key(&base, |(c, _)| c.as_ptr().addr())
    }
}

/// Moves the last element of `v` to index `at`, shifting the ones from `at`
/// on up by one. Adjacent swaps instead of `Vec::insert`, whose `ptr::copy`
/// brings in memmove (1.6 KB of a Cortex-M image that has no other use for
/// it); the list is short (one entry per chunk), so the cost is the same.
fn shift_into_place<T>(v: &mut [T], at: usize) {
    for i in (at + 1..v.len()).rev() {
        v.swap(i, i - 1);
    }
}

/// `Vec::remove` without memmove (see `shift_into_place`).
fn remove_keeping_order<T>(v: &mut Vec<T>, at: usize) -> T {
    for i in at + 1..v.len() {
        v.swap(i - 1, i);
    }
    v.pop().expect("index in bounds")
}

// SAFETY: the pointers are owned by the pool and only touched under its
// lock; the source is plain function pointers.
unsafe impl<const PAGES: usize> Send for PagePool<PAGES> {}
// SAFETY: as above.
unsafe impl<const PAGES: usize> Sync for PagePool<PAGES> {}

impl PagePool {
    /// The layout a pool page has (recorded in its page header).
    pub(super) const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_BYTES, PAGE_BYTES) {
        Ok(l) => l,
        Err(_) => panic!("page layout"),
    };

    /// An empty pool whose chunks come from the global allocator.
    pub fn new() -> PagePool {
        PagePool::with_source(ChunkSource::GLOBAL)
    }
}

impl<const PAGES: usize> PagePool<PAGES> {
    /// Bytes per chunk (a chunk is aligned to this).
    const CHUNK_BYTES: usize = PAGE_BYTES * PAGES;

    /// The layout of a chunk: its size, aligned to its size.
    pub const CHUNK_LAYOUT: Layout =
        match Layout::from_size_align(Self::CHUNK_BYTES, Self::CHUNK_BYTES) {
            Ok(l) if PAGES > 0 => l,
            _ => panic!("chunk layout"),
        };

    /// An empty pool whose chunks come from `source`.
    pub fn with_source(source: ChunkSource) -> Self {
        PagePool {
            state: SpinLock::new(PoolState {
                free: Vec::new(),
                chunks: Vec::new(),
            }),
            source,
        }
    }

    /// A free page, from a new chunk if need be; `None` if the source has
    /// no chunk to give. `ctx` is passed to the source, which is called
    /// without the pool's lock held.
    pub(super) fn take(&self, ctx: *const ()) -> Option<NonNull<u8>> {
        if let Some(page) = self.take_free() {
            return Some(page);
        }
        // SAFETY: the source's contract; `ctx` is the caller's scheduler.
        let chunk = unsafe { (self.source.alloc)(ctx, Self::CHUNK_LAYOUT) }?;
        debug_assert_eq!(chunk.as_ptr().addr() % Self::CHUNK_BYTES, 0, "alignment");
        let mut st = self.state.lock();
        // Room for the bookkeeping: a refusal, not an abort, if the global
        // allocator has none. The free list gets room for every page of
        // every listed chunk but one, so `give` never grows it.
        let room = (st.chunks.len() + 1) * (PAGES - 1);
        let more = room.saturating_sub(st.free.len());
        if st.chunks.try_reserve(1).is_err() || st.free.try_reserve(more).is_err() {
            drop(st);
            // SAFETY: the chunk is unused and came from this source.
            unsafe { (self.source.free)(ctx, chunk, Self::CHUNK_LAYOUT) };
            return None;
        }
        let at = st
            .find(chunk, Self::CHUNK_BYTES)
            .expect_err("a new chunk is not listed");
        st.chunks.push((chunk, PAGES - 1));
        shift_into_place(&mut st.chunks, at);
        for i in (1..PAGES).rev() {
            // SAFETY: inside the chunk.
            st.free.push(unsafe { chunk.add(i * PAGE_BYTES) });
        }
        Some(chunk)
    }

    /// A free page of a chunk the pool holds, if there is one.
    fn take_free(&self) -> Option<NonNull<u8>> {
        let mut st = self.state.lock();
        let page = st.free.pop()?;
        let i = st
            .find(page, Self::CHUNK_BYTES)
            .expect("a free page's chunk is listed");
        st.chunks[i].1 -= 1;
        Some(page)
    }

    /// Takes a page back; gives its chunk back to the source (with `ctx`)
    /// if that was the chunk's last page out.
    pub(super) fn give(&self, page: NonNull<u8>, ctx: *const ()) {
        let mut st = self.state.lock();
        let i = st
            .find(page, Self::CHUNK_BYTES)
            .expect("a pool page's chunk is listed");
        st.chunks[i].1 += 1;
        if st.chunks[i].1 < PAGES {
            debug_assert!(st.free.len() < st.free.capacity(), "room kept by `take`");
            st.free.push(page);
            return;
        }
        let (chunk, _) = remove_keeping_order(&mut st.chunks, i);
        let base = chunk.as_ptr().addr();
        st.free
            .retain(|p| p.as_ptr().addr() & !(Self::CHUNK_BYTES - 1) != base);
        drop(st);
        // SAFETY: every page of the chunk is free, so nobody uses its
        // memory, and it came from this source with this layout.
        unsafe { (self.source.free)(ctx, chunk, Self::CHUNK_LAYOUT) };
    }

    /// Chunks held now.
    pub fn chunks(&self) -> usize {
        self.state.lock().chunks.len()
    }

    /// Bytes held now (whole chunks, used or not).
    pub fn bytes(&self) -> usize {
        self.chunks() * Self::CHUNK_BYTES
    }
}

impl Default for PagePool {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGES: usize> Drop for PagePool<PAGES> {
    fn drop(&mut self) {
        // Each page keeps its scheduler (and so this pool) alive, and a
        // chunk leaves the pool with its last page: nothing is left here.
        // Were something left, leaking it is the only safe choice.
        debug_assert!(
            self.state.lock().chunks.is_empty(),
            "a page outlived its pool"
        );
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;
    use core::cell::Cell;
    use core::ptr;

    /// A source that counts its chunks and refuses while `fail` is set.
    struct Counting {
        live: Cell<usize>,
        fail: Cell<bool>,
    }

    unsafe fn counting_alloc(ctx: *const (), layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the tests pass a live `Counting` as `ctx`.
        let c = unsafe { &*ctx.cast::<Counting>() };
        if c.fail.get() {
            return None;
        }
        c.live.set(c.live.get() + 1);
        // SAFETY: forwarded.
        unsafe { global_alloc(ctx, layout) }
    }

    unsafe fn counting_free(ctx: *const (), chunk: NonNull<u8>, layout: Layout) {
        // SAFETY: as above.
        let c = unsafe { &*ctx.cast::<Counting>() };
        c.live.set(c.live.get() - 1);
        // SAFETY: forwarded.
        unsafe { global_free(ctx, chunk, layout) }
    }

    fn counting_pool<const PAGES: usize>() {
        let counting = Counting {
            live: Cell::new(0),
            fail: Cell::new(false),
        };
        let ctx = (&counting as *const Counting).cast::<()>();
        let pool = PagePool::<PAGES>::with_source(ChunkSource {
            alloc: counting_alloc,
            free: counting_free,
        });
        let pages: Vec<_> = (0..PAGES + 1)
            .map(|_| pool.take(ctx).expect("the source gives"))
            .collect();
        assert_eq!(counting.live.get(), 2, "a second chunk for one page more");
        for p in &pages {
            assert_eq!(p.as_ptr().addr() % PAGE_BYTES, 0, "pages are aligned");
        }
        let mut distinct: Vec<_> = pages.iter().map(|p| p.as_ptr().addr()).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), pages.len(), "pages are distinct");
        // A refusing source: a free page of a listed chunk is still given,
        // and past those, `None` with the pool unchanged.
        counting.fail.set(true);
        let extra: Vec<_> = core::iter::from_fn(|| pool.take(ctx)).collect();
        assert_eq!(extra.len(), PAGES - 1, "the second chunk's rest");
        assert_eq!(pool.chunks(), 2);
        counting.fail.set(false);
        // The first chunk's pages back: it goes at its last one.
        for &p in &pages[..PAGES] {
            pool.give(p, ctx);
        }
        assert_eq!(counting.live.get(), 1, "the first chunk went back");
        for &p in pages[PAGES..].iter().chain(&extra) {
            pool.give(p, ctx);
        }
        assert_eq!(counting.live.get(), 0, "every chunk went back");
        assert_eq!((pool.chunks(), pool.bytes()), (0, 0));
    }

    #[test]
    fn chunks_come_from_the_source_and_go_back_with_their_last_page() {
        counting_pool::<CHUNK_PAGES>();
    }

    #[test]
    fn a_chunk_of_one_page() {
        counting_pool::<1>();
    }

    /// Chunks stay listed in address order (what `find` searches) while
    /// they come and go in any order.
    #[test]
    fn chunks_stay_in_address_order_as_they_come_and_go() {
        let pool = PagePool::<1>::with_source(ChunkSource::GLOBAL);
        let sorted = |pool: &PagePool<1>| {
            let st = pool.state.lock();
            st.chunks.windows(2).all(|w| w[0].0 < w[1].0)
        };
        let mut pages: Vec<_> = (0..12)
            .map(|_| pool.take(ptr::null()).expect("the global allocator gives"))
            .collect();
        assert!(sorted(&pool));
        // Give back every third, then the rest from the middle out.
        let mut order: Vec<usize> = (0..12).step_by(3).collect();
        order.extend([7, 5, 8, 4, 10, 1, 11, 2]);
        for (gone, &i) in order.iter().enumerate() {
            pool.give(pages[i], ptr::null());
            assert_eq!(pool.chunks(), 12 - gone - 1);
            assert!(sorted(&pool), "after giving back page {i}");
        }
        // And new ones land between the old ones' addresses or around them.
        pages.clear();
        pages.extend((0..6).map(|_| pool.take(ptr::null()).expect("gives")));
        assert!(sorted(&pool));
        for p in pages.into_iter().rev() {
            pool.give(p, ptr::null());
        }
        assert_eq!(pool.chunks(), 0);
    }
}
