//! `#[echo_std::main]` and `#[echo_std::test]`: the re-exported attributes
//! with their user documentation, and the function their expansion calls.

use crate::SchedulerBuilder;
use std::future::Future;

/// Runs `async fn main` on a new Echo scheduler.
///
/// The function becomes a plain `fn` that builds a
/// [`Scheduler`](crate::Scheduler) (one worker per CPU unless
/// `worker_count = N` says otherwise), runs the body with
/// [`block_on`](crate::Scheduler::block_on), then shuts the scheduler
/// down, cancelling tasks still running. Inside the body,
/// [`spawn`](crate::spawn), [`Handle::current`](crate::Handle::current)
/// and [`JoinSet::spawn`](crate::task::JoinSet::spawn) use that scheduler.
/// `main` may return a `Result`, as a plain `main` can.
///
/// ```
/// use echo_std::{Handle, Priority};
///
/// #[echo_std::main(worker_count = 2)]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     assert_eq!(Handle::current().worker_count(), 2);
///     let answer = echo_std::spawn(async { 42 }, Priority::Normal).await?;
///     let parsed: u32 = "7".parse()?;
///     assert_eq!(answer + parsed, 49);
///     Ok(())
/// }
/// ```
///
/// It refuses, with an error at the offending tokens, a function that is
/// not `async`, one with parameters or generics, an unknown argument and a
/// `worker_count` that is not a positive integer literal:
///
/// ```compile_fail
/// #[echo_std::main]
/// fn main() {}
/// ```
///
/// ```compile_fail
/// #[echo_std::main(worker_count = 0)]
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[echo_std::main(flavor = "multi_thread")]
/// async fn main() {}
/// ```
///
/// # Panics
///
/// If the scheduler cannot be built (the operating system refuses a
/// thread).
pub use echo_std_macros::main;

/// Makes an `async fn` a `#[test]` that runs on a new Echo scheduler.
///
/// As [`main`](macro@crate::main), but the function becomes a `#[test]`
/// and the scheduler has one worker unless `worker_count = N` asks for
/// more (tests run in parallel, each with its own scheduler). Other
/// attributes such as `#[should_panic]` go below it.
///
/// ```no_run
/// #[echo_std::test(worker_count = 2)]
/// async fn spawns() {
///     let two = echo_std::spawn(async { 2 }, echo_std::Priority::High);
///     assert_eq!(two.await.unwrap(), 2);
/// }
/// ```
///
/// # Panics
///
/// If the scheduler cannot be built (the operating system refuses a
/// thread).
pub use echo_std_macros::test;

/// Builds the scheduler and runs `body` on it; the expansion of `main` and
/// `test` calls this. The `Output = R` bound gives the `async` block its
/// output type, so `?` inside it knows what to convert errors into.
#[doc(hidden)]
pub fn run<R, F: Future<Output = R>>(builder: SchedulerBuilder, body: F) -> R {
    let scheduler = builder
        .build()
        .unwrap_or_else(|e| panic!("echo: could not build the scheduler: {e}"));
    // The scheduler drops after the body: shutdown, threads joined.
    scheduler.block_on(body)
}
