//! Large pages: one task each, for tasks too large or too aligned for the
//! size classes, kept on one locked list for the shutdown walk.

use super::layout::large_offset;
use super::page::{KeepAlive, Page, Slot};
use crate::spin::SpinLock;
use alloc::alloc::Layout;
use alloc::vec::Vec;
use core::ptr::NonNull;

/// The owner id of large pages.
pub const LARGE_OWNER: u32 = u32::MAX;

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
    /// [`large_offset`]`(align)` from the page header, from the global
    /// allocator; `None` if it has no memory for it.
    pub fn alloc(&self, size: usize, align: usize, keep: &KeepAlive) -> Option<Slot> {
        let offset = large_offset(align);
        let layout =
            Layout::from_size_align(offset.checked_add(size)?, align.max(crate::padded::LINE))
                .ok()?;
        let page = Page::create(LARGE_OWNER, 0, size, 1, offset, layout, keep, None)?;
        {
            let mut list = self.0.lock();
            if list.try_reserve(1).is_err() {
                drop(list);
                // SAFETY: the page is fresh, unused and on no list; the
                // caller's scheduler outlives this call, so the reference
                // the page drops is not the last.
                unsafe { Page::release(page) };
                return None;
            }
            // SAFETY: large pages' `own` is guarded by this lock.
            unsafe { page.as_ref().own() }.index = list.len() as u32;
            list.push(page);
        }
        // SAFETY: the page is fresh; its one slot is free.
        let ptr = unsafe { page.as_ref().take() }.expect("fresh page has room");
        Some(Slot { ptr, page })
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
    use core::ptr;
    use core::sync::atomic::{AtomicUsize, Ordering};

    static REFS: AtomicUsize = AtomicUsize::new(0);
    unsafe fn acquire(_: *const ()) {
        REFS.fetch_add(1, Ordering::Relaxed);
    }
    unsafe fn release(_: *const ()) {
        REFS.fetch_sub(1, Ordering::Relaxed);
    }

    #[test]
    fn large_page_lives_on_the_list_until_released() {
        let k = KeepAlive {
            ptr: ptr::null(),
            acquire,
            release,
        };
        let large = LargeList::new();
        let big = large.alloc(5000, 256, &k).unwrap();
        assert_eq!(big.ptr.as_ptr() as usize % 256, 0);
        assert_eq!(large.len(), 1);
        assert_eq!(
            REFS.load(Ordering::Relaxed),
            1,
            "the page keeps its scheduler"
        );
        assert_eq!(large.collect(|_| true), [big.ptr]);
        // SAFETY: allocated above, unused.
        unsafe {
            large.unlink(big.page);
            release_page(big.page);
        }
        assert_eq!(large.len(), 0);
        assert_eq!(REFS.load(Ordering::Relaxed), 0);
    }
}
