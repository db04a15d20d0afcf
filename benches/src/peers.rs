//! The three schedulers under test, behind one small trait.
//!
//! Each peer is set up as its users would: Echo with `worker_count(W)`,
//! tokio's multi-thread runtime with `worker_threads(W)` and its drivers
//! enabled, async-executor as one shared `Executor` run by W threads.
//! `spawn` is each runtime's own spawn: called on a worker, it takes the
//! runtime's worker-local path where the runtime has one.

use echo_std::{Priority, Scheduler, SchedulerBuilder};
use std::future::Future;
use std::marker::PhantomData;
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
    /// Submits `futures` from the calling thread (as one batch where the
    /// runtime has a batch submission) and blocks the thread until every
    /// one has finished.
    fn run_batch<F>(&self, futures: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static;
    /// Stops the runtime and joins its threads.
    fn stop(self);
}

/// How an Echo peer is set up.
pub trait EchoSetup: Send + Sync + 'static {
    /// The peer's name in tables.
    const NAME: &'static str;
    /// Applies the setup to a builder.
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder;
}

/// Echo as its users get it.
pub struct Defaults;

/// Every task from the global allocator, for the slab's A/B measurement.
pub struct GlobalAlloc;

/// Only the counters (no latency, depth or busy-time sampling), for
/// measuring what the detailed metrics cost.
pub struct CountersOnly;

impl EchoSetup for Defaults {
    const NAME: &'static str = "echo";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        builder
    }
}

impl EchoSetup for GlobalAlloc {
    const NAME: &'static str = "echo (global allocator)";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        builder.pooled_slab(false)
    }
}

impl EchoSetup for CountersOnly {
    const NAME: &'static str = "echo (counters only)";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        builder.detailed_metrics(false)
    }
}

/// Echo, set up by `S`.
pub struct EchoPeer<S>(pub Arc<Scheduler>, PhantomData<S>);

/// Echo.
pub type Echo = EchoPeer<Defaults>;
/// Echo with each task from the global allocator.
pub type EchoGlobalAlloc = EchoPeer<GlobalAlloc>;
/// Echo with only the counters.
pub type EchoCountersOnly = EchoPeer<CountersOnly>;

impl<S> Clone for EchoPeer<S> {
    fn clone(&self) -> Self {
        EchoPeer(self.0.clone(), PhantomData)
    }
}

impl<S: EchoSetup> Peer for EchoPeer<S> {
    const NAME: &'static str = S::NAME;

    fn start(workers: usize) -> Self {
        let builder = Scheduler::builder()
            .worker_count(workers)
            .thread_name("echo-bench");
        EchoPeer(
            Arc::new(S::configure(builder).build().expect("echo scheduler")),
            PhantomData,
        )
    }

    #[inline]
    fn spawn<F>(&self, f: F, p: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.submit(f, p));
    }

    fn run_batch<F>(&self, futures: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handles = self.0.submit_batch(futures, Priority::Normal);
        self.0.block_on(async {
            for h in handles {
                h.await.expect("task finished");
            }
        });
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

    fn run_batch<F>(&self, futures: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // tokio has no batch submission: one spawn each.
        let handles: Vec<_> = futures.into_iter().map(|f| self.handle.spawn(f)).collect();
        self.handle.block_on(async {
            for h in handles {
                h.await.expect("task finished");
            }
        });
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

    fn run_batch<F>(&self, futures: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = Vec::with_capacity(futures.len());
        self.ex.spawn_many(futures, &mut tasks);
        futures_lite::future::block_on(async {
            for t in tasks {
                t.await;
            }
        });
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
