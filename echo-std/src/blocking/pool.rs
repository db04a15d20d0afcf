//! The blocking pool: a bounded, elastic set of threads taking closures
//! from a FIFO queue (see the module above for the rules).
//!
//! Invariants, under the pool's mutex:
//! - `threads` counts the live pool threads, at most `max_threads`;
//! - `idle` counts the threads that will look at the queue before they
//!   wait or exit, so a queued job beyond `idle` starts a thread (under
//!   the bound) or waits for a busy one;
//! - after `shutdown` nothing is queued, and no thread starts.

use crate::blocking::enter;
use crate::blocking::relay::{Relay, Sender, Slot};
use crate::context;
use crate::host::threads::{self, Join};
use crate::host::{Core, drop_payload};
use echo_sched_core::JoinHandle;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// A closure for a pool thread, with its result slot. Dropping it unrun
/// closes the slot.
type Job = Box<dyn Work>;

/// A queued closure, run in two steps so that its thread counts as idle
/// before the result is handed over: a caller that submits again as soon
/// as it has the result finds that thread available instead of starting
/// another.
trait Work: Send + 'static {
    /// Runs the closure (catching its panic), unless its handle is gone.
    fn run(&mut self);
    /// Hands the outcome to the relay task.
    fn finish(self: Box<Self>);
}

struct BlockingJob<F, R> {
    f: Option<F>,
    outcome: Option<thread::Result<R>>,
    sender: Sender<R>,
}

impl<F, R> Work for BlockingJob<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    fn run(&mut self) {
        let Some(f) = self.f.take() else { return };
        if self.sender.receiver_gone() {
            // Aborted (or cancelled) before it started: skip it.
            return;
        }
        self.outcome = Some(panic::catch_unwind(AssertUnwindSafe(f)));
    }

    fn finish(self: Box<Self>) {
        let BlockingJob {
            outcome, sender, ..
        } = *self;
        if let Some(outcome) = outcome {
            sender.send(outcome);
        }
    }
}

/// The builder's settings for the pool.
#[derive(Clone, Debug)]
pub(crate) struct BlockingConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig {
            max_threads: 64,
            keep_alive: Duration::from_secs(10),
        }
    }
}

/// The scheduler's pool of threads for blocking closures. Cloning shares
/// the pool.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    /// Signalled for a queued closure (one waiter) and at shutdown (all).
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
    /// The scheduler that pool threads enter, so that `spawn` works there.
    core: Core,
    /// The context every pool thread enters besides the scheduler's.
    #[cfg(feature = "tokio")]
    tokio: tokio::runtime::Handle,
}

struct PoolState {
    queue: VecDeque<Job>,
    /// Live threads, busy or idle.
    threads: usize,
    /// Threads that will look at the queue before they wait or exit:
    /// those waiting on `work`, and those handing over a result. Each
    /// queued job beyond this count needs a thread of its own.
    idle: usize,
    shutdown: bool,
    /// Every thread started and not yet joined.
    handles: Vec<thread::JoinHandle<()>>,
    /// Numbers the threads' names.
    started: usize,
}

impl BlockingPool {
    pub(crate) fn new(
        config: &BlockingConfig,
        thread_name: &str,
        core: Core,
        #[cfg(feature = "tokio")] tokio: tokio::runtime::Handle,
    ) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                    handles: Vec::new(),
                    started: 0,
                }),
                work: Condvar::new(),
                max_threads: config.max_threads,
                keep_alive: config.keep_alive,
                thread_name: format!("{thread_name}-blocking"),
                core,
                #[cfg(feature = "tokio")]
                tokio,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.shared.lock()
    }

    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Submits the relay task with `submit`, then queues `f`, whose outcome
    /// the relay returns.
    pub(crate) fn spawn<F, R>(
        &self,
        f: F,
        submit: impl FnOnce(Relay<R>) -> JoinHandle<R>,
    ) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let slot = Arc::new(Slot::default());
        // The relay first: if the scheduler refuses it (shut down), the
        // handle is already cancelled and the closure is dropped unrun.
        let handle = submit(Relay::new(slot.clone()));
        if handle.is_finished() {
            return handle;
        }
        let job: Job = Box::new(BlockingJob {
            f: Some(f),
            outcome: None,
            sender: Sender::new(slot),
        });
        if let Err(job) = self.submit(job) {
            // Shut down meanwhile, or no thread could start: dropping the
            // job closes the slot, which the relay reports.
            drop(job);
        }
        handle
    }

    /// Queues `job` and makes sure a thread will take it: an idle one if
    /// there are at least as many idle threads as queued jobs, else a new
    /// one under the bound, else a busy one when it finishes. Gives the job
    /// back after shutdown, or if no thread exists and none could start.
    fn submit(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.shutdown {
            return Err(job);
        }
        state.queue.push_back(job);
        if state.idle >= state.queue.len() {
            drop(state);
            // After unlocking, so the woken thread can take the lock at
            // once. An idle thread that is not waiting yet misses this, but
            // looks at the queue before it waits.
            self.shared.work.notify_one();
            return Ok(());
        }
        if state.threads < self.shared.max_threads {
            // Threads that retired since the last start are done: join
            // them so their handles do not pile up.
            let (done, running) = std::mem::take(&mut state.handles)
                .into_iter()
                .partition(|h: &thread::JoinHandle<()>| h.is_finished());
            state.handles = running;
            for h in done {
                let _ = h.join();
            }
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("{}-{}", self.shared.thread_name, state.started))
                .spawn(move || shared.run_thread());
            match spawned {
                Ok(h) => {
                    state.started += 1;
                    state.threads += 1;
                    state.handles.push(h);
                }
                Err(_) if state.threads == 0 => {
                    // Nobody would ever run it.
                    let job = state.queue.pop_back().expect("the job just queued");
                    return Err(job);
                }
                // A busy thread takes it when it finishes its closure.
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Stops the pool: drops the queued closures, lets running ones finish,
    /// and joins the threads as `join` says (never the caller's; with a
    /// deadline, a thread whose closure still runs then is detached).
    pub(crate) fn shutdown(&self, join: Join) {
        let (queued, handles) = {
            let mut state = self.lock();
            state.shutdown = true;
            let queued = std::mem::take(&mut state.queue);
            let handles = std::mem::take(&mut state.handles);
            (queued, handles)
        };
        self.shared.work.notify_all();
        // Outside the lock: a closure's captures may do anything on drop,
        // panic included.
        for job in queued {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(job))) {
                drop_payload(payload);
            }
        }
        for h in handles {
            threads::join(h, join);
        }
    }
}

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pool thread's life: take closures until idle for `keep_alive`, or
    /// until shutdown.
    fn run_thread(self: Arc<Self>) {
        let _ctx = context::enter(self.core.clone());
        let _pool = enter(BlockingPool {
            shared: self.clone(),
        });
        #[cfg(feature = "tokio")]
        let _tokio = self.tokio.enter();
        // Started for a queued job: busy, not idle.
        let mut state = self.lock();
        loop {
            if state.shutdown {
                break;
            }
            if let Some(mut job) = state.queue.pop_front() {
                drop(state);
                job.run();
                // Idle from here: the caller may submit again the moment
                // it has the result.
                self.lock().idle += 1;
                // `run` caught the closure's panic; this catches one from
                // dropping a result nobody wants (and from dropping that
                // panic's payload).
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job.finish())) {
                    drop_payload(payload);
                }
                state = self.lock();
                state.idle -= 1;
                continue;
            }
            state.idle += 1;
            let (guard, waited) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(PoisonError::into_inner);
            state = guard;
            state.idle -= 1;
            // Retire after a keep-alive with nothing to do; otherwise (a
            // notification, a spurious wake-up, or work that came with
            // the timeout) look at the queue again.
            if waited.timed_out() && state.queue.is_empty() && !state.shutdown {
                break;
            }
        }
        state.threads -= 1;
    }
}
