//! Helpers shared by the integration tests: drop counters, gates and
//! futures that park on a waker someone else holds. (The fuzz targets'
//! logic and their corpus replay are in `fuzz-logic/`.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Counts drops of the futures it wraps.
#[derive(Clone, Default)]
pub struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Wraps `fut` so that dropping it (finished or not) counts once.
    pub fn wrap<F: Future>(&self, fut: F) -> Counted<F> {
        Counted {
            fut: Box::pin(fut),
            count: self.0.clone(),
        }
    }
}

/// A future that counts its drop.
pub struct Counted<F> {
    fut: Pin<Box<F>>,
    count: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

/// A one-shot event: futures from [`Gate::wait`] stay pending until
/// [`Gate::open`], and keep their wakers meanwhile.
#[derive(Clone, Default)]
pub struct Gate(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the gate and wakes every waiter.
    pub fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap());
        for w in wakers {
            w.wake();
        }
    }

    /// Wakes every waiter without opening: each is polled and registers
    /// again.
    pub fn pulse(&self) {
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap());
        for w in wakers {
            w.wake();
        }
    }

    /// Waiters currently registered.
    pub fn waiters(&self) -> usize {
        self.0.wakers.lock().unwrap().len()
    }

    /// A future that completes once the gate is open.
    pub fn wait(&self) -> GateWait {
        GateWait(self.clone())
    }
}

/// The future of [`Gate::wait`].
pub struct GateWait(Gate);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &(self.0).0;
        if inner.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let mut wakers = inner.wakers.lock().unwrap();
        if inner.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Spins (yielding the OS thread) until `cond` holds or `timeout` passes;
/// returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    cond()
}

/// Burns CPU for about `d` without yielding: a task that hogs its worker.
pub fn busy_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The names of this process's threads, from /proc/self/task (Linux cuts
/// them to 15 bytes). Tests use it to check which threads a scheduler
/// started and that none is left behind.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task (Linux)")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}
