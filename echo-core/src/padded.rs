//! Cache-line padding for data that different workers write.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// The alignment of [`CachePadded`]: 128 bytes on 64-bit targets (two
/// 64-byte lines, because x86's adjacent-line prefetcher pulls lines in
/// pairs and ARM's big cores use 128-byte lines); 32 bytes elsewhere
/// (microcontrollers: a Cortex-M7's line, and no cache at all on smaller
/// cores, where more padding would only cost RAM).
#[cfg(target_pointer_width = "64")]
pub(crate) const LINE: usize = 128;
/// See the 64-bit definition.
#[cfg(not(target_pointer_width = "64"))]
pub(crate) const LINE: usize = 32;

/// Pads and aligns a value to [`LINE`] bytes, so two workers' hot fields
/// never share a cache line.
#[derive(Default)]
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[cfg_attr(not(target_pointer_width = "64"), repr(align(32)))]
pub(crate) struct CachePadded<T>(pub(crate) T);

const _: () = assert!(core::mem::align_of::<CachePadded<u8>>() == LINE);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
