//! The running task's identity, task-local values
//! ([`task_local!`](crate::task_local)), [`JoinSet`] and the cooperative
//! budget ([`consume_budget`]).
//
// (Inside echo-std this folder is the task layer: what a task uses while
// it runs, and the builder that submits one. `TaskBuilder`, `yield_now`
// and `YieldNow` are re-exported at the crate's root, where they have
// always been; the rest is public here.)

mod budget;
pub(crate) mod builder;
mod join_set;
mod reprioritize;
mod task_local;
pub(crate) mod yield_now;

pub use crate::context::current;
pub use budget::consume_budget;
pub use builder::builder;
pub use echo_sched_core::{TaskId, TaskInfo, TaskName};
pub use join_set::JoinSet;
pub use reprioritize::set_priority;
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};

pub(crate) use builder::TaskBuilder;
