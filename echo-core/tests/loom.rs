//! Loom models of echo-core's atomic protocols, one module per protocol.
//!
//! Run: `RUSTFLAGS="--cfg echo_loom -C debug-assertions"
//! LOOM_MAX_PREEMPTIONS=2 cargo test -p echo-core --release --test loom`.
#![cfg(echo_loom)]

#[path = "loom/deque.rs"]
mod deque;
