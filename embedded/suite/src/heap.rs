//! The global allocator the hosts install: `embedded-alloc`'s heap over a
//! static region, with a limit a test can lower to make allocations fail,
//! and a count of the bytes in use so the harness can see leaks.
//!
//! Invariant: `used` is the sum of the sizes of the live allocations made
//! through this allocator; it and `limit` change only inside a critical
//! section, together with the inner heap.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use critical_section::Mutex;
use embedded_alloc::LlffHeap;

/// A heap whose allocations fail beyond a settable limit.
pub struct LimitedHeap {
    heap: LlffHeap,
    used: Mutex<Cell<usize>>,
    limit: Mutex<Cell<usize>>,
    size: Mutex<Cell<usize>>,
}

impl LimitedHeap {
    /// An empty heap; [`init`](LimitedHeap::init) gives it its memory.
    pub const fn empty() -> LimitedHeap {
        LimitedHeap {
            heap: LlffHeap::empty(),
            used: Mutex::new(Cell::new(0)),
            limit: Mutex::new(Cell::new(usize::MAX)),
            size: Mutex::new(Cell::new(0)),
        }
    }

    /// Gives the heap `size` bytes at `start`.
    ///
    /// # Safety
    ///
    /// Call once, before the first allocation, with memory that nothing
    /// else uses for the rest of the program.
    pub unsafe fn init(&self, start: usize, size: usize) {
        critical_section::with(|cs| self.size.borrow(cs).set(size));
        // SAFETY: the caller's contract is the inner heap's.
        unsafe { self.heap.init(start, size) }
    }

    /// The bytes the heap was given.
    pub fn size(&self) -> usize {
        critical_section::with(|cs| self.size.borrow(cs).get())
    }

    /// Bytes in live allocations.
    pub fn used(&self) -> usize {
        critical_section::with(|cs| self.used.borrow(cs).get())
    }

    /// From now on, an allocation that would take the bytes in use above
    /// `limit` fails (returns null); `None` lifts the limit.
    pub fn set_limit(&self, limit: Option<usize>) {
        critical_section::with(|cs| self.limit.borrow(cs).set(limit.unwrap_or(usize::MAX)));
    }
}

// SAFETY: allocations come from the inner heap, which is a correct
// allocator; the limit only turns some of them into null returns, and the
// counts are kept under the same critical section as the heap.
unsafe impl GlobalAlloc for LimitedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        critical_section::with(|cs| {
            let used = self.used.borrow(cs);
            if used.get().saturating_add(layout.size()) > self.limit.borrow(cs).get() {
                return core::ptr::null_mut();
            }
            // SAFETY: the caller's layout contract is passed on.
            let ptr = unsafe { self.heap.alloc(layout) };
            if !ptr.is_null() {
                used.set(used.get() + layout.size());
            }
            ptr
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        critical_section::with(|cs| {
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { self.heap.dealloc(ptr, layout) };
            let used = self.used.borrow(cs);
            used.set(used.get() - layout.size());
        })
    }
}
