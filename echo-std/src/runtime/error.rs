//! `BuildError`: why `SchedulerBuilder::build` failed.

use echo_sched_core::ConfigError;
use std::fmt;

/// Why a scheduler could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is invalid (for example zero workers).
    Config(ConfigError),
    /// The operating system refused to start a worker thread (or, with
    /// the `tokio` feature, to make the tokio runtime).
    Spawn(std::io::Error),
    /// [`max_blocking_threads`](crate::SchedulerBuilder::max_blocking_threads)
    /// was zero: blocking closures could never run.
    ZeroBlockingThreads,
    /// The [`thread_name`](crate::SchedulerBuilder::thread_name) prefix contains a
    /// NUL byte, which no operating system accepts in a thread name.
    InvalidThreadName(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid scheduler configuration: {e}"),
            BuildError::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
            BuildError::ZeroBlockingThreads => {
                f.write_str("max_blocking_threads must be at least 1")
            }
            BuildError::InvalidThreadName(name) => {
                write!(f, "thread name prefix {name:?} contains a NUL byte")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
            BuildError::ZeroBlockingThreads | BuildError::InvalidThreadName(_) => None,
        }
    }
}
