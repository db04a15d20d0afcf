//! The global allocator: `embedded-alloc`'s linked-list heap over the RAM
//! left between the static data and the stack.

use embedded_alloc::LlffHeap;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Gives the allocator its region. Call once, first thing in `main`.
pub fn init() {
    let (start, size) = crate::board::heap_region();
    // SAFETY: called once at start-up; the region lies between the end of
    // `.bss` and the stack reserve, and nothing else uses it.
    unsafe { HEAP.init(start, size) }
}

/// Bytes allocated now.
pub fn used() -> usize {
    HEAP.used()
}
