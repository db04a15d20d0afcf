//! The three schedulers under test, behind one small trait.
//!
//! Each peer is set up as its users would: Echo with `worker_count(W)`,
//! tokio's multi-thread runtime with `worker_threads(W)` and its drivers
//! enabled, async-executor as one shared `Executor` run by W threads.
//! `spawn` is each runtime's own spawn: called on a worker, it takes the
//! runtime's worker-local path where the runtime has one.

use echo_std::{Priority, Scheduler};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;

/// A scheduler the workloads can run on.
pub trait Peer: Clone + Send + Sync + 'static {
    /// The peer's name in tables.
    const NAME: &'static str;
    /// Starts a runtime with `workers` worker threads.
    fn start(workers: usize) -> Self;
    /// Submits a detached task. Peers without priorities ignore `p`.
    fn spawn<F>(&self, f: F, p: Priority)
    where
        F: Future<Output = ()> + Send + 'static;
    /// Stops the runtime and joins its threads.
    fn stop(self);
}

/// Echo.
#[derive(Clone)]
pub struct Echo(pub Arc<Scheduler>);

impl Peer for Echo {
    const NAME: &'static str = "echo";

    fn start(workers: usize) -> Self {
        Echo(Arc::new(
            Scheduler::builder()
                .worker_count(workers)
                .thread_name("echo-bench")
                .build()
                .expect("echo scheduler"),
        ))
    }

    #[inline]
    fn spawn<F>(&self, f: F, p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.submit(f, p));
    }

    fn stop(self) {
        self.0.shutdown();
    }
}

/// Echo with the pooled slab turned off: every task is its own allocation
/// from the global allocator. Only for the slab's A/B measurement.
#[derive(Clone)]
pub struct EchoGlobalAlloc(pub Arc<Scheduler>);

impl Peer for EchoGlobalAlloc {
    const NAME: &'static str = "echo (global allocator)";

    fn start(workers: usize) -> Self {
        EchoGlobalAlloc(Arc::new(
            Scheduler::builder()
                .worker_count(workers)
                .thread_name("echo-bench-ga")
                .pooled_slab(false)
                .build()
                .expect("echo scheduler"),
        ))
    }

    #[inline]
    fn spawn<F>(&self, f: F, p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.submit(f, p));
    }

    fn stop(self) {
        self.0.shutdown();
    }
}

/// Echo with only the counters: no latency, depth or busy-time sampling.
/// Only for measuring what the detailed metrics cost.
#[derive(Clone)]
pub struct EchoCountersOnly(pub Arc<Scheduler>);

impl Peer for EchoCountersOnly {
    const NAME: &'static str = "echo (counters only)";

    fn start(workers: usize) -> Self {
        EchoCountersOnly(Arc::new(
            Scheduler::builder()
                .worker_count(workers)
                .thread_name("echo-bench-co")
                .detailed_metrics(false)
                .build()
                .expect("echo scheduler"),
        ))
    }

    #[inline]
    fn spawn<F>(&self, f: F, p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.submit(f, p));
    }

    fn stop(self) {
        self.0.shutdown();
    }
}

/// tokio's multi-thread runtime. Clones hold only the handle: a clone
/// dropped inside a task must not drop the runtime.
#[derive(Clone)]
pub struct Tokio {
    handle: tokio::runtime::Handle,
    rt: Arc<Mutex<Option<tokio::runtime::Runtime>>>,
}

impl Peer for Tokio {
    const NAME: &'static str = "tokio";

    fn start(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Tokio {
            handle: rt.handle().clone(),
            rt: Arc::new(Mutex::new(Some(rt))),
        }
    }

    #[inline]
    fn spawn<F>(&self, f: F, _p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(f));
    }

    fn stop(self) {
        let rt = self.rt.lock().unwrap().take();
        if let Some(rt) = rt {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

/// async-executor: one shared `Executor`, W threads each running it.
#[derive(Clone)]
pub struct AsyncExecutor {
    ex: Arc<async_executor::Executor<'static>>,
    threads: Arc<Mutex<Option<Runners>>>,
}

/// The stop event and the runner threads of an [`AsyncExecutor`].
type Runners = (Arc<StopEvent>, Vec<JoinHandle<()>>);

impl Peer for AsyncExecutor {
    const NAME: &'static str = "async-executor";

    fn start(workers: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let stop = Arc::new(StopEvent::default());
        let threads = (0..workers)
            .map(|i| {
                let (ex, stop) = (ex.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("async-executor-{i}"))
                    .spawn(move || futures_lite::future::block_on(ex.run(stop.wait())))
                    .expect("executor thread")
            })
            .collect();
        AsyncExecutor {
            ex,
            threads: Arc::new(Mutex::new(Some((stop, threads)))),
        }
    }

    #[inline]
    fn spawn<F>(&self, f: F, _p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.ex.spawn(f).detach();
    }

    fn stop(self) {
        let taken = self.threads.lock().unwrap().take();
        if let Some((stop, threads)) = taken {
            stop.fire();
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

/// A future that completes once fired: the executor threads run until it
/// does.
#[derive(Default)]
pub struct StopEvent {
    fired: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl StopEvent {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.fired.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            self.wakers.lock().unwrap().push(cx.waker().clone());
            if self.fired.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}
