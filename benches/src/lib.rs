//! Echo beside tokio and async-executor: the workloads of WORKLOADS.md,
//! shared by the criterion benches and the `compare` binary.

pub mod peers;
pub mod special;
pub mod stats;
pub mod sys;
pub mod timers;
pub mod workloads;
