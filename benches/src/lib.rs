//! Echo beside tokio and async-executor: the team's benchmark workloads,
//! shared by the criterion benches and the `compare` binary, and the HTTP
//! server workloads (Echo beside tokio only).

pub mod bare_responder;
pub mod burst;
pub mod grpc_bench;
pub mod grpc_tables;
pub mod http_bench;
pub mod http_server;
pub mod observe;
pub mod peers;
pub mod probe;
pub mod special;
pub mod stats;
pub mod sys;
pub mod timers;
pub mod workloads;
pub mod wrk;
