//! Size classes and page layout: how big a page is, where its slots
//! start, which class serves an object, and where a free slot keeps its
//! free-list link.

//!
//! The geometry depends on the target. On 64-bit hosts a page is 64 KiB
//! (pages come in chunks of sixteen, see `pool.rs`), so a busy worker
//! rarely goes back to the pool. On smaller targets (microcontrollers,
//! whose whole heap may be a few tens of KiB) a page is 1 KiB, its header
//! shrinks with the cache-line padding, and the classes stop at 448 bytes
//! (two slots a page); larger tasks get a page of their own.

use crate::padded::LINE;
use crate::sync::AtomicUsize;

/// Bytes per small-task page.
#[cfg(target_pointer_width = "64")]
pub const PAGE_BYTES: usize = 64 * 1024;
/// Bytes per small-task page.
#[cfg(not(target_pointer_width = "64"))]
pub const PAGE_BYTES: usize = 1024;
/// Bytes of page header before the first slot (the page's `Page` struct,
/// rounded up to 16 so that 16-byte classes stay 16-aligned).
#[cfg(target_pointer_width = "64")]
pub(super) const PAGE_HEADER: usize = 256;
/// Bytes of page header before the first slot.
#[cfg(not(target_pointer_width = "64"))]
pub(super) const PAGE_HEADER: usize = 96;
/// The small size classes, in bytes per slot: 8-byte steps where tasks
/// are most common, then about 15% steps. A class whose size is a multiple
/// of 16 also serves 16-aligned tasks (slots start `PAGE_HEADER`, a
/// multiple of 16, into an aligned page).
#[cfg(target_pointer_width = "64")]
pub const CLASS_SIZES: [usize; 23] = [
    40, 48, 56, 64, 72, 80, 88, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 448, 512, 640,
    768, 896, 1024,
];
/// The small size classes, in bytes per slot (see the 64-bit definition).
#[cfg(not(target_pointer_width = "64"))]
pub const CLASS_SIZES: [usize; 15] = [
    40, 48, 56, 64, 72, 80, 96, 112, 128, 160, 192, 224, 256, 320, 448,
];

const _: () = assert!(PAGE_HEADER % 16 == 0);
const _: () = assert!(CLASS_SIZES[CLASS_SIZES.len() - 1] <= (PAGE_BYTES - PAGE_HEADER) / 2);
pub(super) const NUM_CLASSES: usize = CLASS_SIZES.len();
/// Words of a page's free-slot bitmap.
pub(super) const BITMAP_WORDS: usize = (PAGE_BYTES - PAGE_HEADER) / CLASS_SIZES[0] / 64 + 1;
/// Where a free slot keeps its free-list link: one word in, after the
/// slot's first word (its object's state word, which a free slot keeps so
/// that the shutdown walk can read it; see the module invariants). The
/// task header puts its vtable pointer here and asserts that it does.
pub const LINK_OFFSET: usize = size_of::<AtomicUsize>().next_multiple_of(align_of::<*mut u8>());

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
    let align = if align > LINE { align } else { LINE };
    PAGE_HEADER.next_multiple_of(align)
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

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
        let largest = CLASS_SIZES[NUM_CLASSES - 1];
        assert_eq!(class_for(largest, 8), Some(NUM_CLASSES - 1));
        assert_eq!(class_for(largest + 1, 8), None);
        assert_eq!(class_for(64, 32), None);
        assert_eq!(large_offset(8), PAGE_HEADER.next_multiple_of(LINE));
        assert_eq!(large_offset(4096), 4096);
    }
}
