//! Starting a scheduler's own threads: the workers and, with the `tokio`
//! feature on Linux, the High responder.
//!
//! Every such thread enters the scheduler's context (`context::enter`) and
//! its services' (the blocking pool, tokio's runtime) for its whole life,
//! and asks for a tight timer slack, since it may be the one that sleeps
//! until a timer's deadline.

use crate::context;
use crate::host::Core;
use crate::host::thread_hooks::ThreadHook;
use crate::host::threads::tighten_timer_slack;
use crate::runtime::services::ThreadContext;
use std::io;
use std::thread::{self, JoinHandle};

/// Starts worker `index` of `core`, named `{name}-{index}`, which runs
/// `on_start` before its first poll and `on_stop` after its last.
pub(crate) fn worker(
    core: Core,
    index: usize,
    services: ThreadContext,
    name: &str,
    stack_size: Option<usize>,
    on_start: Option<ThreadHook>,
    on_stop: Option<ThreadHook>,
) -> io::Result<JoinHandle<()>> {
    let mut b = thread::Builder::new().name(format!("{name}-{index}"));
    if let Some(bytes) = stack_size {
        b = b.stack_size(bytes);
    }
    b.spawn(move || {
        // Timers fire on time when this worker is the sleeper.
        tighten_timer_slack();
        let _ctx = context::enter(core.clone());
        // spawn_blocking's pool and (feature tokio) tokio's runtime.
        let _services = services.enter();
        if let Some(hook) = &on_start {
            hook.call();
        }
        core.run_worker(index);
        if let Some(hook) = &on_stop {
            hook.call();
        }
    })
}

/// Starts the High responder thread, `{name}-high`, for `core`'s responder
/// slot 0; the platform holds its watch (see
/// `tokio_bridge/high_responder.rs`).
#[cfg(all(feature = "tokio", target_os = "linux"))]
pub(crate) fn high_responder(
    core: Core,
    services: ThreadContext,
    name: &str,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(format!("{name}-high"))
        .spawn(move || {
            tighten_timer_slack();
            let _ctx = context::enter(core.clone());
            let _services = services.enter();
            let Some(watch) = core.platform().high_watch() else {
                return;
            };
            while watch.wait() && !core.is_shutdown() {
                core.run_high(0);
            }
        })
}
