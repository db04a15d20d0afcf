//! A one-shot event for `scheduler_ops`' tasks to wait on, so an input can
//! leave tasks pending and wake them later. (The integration tests have
//! their own `Gate` in `echo-tests`; this crate does not depend on it, so
//! that a fuzz build does not compile `echo-std`.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Futures from [`Gate::wait`] stay pending until [`Gate::open`], and keep
/// their wakers meanwhile.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    /// A closed gate.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Opens the gate and wakes every waiter.
    pub(crate) fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
        self.pulse();
    }

    /// Wakes every waiter without opening: each is polled and registers
    /// again.
    pub(crate) fn pulse(&self) {
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap());
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes once the gate is open.
    pub(crate) fn wait(&self) -> GateWait {
        GateWait(self.clone())
    }
}

/// The future of [`Gate::wait`].
pub(crate) struct GateWait(Gate);

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
