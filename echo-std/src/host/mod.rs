//! The operating system under Echo: the platform the core runs on
//! ([`StdPlatform`]: parkers, the clock, panic containment, the slab's
//! memory), and the thread plumbing around it (joining, thread hooks,
//! blocking a thread on a future).
//!
//! The bottom layer: nothing here imports another echo-std module. It
//! knows nothing of tokio either: where the platform must reach an I/O
//! reactor (feature `tokio`), it calls the [`EventLoop`] trait, which the
//! `tokio_bridge` module implements.

pub(crate) mod backoff;
pub(crate) mod block_on;
mod clock;
#[cfg(feature = "tokio")]
mod events;
#[cfg(all(feature = "tokio", target_os = "linux"))]
mod high_watch;
#[cfg(unix)]
mod os_memory;
pub(crate) mod park;
mod payload;
pub(crate) mod platform;
pub(crate) mod thread_hooks;
pub(crate) mod threads;

#[cfg(feature = "tokio")]
pub(crate) use events::EventLoop;
#[cfg(all(feature = "tokio", target_os = "linux"))]
pub(crate) use high_watch::HighWatch;
pub(crate) use payload::drop_payload;
pub(crate) use platform::{Core, StdPlatform, on_any_worker};
