//! tokio-console sees Echo's tasks (feature `console`).
//!
//! [tokio-console](https://github.com/tokio-rs/console) reads what
//! `console-subscriber`'s `ConsoleLayer` makes of `tracing` data, and that
//! layer looks for a few shapes by name. With this feature Echo emits them:
//!
//! - **one span per task**, named `runtime.spawn` (target `echo::task`),
//!   with the fields `kind` (`"task"`), `task.name` (the task's name, if it
//!   has one), `task.id` (Echo's [`TaskId`](crate::task::TaskId)),
//!   `priority` (`"high"`, `"normal"` or `"low"`, the tier it was
//!   spawned at) and `loc.file`, `loc.line`, `loc.col` (where it was spawned: the
//!   spawn functions are `#[track_caller]` with this feature). The span is
//!   entered around every poll, so the console counts polls and busy time,
//!   and it closes when the task's future is dropped (it completed, or was
//!   cancelled);
//! - **waker events**, target `runtime::waker`, with `op` one of
//!   `waker.wake`, `waker.wake_by_ref`, `waker.clone` or `waker.drop`, and
//!   `task.id` the id of the task's span (which is how the layer finds the
//!   task: not Echo's id), so the console shows wakes, self-wakes, waker
//!   counts and scheduled time.
//!
//! Use it with console-subscriber built with `--cfg
//! console_without_tokio_unstable` (or `--cfg tokio_unstable`, which also
//! turns on tokio's own instrumentation): without one of them its layer
//! refuses to start. This repository sets the first in
//! `.cargo/config.toml`; a program of your own sets it in its own
//! `.cargo/config.toml` or `RUSTFLAGS`. Then:
//!
//! ```sh
//! cargo run --example console -p echo-std --features console  # the app
//! tokio-console                                              # in another terminal
//! ```
//!
//! Tasks submitted by [`submit`](crate::Scheduler::submit),
//! [`submit_batch`](crate::Scheduler::submit_batch),
//! [`spawn`](crate::spawn), [`Handle::spawn`](crate::Handle::spawn),
//! `JoinSet` and the [`TaskBuilder`](crate::TaskBuilder)'s `submit` are
//! instrumented, and so are the relay tasks of
//! [`spawn_blocking`](crate::spawn_blocking) (their location is inside
//! echo-std). The `try_submit` forms and `submit_async` are not: the
//! future they hand back on refusal, or the future they return, has the
//! caller's type.
//!
//! Cost: nothing without the feature (the spawn location is a zero-sized
//! value and `#[track_caller]` is off). With it and no subscriber enabling
//! the trace level, a spawn reads tracing's maximum level and a poll tests
//! one field. With a subscriber, each spawn allocates a small slot shared
//! with the task (its span, made once the task's id is known), each poll
//! enters the span, each waker operation emits an event, and a waker
//! cloned from a poll is an allocation of its own (it carries the span's
//! id). The `observe_cost` table of `benches/`'s `compare` measures it. Wakes from signal
//! handlers are not safe with the console listening (an event may
//! allocate), so interrupt-style wakers should stay off this feature.

#[cfg(feature = "console")]
mod span;
#[cfg(feature = "console")]
mod waker;

#[cfg(feature = "console")]
pub(crate) use span::{Slot, instrument};

/// Where a task was spawned: the caller's location with the `console`
/// feature, nothing (zero-sized) without it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    #[cfg(feature = "console")]
    pub(crate) location: &'static std::panic::Location<'static>,
}

impl Origin {
    /// The location of the caller of the `#[track_caller]` chain this is
    /// called in.
    #[cfg_attr(feature = "console", track_caller)]
    #[inline(always)]
    pub(crate) fn here() -> Origin {
        Origin {
            #[cfg(feature = "console")]
            location: std::panic::Location::caller(),
        }
    }
}
