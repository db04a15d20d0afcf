//! What a `Scheduler` owns besides its workers: the blocking pool and, with
//! the `tokio` feature, the tokio bridge; and the context that every thread
//! running Echo code enters (workers, `block_on`, blocking threads).

use crate::blocking::{self, BlockingConfig, BlockingPool, PoolGuard};
use crate::host::Core;
use crate::host::threads::Join;
use crate::runtime::error::BuildError;
#[cfg(feature = "tokio")]
use crate::tokio_bridge::{Reactor, TokioBridge};
use std::marker::PhantomData;

/// The builder's settings for the services.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServicesConfig {
    pub(crate) blocking: BlockingConfig,
    /// A runtime to use instead of one of the scheduler's own.
    #[cfg(feature = "tokio")]
    pub(crate) tokio: Option<tokio::runtime::Handle>,
    /// Drive the owned runtime from a thread of its own (the old mode).
    #[cfg(feature = "tokio")]
    pub(crate) tokio_driver_thread: bool,
    /// Run a High responder (`tokio_bridge/high_responder.rs`).
    #[cfg(feature = "tokio")]
    pub(crate) high_responder: bool,
}

/// The services of one scheduler.
pub(crate) struct Services {
    pub(crate) blocking: BlockingPool,
    #[cfg(feature = "tokio")]
    pub(crate) tokio: TokioBridge,
    cx: ThreadContext,
}

impl Services {
    /// Starts the services of a scheduler whose core is `core`: the tokio
    /// bridge (the workers' `reactor`, a given runtime, or a driver thread)
    /// and an empty blocking pool.
    pub(crate) fn start(
        config: &ServicesConfig,
        core: &Core,
        thread_name: &str,
        #[cfg(feature = "tokio")] reactor: Option<std::sync::Arc<Reactor>>,
    ) -> Result<Services, BuildError> {
        if config.blocking.max_threads == 0 {
            return Err(BuildError::ZeroBlockingThreads);
        }
        #[cfg(feature = "tokio")]
        let tokio = TokioBridge::start(config.tokio.as_ref(), reactor, thread_name)
            .map_err(BuildError::Spawn)?;
        let blocking = BlockingPool::new(
            &config.blocking,
            thread_name,
            core.clone(),
            #[cfg(feature = "tokio")]
            tokio.handle().clone(),
        );
        let cx = ThreadContext {
            blocking: blocking.clone(),
            #[cfg(feature = "tokio")]
            tokio: tokio.handle().clone(),
        };
        Ok(Services {
            blocking,
            #[cfg(feature = "tokio")]
            tokio,
            cx,
        })
    }

    /// What a worker thread enters for its whole life.
    pub(crate) fn thread_context(&self) -> ThreadContext {
        self.cx.clone()
    }

    /// Enters the services' context on the calling thread until the guard
    /// drops (for `block_on`).
    pub(crate) fn enter(&self) -> ThreadGuard<'_> {
        self.cx.enter()
    }

    /// Stops the services after the workers: first the blocking pool
    /// (running closures may still use tokio), then the tokio runtime (and
    /// its driver thread, in that mode), and joins their threads as `join`
    /// says.
    pub(crate) fn shutdown(&self, join: Join) {
        self.blocking.shutdown(join);
        #[cfg(feature = "tokio")]
        self.tokio.shutdown(join);
    }
}

/// The per-thread context of a scheduler's services: its blocking pool
/// (for [`spawn_blocking`](crate::spawn_blocking)) and its tokio runtime.
/// The scheduler itself is entered separately (`context::enter`).
#[derive(Clone)]
pub(crate) struct ThreadContext {
    blocking: BlockingPool,
    #[cfg(feature = "tokio")]
    tokio: tokio::runtime::Handle,
}

impl ThreadContext {
    /// Enters the context until the guard drops.
    pub(crate) fn enter(&self) -> ThreadGuard<'_> {
        let pool = blocking::enter(self.blocking.clone());
        ThreadGuard {
            #[cfg(feature = "tokio")]
            _tokio: self.tokio.enter(),
            _pool: pool,
            _borrow: PhantomData,
        }
    }
}

/// Leaves the context when dropped: tokio's first, then the pool's (the
/// reverse of entering).
pub(crate) struct ThreadGuard<'a> {
    #[cfg(feature = "tokio")]
    _tokio: tokio::runtime::EnterGuard<'a>,
    _pool: PoolGuard,
    _borrow: PhantomData<&'a ()>,
}
