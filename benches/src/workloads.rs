//! The throughput workloads (spawning, yielding, ping-pong, chained
//! spawns), one iteration each, generic over the peer. Completion is
//! signalled the way tokio's own benches do it: the last task sends on a
//! `std::sync::mpsc` channel that the bench thread waits on.

use crate::peers::Peer;
use echo_std::Priority;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Tasks in spawn_many_local and spawn_many_remote.
pub const SPAWN_MANY: usize = 10_000;
/// Tasks in yield_many.
pub const YIELD_TASKS: usize = 200;
/// Yields per task in yield_many.
pub const YIELDS: usize = 1_000;
/// Round trips in ping_pong.
pub const PINGS: usize = 1_000;
/// Links in chained_spawn.
pub const CHAIN: usize = 1_000;

/// Returns `Pending` once after waking itself (the yield of yield_many).
pub struct YieldOnce(bool);

/// A future that yields once.
pub fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Burns CPU for about `d`.
#[inline]
pub fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A peer with the channels and counters the workloads reuse.
pub struct Bench<P: Peer> {
    /// The runtime.
    pub peer: P,
    tx: SyncSender<()>,
    rx: Receiver<()>,
    rem: Arc<AtomicUsize>,
}

impl<P: Peer> Bench<P> {
    /// Starts `P` with `workers` workers.
    pub fn start(workers: usize) -> Self {
        let (tx, rx) = sync_channel(1000);
        Bench {
            peer: P::start(workers),
            tx,
            rx,
            rem: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Stops the runtime.
    pub fn stop(self) {
        self.peer.stop();
    }

    /// Runs a workload by name; false if the name is unknown.
    pub fn run(&self, workload: &str) -> bool {
        match workload {
            "spawn_many_local" => self.spawn_many_local(),
            "spawn_many_remote" => self.spawn_many_remote(),
            "yield_many" => self.yield_many(),
            "ping_pong" => self.ping_pong(),
            "chained_spawn" => self.chained_spawn(),
            _ => return false,
        }
        true
    }

    /// From inside one task, spawn 10 000 tasks that each decrement a
    /// counter; the last signals.
    pub fn spawn_many_local(&self) {
        self.rem.store(SPAWN_MANY, Relaxed);
        let (peer, tx, rem) = (self.peer.clone(), self.tx.clone(), self.rem.clone());
        self.peer.spawn(
            async move {
                for _ in 0..SPAWN_MANY {
                    let (tx, rem) = (tx.clone(), rem.clone());
                    peer.spawn(
                        async move {
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        },
                        Priority::Normal,
                    );
                }
            },
            Priority::Normal,
        );
        self.rx.recv().unwrap();
    }

    /// The same 10 000 tasks, spawned from this (non-worker) thread.
    pub fn spawn_many_remote(&self) {
        self.rem.store(SPAWN_MANY, Relaxed);
        for _ in 0..SPAWN_MANY {
            let (tx, rem) = (self.tx.clone(), self.rem.clone());
            self.peer.spawn(
                async move {
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                },
                Priority::Normal,
            );
        }
        self.rx.recv().unwrap();
    }

    /// 200 tasks, each yielding 1 000 times.
    pub fn yield_many(&self) {
        for _ in 0..YIELD_TASKS {
            let tx = self.tx.clone();
            self.peer.spawn(
                async move {
                    for _ in 0..YIELDS {
                        yield_once().await;
                    }
                    tx.send(()).unwrap();
                },
                Priority::Normal,
            );
        }
        for _ in 0..YIELD_TASKS {
            self.rx.recv().unwrap();
        }
    }

    /// 1 000 times: a task makes two oneshot channels, spawns a peer that
    /// awaits the first and answers on the second; the last signals.
    pub fn ping_pong(&self) {
        self.rem.store(PINGS, Relaxed);
        let (peer, tx, rem) = (self.peer.clone(), self.tx.clone(), self.rem.clone());
        self.peer.spawn(
            async move {
                for _ in 0..PINGS {
                    let (inner, tx, rem) = (peer.clone(), tx.clone(), rem.clone());
                    peer.spawn(
                        async move {
                            let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
                            let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
                            inner.spawn(
                                async move {
                                    rx1.await.unwrap();
                                    tx2.send(()).unwrap();
                                },
                                Priority::Normal,
                            );
                            tx1.send(()).unwrap();
                            rx2.await.unwrap();
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        },
                        Priority::Normal,
                    );
                }
            },
            Priority::Normal,
        );
        self.rx.recv().unwrap();
    }

    /// A chain of 1 000 tasks, each spawning the next; the last signals.
    pub fn chained_spawn(&self) {
        fn link<P: Peer>(peer: P, tx: SyncSender<()>, n: usize) {
            if n == 0 {
                tx.send(()).unwrap();
            } else {
                let next = peer.clone();
                peer.spawn(async move { link(next, tx, n - 1) }, Priority::Normal);
            }
        }
        let (peer, tx) = (self.peer.clone(), self.tx.clone());
        self.peer
            .spawn(async move { link(peer, tx, CHAIN) }, Priority::Normal);
        self.rx.recv().unwrap();
    }

    /// `n` tasks submitted from this thread as one batch (Echo only).
    pub fn submit_batch(&self, scheduler: &echo_std::Scheduler, n: usize) {
        self.rem.store(n, Relaxed);
        let tasks = (0..n).map(|_| {
            let (tx, rem) = (self.tx.clone(), self.rem.clone());
            async move {
                if rem.fetch_sub(1, Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            }
        });
        drop(scheduler.submit_batch(tasks, Priority::Normal));
        self.rx.recv().unwrap();
    }

    /// A CPU-bound fan-out: from inside one task, `tasks` tasks of about
    /// `work` each (the scaling workload).
    pub fn fan_out(&self, tasks: usize, work: Duration) {
        self.rem.store(tasks, Relaxed);
        let (peer, tx, rem) = (self.peer.clone(), self.tx.clone(), self.rem.clone());
        self.peer.spawn(
            async move {
                for _ in 0..tasks {
                    let (tx, rem) = (tx.clone(), rem.clone());
                    peer.spawn(
                        async move {
                            spin(work);
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        },
                        Priority::Normal,
                    );
                }
            },
            Priority::Normal,
        );
        self.rx.recv().unwrap();
    }
}

/// The throughput workloads, in table order.
pub const THROUGHPUT: [&str; 5] = [
    "spawn_many_local",
    "spawn_many_remote",
    "yield_many",
    "ping_pong",
    "chained_spawn",
];
