//! The logic of Echo's cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`): each
//! target decodes its input into operations, runs them deterministically on
//! one thread against the real code, and checks every result against a
//! model. The targets call these `run` functions; `tests/corpus.rs` replays
//! the checked-in corpora (`fuzz/corpus/<target>/`) through them on stable,
//! so `cargo test --workspace` runs them without nightly or cargo-fuzz.
//!
//! This crate is the only one that turns on `echo-sched-core`'s `internals`
//! feature; it is not published.

mod gate;
mod input;

pub mod scheduler_ops;
pub mod slab_ops;
pub mod steal_protocol;
pub mod steal_tiers;
pub mod task_state;

use input::Input;
