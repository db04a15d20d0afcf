//! The logic of Echo's cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`): each
//! target decodes its input into operations, runs them deterministically on
//! one thread against the real code, and checks every result against a
//! model. The targets call these `run` functions; `tests/fuzz_corpus.rs`
//! replays the checked-in corpora through them on stable.

pub mod scheduler_ops;
pub mod slab_ops;
pub mod steal_protocol;
pub mod steal_tiers;
pub mod task_state;

/// Reads an input as a stream of small numbers; an exhausted input reads
/// as zeros, and `done` tells the caller to stop.
pub(crate) struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}
