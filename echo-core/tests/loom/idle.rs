//! The idle/notify protocol (`internals::Idle`): workers going to park
//! racing a remote submitter, with no lost wake-up.
//!
//! A worker does what `worker.rs` does when it runs out of work: look at
//! the queue; become a searcher if the rules allow; look again (a search);
//! then park: `transition_to_parked`, and as the last searcher re-check the
//! queue and notify if it finds work. A worker that finds work as a
//! searcher leaves searching and, as the last searcher, notifies another. A
//! submitter pushes and calls `worker_to_notify`; the worker it names gets
//! an unpark token. (Each thread stops at its park instead of blocking.)
//!
//! Checked when every thread is done: if an item is still queued, some
//! worker that is parked holds an unpark token (it will wake, as a
//! searcher, and find it); every token was given to a parked worker that
//! the notifier took off the sleeper list; and the idle counts add up.

use echo_sched_core::internals::{Idle, Injector};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

struct World {
    idle: Idle,
    queue: Injector<usize>,
    /// Unpark tokens given, per worker.
    unparks: [AtomicUsize; 2],
    /// Items run, per worker.
    ran: [AtomicUsize; 2],
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World {
            idle: Idle::new(2),
            queue: Injector::new(),
            unparks: Default::default(),
            ran: Default::default(),
        })
    }

    /// `Shared::notify_one`.
    fn notify_one(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.unparks[w].fetch_add(1, SeqCst);
        }
    }

    fn submit(&self, item: usize) {
        self.queue.push(item);
        self.notify_one();
    }

    fn run(&self, w: usize) {
        self.ran[w].fetch_add(1, SeqCst);
    }

    /// A worker with nothing of its own: search, then park.
    fn worker_runs_dry(&self, w: usize) {
        if self.queue.pop().is_some() {
            self.run(w);
            return;
        }
        // `search`: become a searcher if fewer than half search.
        let searching = self.idle.transition_to_searching();
        if searching && self.queue.pop().is_some() {
            // `leave_searching`: the last searcher wakes another.
            if self.idle.transition_from_searching() {
                self.notify_one();
            }
            self.run(w);
            return;
        }
        // `park` / `enter_parked`.
        if self.idle.transition_to_parked(w, searching) && !self.queue.is_empty() {
            self.notify_one();
        }
    }

    fn check_end(&self) {
        let parked: Vec<usize> = (0..2).filter(|&w| self.idle.is_parked(w)).collect();
        let tokens: Vec<usize> = (0..2).map(|w| self.unparks[w].load(SeqCst)).collect();
        for (w, &t) in tokens.iter().enumerate() {
            assert!(t <= 1, "worker {w} unparked twice");
            if t == 1 {
                assert!(!parked.contains(&w), "a token for a worker left parked");
                assert_eq!(self.ran[w].load(SeqCst), 0, "a busy worker was unparked");
            }
        }
        if !self.queue.is_empty() {
            assert!(
                tokens.contains(&1),
                "lost wake-up: work queued, every worker parked, no unpark"
            );
        }
        // Workers that were unparked count as searching; the rest are
        // parked or ran an item and stay awake.
        let woken = tokens.iter().sum::<usize>();
        assert_eq!(self.idle.num_searching(), woken, "searching count");
        assert_eq!(self.idle.num_parked(), parked.len());
    }
}

#[test]
fn two_workers_park_while_a_remote_submits() {
    crate::model("idle::two_workers_one_submitter", || {
        let world = World::new();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let world = world.clone();
                thread::spawn(move || world.worker_runs_dry(w))
            })
            .collect();
        world.submit(7);
        for t in workers {
            t.join().unwrap();
        }
        world.check_end();
    });
}

#[test]
fn a_parked_pool_is_woken_by_a_remote_submit() {
    crate::model("idle::parked_pool_remote_submit", || {
        let world = World::new();
        // Worker 1 parked earlier; worker 0 is going to park now.
        assert!(!world.idle.transition_to_parked(1, false));
        let worker = {
            let world = world.clone();
            thread::spawn(move || world.worker_runs_dry(0))
        };
        let submitter = {
            let world = world.clone();
            thread::spawn(move || world.submit(1))
        };
        world.submit(2);
        worker.join().unwrap();
        submitter.join().unwrap();
        // Two items and one of them run at most: one is still queued, so a
        // worker must be on its way.
        assert!(!world.queue.is_empty());
        world.check_end();
    });
}
