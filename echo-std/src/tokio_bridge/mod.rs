//! The tokio bridge (feature `tokio`): Echo tasks use tokio's I/O, timers
//! and file system, and the libraries built on them, unchanged.
//!
//! tokio's resources (`TcpStream`, `sleep`, `tokio::fs`, ...) work in any
//! executor's tasks, provided the thread that creates or polls them is
//! inside some tokio runtime's *context*, and that runtime's driver (the
//! epoll/kqueue loop and the timer wheel) keeps running somewhere. Every
//! worker thread, [`Scheduler::block_on`](crate::Scheduler::block_on) and the blocking-pool threads
//! enter the runtime's context (`Handle::enter`) for their whole life.
//! Which runtime, and who drives it:
//!
//! - **By default the workers drive a runtime of the scheduler's own**: a
//!   tokio current-thread runtime with I/O and time enabled, and no thread
//!   of its own. A current-thread runtime is driven by whichever thread is
//!   inside its `block_on`, one at a time:
//!   - a worker with nothing to do that becomes *the sleeper* (one at a
//!     time; the others park on their condvars as before) waits inside
//!     `block_on` on a future that completes when the worker is unparked,
//!     so it sleeps in `epoll_wait`. A submission wakes it the way it wakes
//!     any parked worker (the idle protocol picks whom to wake), and the
//!     unpark wakes that future, which interrupts the wait;
//!   - a busy worker polls the runtime without blocking at its scheduling
//!     points, about every 100 µs of polling (a non-blocking turn costs
//!     1 to 2 % of a busy worker, more the more it finds ready:
//!     `docs/DESIGN.md`), unless another worker is inside it already.
//!
//!   Either way the wakers of ready sockets and expired tokio timers run
//!   on a worker thread, so the tasks they wake take the worker's local
//!   path (Normal and Low to its own ring, High to the High injector), with
//!   no cross-thread hand-off and no third thread competing for the CPUs.
//!   Futures given to `tokio::spawn` run there too, in both cases.
//! - **Or hand it a runtime you already have**, with
//!   [`SchedulerBuilder::tokio_handle`](crate::SchedulerBuilder::tokio_handle):
//!   Echo enters that handle on the same threads, drives nothing and owns nothing of tokio's. The runtime's
//!   owner keeps it driven (a multi-thread runtime drives itself; a
//!   current-thread one only while someone is in its `block_on`) and alive
//!   for as long as the scheduler runs.
//! - **Or, for comparison, the earlier design**:
//!   [`SchedulerBuilder::tokio_driver_thread`](crate::SchedulerBuilder::tokio_driver_thread) runs the scheduler's runtime
//!   on a dedicated thread (`{thread_name}-tokio`) that sleeps in
//!   `epoll_wait` and hands every readiness event across threads to the
//!   injectors. Measured here on a TCP request/response loop it served
//!   fewer requests per second than the worker-driven default.
//!
//! **Timers.** Echo's own timers ([`time`](crate::time)) live in the core,
//! and the sleeper sleeps until the earliest of them. tokio's park timeout
//! (its timer wheel and `epoll_wait`) counts whole milliseconds and rounds
//! up, so it cannot end the wait on time. On Linux the sleeper arms a
//! `timerfd` (registered with the runtime's epoll) for the Echo deadline:
//! the reactor's wait ends on time, to the microsecond, and the sleeper
//! sees I/O readiness right up to the deadline. Elsewhere it asks tokio to
//! return 3 ms early and spends the last stretch on its precise parker (a
//! nanosecond timeout); readiness that arrives in that stretch while every
//! worker is idle waits until the Echo timer fires (at most 3 ms), and a
//! busy worker's 100 µs polls see it sooner. tokio's own timers
//! (`tokio::time`) keep tokio's 1 ms resolution.
//!
//! Why a runtime of its own by default: a desktop application that adopts
//! Echo as its one pool should not need a second executor to make I/O
//! work. Owning it also makes shutdown complete: [`Scheduler::shutdown`](crate::Scheduler::shutdown)
//! shuts the runtime down after the workers and the blocking pool have
//! stopped, which joins tokio's own blocking threads (used by `tokio::fs`),
//! so no thread is left behind.
//!
//! What to know:
//!
//! - `tokio::spawn` inside an Echo task runs its future on the tokio
//!   runtime, not as an Echo task: by default inside a worker's poll of the
//!   reactor, with no priority, and only while some worker drives it (the
//!   sleeper, or a busy worker every 100 µs). Use
//!   [`echo_std::spawn`](crate::spawn) for work.
//! - tokio's resources keep their cooperative budget only inside tokio's
//!   own scheduler: polled by an Echo task they never ask it to yield. See
//!   [`consume_budget`](crate::task::consume_budget).
//! - After shutdown the runtime is gone: tokio resources kept outside the
//!   scheduler stop making progress (their operations fail).
//! - A tokio resource binds to a runtime when it is *created* (a `Sleep`,
//!   a `TcpStream`): create it inside a task or inside the future given to
//!   `block_on`, not on a thread outside the context
//!   (`scheduler.block_on(tokio::time::sleep(d))` creates the `Sleep`
//!   before `block_on` enters the context, and panics; write
//!   `scheduler.block_on(async { tokio::time::sleep(d).await })`).
//! - Blocking pool threads are separate from tokio's:
//!   [`spawn_blocking`](crate::spawn_blocking) uses Echo's pool; tokio's
//!   `spawn_blocking` (and so `tokio::fs`) uses the runtime's.
//!
//! ```
//! use echo_std::{Priority, Scheduler};
//! use std::time::{Duration, Instant};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let scheduler = Scheduler::builder().worker_count(2).build()?;
//! let task = scheduler.submit(async {
//!     let start = Instant::now();
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     // The server side is another Echo task.
//!     let server = echo_std::spawn(async move {
//!         let (mut socket, _) = listener.accept().await?;
//!         socket.write_all(b"hello").await
//!     }, Priority::Normal);
//!     let mut client = tokio::net::TcpStream::connect(addr).await?;
//!     let mut greeting = String::new();
//!     client.read_to_string(&mut greeting).await?;
//!     server.await.unwrap()?;
//!     Ok::<_, std::io::Error>((greeting, start.elapsed()))
//! }, Priority::High);
//! let (greeting, elapsed) = scheduler.block_on(task)??;
//! assert_eq!(greeting, "hello");
//! assert!(elapsed >= Duration::from_millis(20));
//! scheduler.shutdown(); // shuts the runtime down too
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//!
//! Inside: the runtime the workers drive (`reactor.rs`: the platform's
//! event loop), what a scheduler owns of tokio
//! (`bridge.rs`), the Linux timerfd that ends the reactor's wait on time
//! (`deadline_fd.rs`) and what tasks call to let the High responder watch
//! a socket (`high_responder.rs`). The builder's switches and
//! `Scheduler::tokio_handle` are with the other methods of those types,
//! in `runtime/`.

mod bridge;
#[cfg(target_os = "linux")]
mod deadline_fd;
mod high_responder;
mod reactor;

pub(crate) use bridge::TokioBridge;
#[cfg(unix)]
pub use high_responder::watch_high;
// The hyper server watches its connections by descriptor.
#[cfg(all(feature = "hyper", target_os = "linux"))]
pub(crate) use high_responder::watch_high_fd;
pub(crate) use reactor::Reactor;
