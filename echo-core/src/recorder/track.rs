//! A bounded, append-only buffer with one writer and any number of
//! readers, that needs no lock.
//!
//! Invariants:
//! - only one thread ever pushes to a track (the worker that owns it: the
//!   caller of [`Track::push`] proves it, see `runtime/record.rs`);
//! - slot `i` is written once, before `len` moves past `i` (a release
//!   store), and never again: a track fills up and then counts what it
//!   drops instead of overwriting;
//! - a reader loads `len` (acquire) and reads only the slots below it,
//!   which no one writes any more.
//!
//! So a reader can copy a track while its worker keeps recording, with no
//! lock and no retry, and a push is a relaxed load, a copy and a store.
//! The loom model `loom/track.rs` checks the publication.

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// A bounded append-only buffer of `T` with a single writer.
pub struct Track<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Slots written and published.
    len: AtomicUsize,
    /// Pushes refused because the track was full (written by the writer
    /// only: a load and a store).
    dropped: AtomicUsize,
}

// SAFETY: the writer hands `T` values to readers on other threads, which
// needs `T: Send`; slots are shared only under the protocol above.
unsafe impl<T: Send> Sync for Track<T> {}
// SAFETY: the track owns its `T`s.
unsafe impl<T: Send> Send for Track<T> {}

impl<T: Copy> Track<T> {
    /// A track with room for `capacity` values.
    pub fn new(capacity: usize) -> Track<T> {
        Track {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            len: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }

    /// Appends `value`, or counts it as dropped if the track is full.
    ///
    /// # Safety
    ///
    /// No other thread pushes to this track, now or concurrently: the
    /// caller is its one writer.
    #[inline]
    pub unsafe fn push(&self, value: T) {
        // Relaxed: only this thread writes `len`.
        let n = self.len.load(Ordering::Relaxed);
        match self.slots.get(n) {
            Some(slot) => {
                // SAFETY: slot `n` is at or past `len`, so no reader reads
                // it, and this thread is the only writer.
                slot.with_mut(|p| unsafe { (*p).write(value) });
                // Publishes the slot to readers that acquire `len`.
                self.len.store(n + 1, Ordering::Release);
            }
            None => {
                let d = self.dropped.load(Ordering::Relaxed);
                self.dropped.store(d + 1, Ordering::Relaxed);
            }
        }
    }

    /// A copy of the values published so far, oldest first.
    pub fn snapshot(&self) -> Vec<T> {
        let n = self.len.load(Ordering::Acquire);
        self.slots[..n]
            .iter()
            // SAFETY: slots below an acquired `len` were written before it
            // was published and are never written again.
            .map(|slot| slot.with(|p| unsafe { (*p).assume_init() }))
            .collect()
    }

    /// Values refused because the track was full.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_values_and_counts_the_rest() {
        let track = Track::new(3);
        for i in 0..5u32 {
            // SAFETY: this test is the only writer.
            unsafe { track.push(i) };
        }
        assert_eq!(track.snapshot(), [0, 1, 2]);
        assert_eq!(track.dropped(), 2);
    }

    #[test]
    fn a_reader_sees_a_prefix_while_the_writer_pushes() {
        let track = std::sync::Arc::new(Track::new(10_000));
        let writer = {
            let track = track.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    // SAFETY: this thread is the only writer.
                    unsafe { track.push(i) };
                }
            })
        };
        while !writer.is_finished() {
            let seen = track.snapshot();
            assert!(seen.iter().enumerate().all(|(i, &v)| v == i as u64));
        }
        writer.join().unwrap();
        assert_eq!(track.snapshot().len(), 10_000);
    }
}
