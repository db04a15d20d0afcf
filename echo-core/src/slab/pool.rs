//! Where small pages come from: chunks of pages, each chunk returned to
//! the allocator when all its pages are free.

use super::layout::PAGE_BYTES;
use crate::spin::SpinLock;
use alloc::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;

/// Where small pages come from: 1 MiB chunks of sixteen 64 KiB pages,
/// aligned so that a page is aligned to its size. Allocating pages one by
/// one with that alignment costs the allocator about two extra 4 KiB pages
/// of touched memory per page (measured here: 74 bytes of RSS per 64-byte
/// task instead of 65); a chunk spreads that over sixteen pages. A chunk
/// goes back to the allocator when all its pages are free.
///
/// (Pages remember their pool by address: a pool must not move while any
/// of its pages exists. The scheduler keeps its pool inside its `Arc`.)
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

/// Pages per chunk: sixteen on 64-bit hosts (see above); one on smaller
/// targets, whose allocators waste little on alignment and whose heaps
/// cannot spare a chunk's worth of unused pages.
const CHUNK_PAGES: usize = if cfg!(target_pointer_width = "64") {
    16
} else {
    1
};
const CHUNK_BYTES: usize = PAGE_BYTES * CHUNK_PAGES;

impl PagePool {
    /// The layout a pool page has (recorded in its page header).
    pub(super) const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_BYTES, PAGE_BYTES) {
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
    pub(super) fn take(&self) -> NonNull<u8> {
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
    pub(super) fn give(&self, page: NonNull<u8>) {
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
