//! `spawn_blocking`: a bounded, elastic pool of threads for closures that
//! block (file and database calls, compression, synchronous libraries), so
//! that they never stall the workers.
//!
//! # How a blocking call becomes a `JoinHandle`
//!
//! `spawn_blocking(f)` submits two things: a tiny Echo task (the *relay*)
//! and a job for the pool. The job runs `f` on a pool thread under
//! `catch_unwind` and puts the outcome in a one-shot slot; the relay awaits
//! that slot and returns the value, or resumes the closure's panic, so the
//! core records it as the task's panic. The caller therefore gets an
//! ordinary [`JoinHandle<T>`](crate::JoinHandle), with everything a handle
//! does: awaiting, [`abort`](crate::JoinHandle::abort), priority
//! inheritance, and cancellation at shutdown.
//!
//! The relay runs at the priority of the task that called `spawn_blocking`
//! (Normal outside a task) and is counted in the scheduler's metrics like
//! any task.
//!
//! # The pool
//!
//! - Bounded: at most `max_blocking_threads` threads (default 64). Closures
//!   beyond that wait in a FIFO queue for a free thread.
//! - Elastic: no thread exists until the first closure; a closure that
//!   finds no idle thread starts one (under the bound); a thread that has
//!   been idle for `blocking_keep_alive` (default 10 s) exits.
//! - A panic in a closure is caught on its thread and reported through the
//!   handle; the thread lives on.
//! - An aborted handle whose closure has not started yet skips the closure.
//!   A closure that has started always runs to its end (threads cannot be
//!   interrupted).
//! - Shutdown: queued closures are dropped without running, running
//!   closures finish, and every pool thread is joined. Their handles, like
//!   every unfinished task's, report cancellation: the relay tasks are
//!   cancelled by the scheduler's shutdown, which comes first.
//!
//! Pool threads are named `{thread_name}-blocking-{n}`. They run inside the
//! scheduler's context: [`spawn`](crate::spawn),
//! [`spawn_blocking`](crate::spawn_blocking) and (with the `tokio` feature)
//! tokio's `Handle::current()` work in a closure, and so does
//! [`Scheduler::block_on`], since a pool thread may block.

use crate::context;
use crate::platform::StdPlatform;
use crate::scheduler::{Scheduler, SchedulerBuilder};
use crate::threads::{self, Join};
use echo_sched_core::{JoinHandle, Priority};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

type Core = echo_sched_core::Scheduler<StdPlatform>;

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

impl SchedulerBuilder {
    /// The most threads the blocking pool runs at once (default 64).
    /// Closures submitted while all of them are busy wait in a queue, in
    /// submission order. `0` is refused by
    /// [`build`](SchedulerBuilder::build) with
    /// [`BuildError::ZeroBlockingThreads`](crate::BuildError::ZeroBlockingThreads).
    ///
    /// Threads start only when a closure needs one; see
    /// [`spawn_blocking`](crate::spawn_blocking).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().max_blocking_threads(4).build()?;
    /// assert_eq!(scheduler.blocking_threads(), 0); // none until needed
    /// # Ok::<(), echo_std::BuildError>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.services.blocking.max_threads = n;
        self
    }

    /// How long a blocking-pool thread waits for another closure before it
    /// exits (default 10 seconds).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// use std::time::Duration;
    /// let scheduler = Scheduler::builder().blocking_keep_alive(Duration::from_secs(1)).build()?;
    /// assert_eq!(scheduler.block_on(scheduler.spawn_blocking(|| 4))?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.services.blocking.keep_alive = keep_alive;
        self
    }
}

thread_local! {
    /// The blocking pool of the scheduler this thread belongs to.
    static CURRENT_POOL: RefCell<Option<BlockingPool>> = const { RefCell::new(None) };
}

/// Makes `pool` the calling thread's blocking pool until the guard drops.
pub(crate) fn enter(pool: BlockingPool) -> PoolGuard {
    let prev = CURRENT_POOL.with(|c| c.replace(Some(pool)));
    PoolGuard { prev }
}

/// Restores the previous pool when dropped.
pub(crate) struct PoolGuard {
    prev: Option<BlockingPool>,
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The thread may be exiting; then there is nothing to restore.
        let _ = CURRENT_POOL.try_with(|c| c.replace(prev));
    }
}

/// Runs `f` on the blocking pool of the current scheduler and returns a
/// handle to its result.
///
/// Call it from a task, from inside [`Scheduler::block_on`], or from
/// another blocking closure. The closure runs on one of the scheduler's
/// blocking threads (bounded by
/// [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads), started
/// on demand, and retired after
/// [`blocking_keep_alive`](SchedulerBuilder::blocking_keep_alive) idle), so
/// it may block for as long as it likes without delaying any task.
///
/// The handle resolves to the closure's value, to a panic
/// ([`JoinError::is_panic`](crate::JoinError::is_panic), with the payload)
/// if the closure panicked, or to a cancellation if the scheduler shut down
/// first. [`abort`](crate::JoinHandle::abort) cancels the handle, and also
/// the closure if it has not started yet; a started closure runs to its
/// end and its value is dropped. After shutdown the closure is dropped
/// unrun and the handle is cancelled.
///
/// # Panics
///
/// If the calling thread belongs to no Echo scheduler (use
/// [`Scheduler::spawn_blocking`] there).
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let task = scheduler.submit(async {
///     // Blocks a pool thread, not this task's worker.
///     let sum = echo_std::spawn_blocking(|| {
///         std::thread::sleep(std::time::Duration::from_millis(10));
///         (1..=10u32).sum::<u32>()
///     });
///     sum.await.unwrap()
/// }, Priority::High);
/// assert_eq!(scheduler.block_on(task)?, 55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = CURRENT_POOL.with(|c| c.borrow().clone());
    let Some(pool) = pool else {
        panic!(
            "echo_std::spawn_blocking called outside an Echo scheduler: call it from a task, \
             or inside Scheduler::block_on, or use Scheduler::spawn_blocking"
        );
    };
    let priority = context::current().map_or(Priority::Normal, |info| info.priority());
    pool.spawn(f, |relay| crate::spawn(relay, priority))
}

impl Scheduler {
    /// Runs `f` on this scheduler's blocking pool and returns a handle to
    /// its result; from any thread. See [`spawn_blocking`] for what the
    /// handle reports.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler.spawn_blocking(|| std::fs::metadata(".").is_ok());
    /// assert!(scheduler.block_on(handle)?);
    ///
    /// let boom = scheduler.spawn_blocking(|| -> u8 { panic!("boom") });
    /// assert!(scheduler.block_on(boom).unwrap_err().is_panic());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.services
            .blocking
            .spawn(f, |relay| self.submit(relay, Priority::Normal))
    }

    /// Threads in the blocking pool now, busy or idle (at most
    /// [`max_blocking_threads`](SchedulerBuilder::max_blocking_threads)).
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().max_blocking_threads(2).build()?;
    /// assert_eq!(scheduler.blocking_threads(), 0);
    /// scheduler.block_on(scheduler.spawn_blocking(|| ()))?;
    /// assert!((1..=2).contains(&scheduler.blocking_threads()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_threads(&self) -> usize {
        self.services.blocking.threads()
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
    fn spawn<F, R>(&self, f: F, submit: impl FnOnce(Relay<R>) -> JoinHandle<R>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let slot = Arc::new(Slot::default());
        // The relay first: if the scheduler refuses it (shut down), the
        // handle is already cancelled and the closure is dropped unrun.
        let handle = submit(Relay { slot: slot.clone() });
        if handle.is_finished() {
            return handle;
        }
        let job: Job = Box::new(BlockingJob {
            f: Some(f),
            outcome: None,
            sender: Sender(slot),
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
                crate::platform::drop_payload(payload);
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
                    crate::platform::drop_payload(payload);
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

/// Where a pool thread leaves a closure's outcome for its relay task.
struct Slot<R> {
    state: Mutex<SlotState<R>>,
}

struct SlotState<R> {
    outcome: Option<thread::Result<R>>,
    waker: Option<Waker>,
    /// The job was dropped, run or not; no outcome will come after this.
    closed: bool,
    /// The relay is gone (finished, aborted or cancelled).
    receiver_gone: bool,
}

impl<R> Default for Slot<R> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                waker: None,
                closed: false,
                receiver_gone: false,
            }),
        }
    }
}

impl<R> Slot<R> {
    fn lock(&self) -> MutexGuard<'_, SlotState<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pool thread's end of a slot.
struct Sender<R>(Arc<Slot<R>>);

impl<R> Sender<R> {
    fn receiver_gone(&self) -> bool {
        self.0.lock().receiver_gone
    }

    fn send(self, outcome: thread::Result<R>) {
        let mut state = self.0.lock();
        if state.receiver_gone {
            drop(state);
            // Dropped here, on the pool thread, outside the lock.
            drop(outcome);
            return;
        }
        state.outcome = Some(outcome);
        // `drop(self)` below closes the slot and wakes the relay.
    }
}

impl<R> Drop for Sender<R> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The relay task's future: the closure's value, or its panic resumed.
pub(crate) struct Relay<R> {
    slot: Arc<Slot<R>>,
}

impl<R> Future for Relay<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut state = self.slot.lock();
        match state.outcome.take() {
            Some(Ok(value)) => Poll::Ready(value),
            // The core catches this and reports the closure's own payload.
            Some(Err(payload)) => {
                drop(state);
                panic::resume_unwind(payload)
            }
            // Dropped unrun: at shutdown (which cancels this task before it
            // can be polled again) or because no pool thread could start.
            None if state.closed => {
                drop(state);
                panic!("echo: the blocking closure was dropped without running")
            }
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for Relay<R> {
    fn drop(&mut self) {
        let mut state = self.slot.lock();
        state.receiver_gone = true;
        state.waker = None;
        // An outcome nobody will read is dropped with the slot, by
        // whichever side lets go last.
    }
}
