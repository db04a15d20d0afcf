//! Orphaning after shutdown: a detached heap's pages that still hold tasks
//! are handed to their last frees, which return them.
//!
//! An orphaned page's remote word is the `orphaned()` mark instead of a
//! list head, and `orphan_live` counts its live slots; `free_remote` counts
//! down instead of pushing, and the free that reaches zero returns the page.

use super::heap::Heap;
use super::page::{Page, orphaned, read_link};
use crate::sync::Ordering;
use core::ptr::NonNull;

impl Heap {
    /// Gives up every page: empty pages are returned, pages with live slots
    /// are orphaned and returned by their last free.
    ///
    /// # Safety
    ///
    /// No owner uses the heap any more, and no task in it will be claimed
    /// by a worker again (the scheduler has shut down).
    pub unsafe fn detach(&mut self) {
        self.detached = true;
        // `pop`, not `drain(..)`: see `Heap::trim`.
        while let Some(page) = self.spares.pop() {
            // SAFETY: spares are empty and on no list.
            unsafe { Page::release(page) };
        }
        for c in &mut self.classes {
            c.current = None;
            while let Some(page) = c.pages.pop() {
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
