//! The cooperative budget: a task that keeps finding work ready (a socket
//! that always has data, a channel that is never empty) would otherwise
//! keep its worker for as long as it likes.
//!
//! Each poll of a task starts with 128 units. [`consume_budget`] spends
//! one and yields once none is left, as do Echo's own timers
//! ([`time`](crate::time)) when they are ready and
//! [`JoinHandle`](crate::JoinHandle)s of finished tasks. tokio's resources
//! (`tokio::net`, `tokio::sync`, `tokio::time`) keep their own budget only
//! inside tokio's scheduler; polled by an Echo task they never yield on
//! their own, and tokio offers no public way to run a poll inside its
//! budget. A loop over a tokio resource that may always be ready should
//! call `consume_budget().await` once per iteration.

use crate::context;
use std::future::poll_fn;
use std::task::Poll;

/// Spends one unit of the running task's cooperative budget, yielding
/// (once) if it was spent: the task then goes behind the other ready tasks
/// of its tier, and comes back with a fresh budget.
///
/// Outside a task (in [`Scheduler::block_on`](crate::Scheduler::block_on)
/// on a thread of your own) there is no budget and it never yields.
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let task = scheduler.submit(async {
///     let mut sum = 0u64;
///     for i in 0..10_000u64 {
///         // A busy loop that lets others run every 128 iterations.
///         echo_std::task::consume_budget().await;
///         sum += i;
///     }
///     sum
/// }, Priority::Normal);
/// assert_eq!(scheduler.block_on(task)?, 49_995_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn consume_budget() {
    poll_fn(|cx| {
        let spent = context::has_current() && !context::with_core(|core| core.consume_budget());
        if spent {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}
