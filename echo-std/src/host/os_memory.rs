//! The slab's chunks mapped from the operating system (Unix: `mmap` and
//! `munmap`), so that a chunk the scheduler frees goes back to the system
//! at once.
//!
//! Why not the global allocator: glibc serves a 1 MiB allocation with a
//! mapping of its own, but once such a block is freed it raises its mmap
//! threshold above that size, so later chunks come from its heaps, between
//! the program's small allocations, where freeing them returns nothing.
//! Measured with compare's burst_memory (30 bursts of 100 000 tasks): the
//! resident set grew from 26 MiB after burst 3 to 100 MiB after burst 30
//! with chunks from glibc, and stays flat with chunks mapped here (see
//! README, Known limits).
//!
//! A chunk must be aligned to its size (a task finds its slab page by
//! masking its address), which `mmap` does not promise: the mapping is
//! made larger by the alignment and trimmed to the aligned part. Layouts
//! that are not a whole number of OS pages (a small target's tiny chunks)
//! come from the global allocator instead; [`unmap`] tells them apart by
//! the same test, so each chunk goes back where it came from.
//!
//! Elsewhere (Windows and other non-Unix hosts) the platform keeps the
//! core's default, the global allocator. (Windows' heap is documented to
//! serve blocks this large from virtual memory of their own and to release
//! them when freed; not measured here, for want of a Windows machine.)

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The OS page size (cached: `sysconf` is a call).
fn os_page() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let mut page = PAGE.load(Ordering::Relaxed);
    if page == 0 {
        // SAFETY: sysconf has no memory arguments.
        let got = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        page = usize::try_from(got)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        PAGE.store(page, Ordering::Relaxed);
    }
    page
}

/// Whether chunks of `layout` are mapped (else they use the global
/// allocator).
fn mapped(layout: Layout) -> bool {
    layout.size() > 0 && layout.size() % os_page() == 0
}

/// A chunk of `layout`: mapped from the OS, or from the global allocator
/// for a layout that is not whole OS pages. `None` if there is no memory.
pub(crate) fn map(layout: Layout) -> Option<NonNull<u8>> {
    if !mapped(layout) {
        // SAFETY: the scheduler never asks for a zero-sized chunk.
        return NonNull::new(unsafe { std::alloc::alloc(layout) });
    }
    let page = os_page();
    // Alignment beyond the OS page's: map enough to hold an aligned
    // chunk wherever the mapping lands, then unmap the two ends.
    let extra = layout.align().saturating_sub(page);
    let total = layout.size().checked_add(extra)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let base = base.cast::<u8>();
    let head = base.addr().next_multiple_of(layout.align()) - base.addr();
    let tail = extra - head;
    // SAFETY: both ends lie inside the mapping just made, are whole OS
    // pages (the mapping, the size and the alignment all are), and nothing
    // uses them.
    unsafe {
        if head > 0 {
            libc::munmap(base.cast(), head);
        }
        if tail > 0 {
            libc::munmap(base.add(head + layout.size()).cast(), tail);
        }
    }
    // SAFETY: inside the mapping, so not null.
    Some(unsafe { NonNull::new_unchecked(base.add(head)) })
}

/// Gives back a chunk from [`map`].
///
/// # Safety
///
/// `chunk` came from `map(layout)` with this layout and is no longer used.
pub(crate) unsafe fn unmap(chunk: NonNull<u8>, layout: Layout) {
    if !mapped(layout) {
        // SAFETY: per the contract, `map` took it from the global
        // allocator with this layout.
        unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) };
        return;
    }
    // SAFETY: per the contract, the chunk is a mapping of exactly
    // `layout.size()` bytes that nothing uses.
    let ok = unsafe { libc::munmap(chunk.as_ptr().cast(), layout.size()) };
    debug_assert_eq!(ok, 0, "munmap of a chunk failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_aligned_writable_and_given_back() {
        for (size, align) in [(1 << 20, 1 << 20), (64 << 10, 64 << 10), (8192, 16)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let chunks: Vec<_> = (0..4).map(|_| map(layout).expect("memory")).collect();
            for (i, c) in chunks.iter().enumerate() {
                assert_eq!(c.as_ptr().addr() % align, 0, "aligned to {align}");
                // SAFETY: the chunk is ours and `size` bytes long.
                unsafe {
                    c.as_ptr().write(i as u8);
                    c.as_ptr().add(size - 1).write(i as u8);
                }
            }
            for (i, c) in chunks.iter().enumerate() {
                // SAFETY: written above.
                assert_eq!(unsafe { c.as_ptr().add(size - 1).read() }, i as u8);
            }
            for c in chunks {
                // SAFETY: from `map(layout)`, unused now.
                unsafe { unmap(c, layout) };
            }
        }
        // Not whole OS pages: the global allocator's, given back there.
        let small = Layout::from_size_align(1024, 1024).unwrap();
        let c = map(small).expect("memory");
        assert_eq!(c.as_ptr().addr() % 1024, 0);
        // SAFETY: from `map(small)`, unused.
        unsafe { unmap(c, small) };
    }
}
