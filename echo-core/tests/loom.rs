//! Loom models of echo-core's atomic protocols, one module per protocol.
//!
//! Run (what CI runs):
//!
//! ```sh
//! RUSTFLAGS="--cfg echo_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//!     CARGO_TARGET_DIR=target/loom cargo test -p echo-sched-core --release \
//!     --features recorder --test loom
//! ```
//!
//! (`--features recorder` adds the timeline recorder's track model.)
//!
//! Deeper: `LOOM_MAX_PREEMPTIONS=3` (or unset, for no bound). Add
//! `-- --nocapture --test-threads=1` to see each model's execution count
//! and time.
#![cfg(echo_loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "loom/deque.rs"]
mod deque;
#[path = "loom/idle.rs"]
mod idle;
#[path = "loom/inbox.rs"]
mod inbox;
#[path = "loom/slab.rs"]
mod slab;
#[path = "loom/sleeper.rs"]
mod sleeper;
#[path = "loom/state.rs"]
mod state;
#[cfg(feature = "recorder")]
#[path = "loom/track.rs"]
mod track;

/// Runs `body` under `loom::model`, and prints how many executions loom
/// explored and how long that took.
pub(crate) fn model(name: &str, body: impl Fn() + Send + Sync + 'static) {
    model_deeper(name, 0, body);
}

/// [`model`], exploring at least `preemptions` preemptions per execution
/// whatever `LOOM_MAX_PREEMPTIONS` says: for small models whose failing
/// schedules are known to need more than the default bound.
pub(crate) fn model_deeper(
    name: &str,
    preemptions: usize,
    body: impl Fn() + Send + Sync + 'static,
) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let started = Instant::now();
    let mut builder = loom::model::Builder::new();
    if let Some(bound) = builder.preemption_bound {
        builder.preemption_bound = Some(bound.max(preemptions));
    }
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        body();
    });
    eprintln!(
        "loom model {name}: {} executions in {:.2?}",
        runs.load(Ordering::Relaxed),
        started.elapsed()
    );
}
