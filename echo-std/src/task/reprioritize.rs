//! `task::set_priority`: the running task moves itself to another tier.

use crate::context;
use echo_sched_core::Priority;

/// Moves the calling task to `priority`: it runs at that tier from its
/// next wake. Returns false outside a task of an Echo scheduler, or when
/// the task already has that priority.
///
/// A task that learns its tier only once it runs (an HTTP/2 stream whose
/// method is known only after its task was spawned) moves itself, then
/// yields so that its next poll is queued at the new tier:
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let task = scheduler.submit(async {
///     assert!(echo_std::task::set_priority(Priority::Low));
///     echo_std::yield_now().await; // requeued at Low
///     echo_std::task::current().unwrap().priority()
/// }, Priority::High);
/// assert_eq!(scheduler.block_on(task)?, Priority::Low);
/// assert!(!echo_std::task::set_priority(Priority::Low)); // not in a task
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_priority(priority: Priority) -> bool {
    context::has_current() && context::with_core(|core| core.set_current_priority(priority))
}
