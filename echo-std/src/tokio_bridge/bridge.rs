//! What a scheduler owns of tokio, and which runtime its threads enter:
//! a runtime given by the user (nothing owned), the runtime its workers
//! drive (the default), or, kept to compare against, a runtime driven by
//! a thread of its own.

use crate::host::threads::{self, Join};
use crate::tokio_bridge::reactor::Reactor;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The runtime a scheduler's threads enter, and what the scheduler owns of
/// it.
pub(crate) struct TokioBridge {
    handle: Handle,
    owned: Owned,
}

enum Owned {
    /// A runtime given by the user.
    Nothing,
    /// The default: a runtime the workers drive.
    Reactor(Arc<Reactor>),
    /// The old mode, kept for comparison: a thread of its own drives it.
    DriverThread(Mutex<Driver>),
}

struct Driver {
    /// Tells the driver thread to return from `block_on` (taken once), and
    /// by when it must have shut the runtime down (`None`: no deadline).
    stop: Option<oneshot::Sender<Option<Instant>>>,
    /// The driver thread, until joined.
    thread: Option<thread::JoinHandle<()>>,
}

impl TokioBridge {
    /// Uses `external`, or the workers' `reactor`, or else starts a driver
    /// thread named `{thread_name}-tokio`.
    pub(crate) fn start(
        external: Option<&Handle>,
        reactor: Option<Arc<Reactor>>,
        thread_name: &str,
    ) -> io::Result<TokioBridge> {
        if let Some(handle) = external {
            return Ok(TokioBridge {
                handle: handle.clone(),
                owned: Owned::Nothing,
            });
        }
        if let Some(reactor) = reactor {
            return Ok(TokioBridge {
                handle: reactor.handle.clone(),
                owned: Owned::Reactor(reactor),
            });
        }
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{thread_name}-tokio-blocking"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<Option<Instant>>();
        let (ready, running) = std::sync::mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("{thread_name}-tokio"))
            .spawn(move || {
                let deadline = runtime.block_on(async move {
                    let _ = ready.send(());
                    // Also returns if the sender is dropped.
                    stopped.await.ok().flatten()
                });
                // Here, outside any async context: shut the runtime down,
                // which joins its blocking threads (used by `tokio::fs`),
                // or detaches those still busy at the deadline.
                match deadline {
                    Some(d) => {
                        runtime.shutdown_timeout(d.saturating_duration_since(Instant::now()))
                    }
                    None => drop(runtime),
                }
            })?;
        // The driver is in `block_on` from here on (or has died, which
        // `recv` reports by the sender's drop).
        let _ = running.recv();
        Ok(TokioBridge {
            handle,
            owned: Owned::DriverThread(Mutex::new(Driver {
                stop: Some(stop),
                thread: Some(thread),
            })),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// After the workers have stopped: shuts an owned runtime down, and
    /// joins a driver thread as `join` says (never when called on that
    /// thread, from a `tokio::spawn`ed future).
    pub(crate) fn shutdown(&self, join: Join) {
        let driver = match &self.owned {
            Owned::Nothing => return,
            Owned::Reactor(reactor) => return reactor.shutdown(join),
            Owned::DriverThread(driver) => driver,
        };
        let mut driver = driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stop) = driver.stop.take() {
            let deadline = match join {
                Join::Wait => None,
                Join::Until(d) => Some(d),
            };
            let _ = stop.send(deadline);
        }
        let Some(thread) = driver.thread.take() else {
            return;
        };
        drop(driver);
        threads::join(thread, join);
    }
}
