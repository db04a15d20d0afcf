//! A page: its header, its slots, the owner's free list and the remote-free
//! list other threads push onto.

use super::layout::{BITMAP_WORDS, LINK_OFFSET, PAGE_HEADER};
use super::pool::PagePool;
use crate::padded::CachePadded;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};
use alloc::alloc::{Layout, alloc, dealloc};
use core::ptr::{self, NonNull};

/// Remote-word value of an orphaned page (`orphan.rs`).
pub(super) fn orphaned() -> *mut u8 {
    // An address no slot can have; it is only compared, never dereferenced.
    ptr::without_provenance_mut(1)
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
pub(super) struct Meta {
    keep: *const (),
    release: unsafe fn(*const ()),
    /// Where a small page's memory goes back to (null for a large page).
    pool: *const PagePool,
    pub(super) owner: u32,
    pub(super) class: u32,
    slot_size: u32,
    capacity: u32,
    slot_offset: u32,
    layout: Layout,
}

/// The owner's bookkeeping.
pub(super) struct Own {
    pub(super) free: *mut u8,
    pub(super) bump: u32,
    pub(super) used: u32,
    /// Where the page is in its owner's list (its class's, or the large
    /// list), for an O(1) removal.
    pub(super) index: u32,
}

/// What other threads write.
pub(super) struct Remote {
    pub(super) head: AtomicPtr<u8>,
    pub(super) orphan_live: AtomicUsize,
}

/// A page header; its slots follow it in the same allocation.
#[repr(C)]
pub struct Page {
    pub(super) meta: Meta,
    own: UnsafeCell<Own>,
    pub(super) remote: CachePadded<Remote>,
}

const _: () = assert!(core::mem::size_of::<Page>() <= PAGE_HEADER || cfg!(echo_loom));

#[inline]
pub(super) unsafe fn read_link(slot: *mut u8) -> *mut u8 {
    // SAFETY: the caller passes a free slot, whose link word it may read.
    unsafe { slot.add(LINK_OFFSET).cast::<*mut u8>().read() }
}

#[inline]
pub(super) unsafe fn write_link(slot: *mut u8, next: *mut u8) {
    // SAFETY: the caller owns the free slot `slot`.
    unsafe { slot.add(LINK_OFFSET).cast::<*mut u8>().write(next) }
}

impl Page {
    /// Allocates and initializes a page (from `pool`, or for a large page
    /// from the global allocator); takes one reference through `keep`.
    /// `None` if there is no memory for it: nothing was taken then.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create(
        owner: u32,
        class: u32,
        slot_size: usize,
        capacity: usize,
        slot_offset: usize,
        layout: Layout,
        keep: &KeepAlive,
        pool: Option<&PagePool>,
    ) -> Option<NonNull<Page>> {
        let page = match pool {
            Some(pool) => pool.take(keep.ptr)?,
            // SAFETY: `layout` has a non-zero size (it includes the header).
            None => NonNull::new(unsafe { alloc(layout) })?,
        }
        .cast::<Page>();
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
        // SAFETY: fresh allocation, aligned for `Page` (layout align >= `LINE`).
        unsafe { page.as_ptr().write(header) };
        Some(page)
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
    pub(super) unsafe fn own(&self) -> &mut Own {
        // SAFETY: the caller is the owner (or the walk with no owner
        // active), so no other reference to `own` exists.
        self.own.with_mut(|p| unsafe { &mut *p })
    }

    #[inline]
    pub(super) fn slot_at(&self, i: u32) -> *mut u8 {
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
    pub(super) unsafe fn take(&self) -> Option<NonNull<u8>> {
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
    pub(super) unsafe fn collect_remote(&self) -> u32 {
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
    pub(super) unsafe fn reformat(
        page: NonNull<Page>,
        class: u32,
        slot_size: usize,
        capacity: usize,
    ) {
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
    pub(super) unsafe fn release(page: NonNull<Page>) {
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
                // The pool belongs to the scheduler that `keep` keeps
                // alive, which is also the context of its chunk source.
                (*pool).give(page.cast(), keep);
            }
            release(keep);
        }
    }

    /// The free slots, as a bitmap over slot indices (owner-only).
    pub(super) unsafe fn free_bitmap(&self) -> [u64; BITMAP_WORDS] {
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
