//! The idle/notify protocol (`internals::Idle`): workers going to park
//! racing a remote submitter, with no lost wake-up.
//!
//! A worker does what `worker.rs` does when it runs out of work: look at
//! the queue; become a searcher if the rules allow; look again (a search);
//! then park: `transition_to_parked`, re-check the queue and notify if it
//! finds work. A worker that finds work as a
//! searcher leaves searching and, as the last searcher, notifies another. A
//! submitter pushes and calls `worker_to_notify`; the worker it names gets
//! an unpark token. (Each thread stops at its park instead of blocking.)
//!
//! A third model has a worker that never comes back from the item it runs
//! (a task that blocks its thread): the other item must still reach the
//! other worker.
//!
//! Checked when every thread is done: if an item is still queued, some
//! worker that is parked holds an unpark token (it will wake, as a
//! searcher, and find it); every token was given to a parked worker that
//! the notifier took off the sleeper list; and the idle counts add up.

use echo_sched_core::internals::{Idle, Injector};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

struct World {
    idle: Idle,
    queue: Injector<usize>,
    /// Unpark tokens given, per worker.
    unparks: [AtomicUsize; 2],
    /// Items run, per worker.
    ran: [AtomicUsize; 2],
    /// Where a worker thread that models a real park blocks (see
    /// `park_until_token`): the tokens given, and whether the model is over.
    bell: Mutex<([usize; 2], bool)>,
    rung: Condvar,
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World {
            idle: Idle::new(2),
            queue: Injector::new(),
            unparks: Default::default(),
            ran: Default::default(),
            bell: Mutex::new(([0; 2], false)),
            rung: Condvar::new(),
        })
    }

    /// `Shared::notify_one`.
    fn notify_one(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.unparks[w].fetch_add(1, SeqCst);
            self.bell.lock().unwrap().0[w] += 1;
            self.rung.notify_all();
        }
    }

    /// Worker `w`'s park: true once it has a token, false if the model
    /// ends first.
    fn park_until_token(&self, w: usize) -> bool {
        let mut bell = self.bell.lock().unwrap();
        loop {
            if bell.0[w] > 0 {
                return true;
            }
            if bell.1 {
                return false;
            }
            bell = self.rung.wait(bell).unwrap();
        }
    }

    /// Ends the model: a thread still parked stays so.
    fn end(&self) {
        self.bell.lock().unwrap().1 = true;
        self.rung.notify_all();
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
        self.idle.transition_to_parked(w, searching);
        if !self.queue.is_empty() {
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
        world.idle.transition_to_parked(1, false);
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

#[test]
fn a_second_item_reaches_the_other_worker_while_the_first_blocks() {
    // Worker 0 is parked; worker 1 is running dry. Two items arrive. The
    // worker that takes the first never returns from it, so the second one
    // must be run by, or have woken, the other worker. (Before every
    // parking worker re-checked the queues, worker 1 could give up
    // searching because the woken worker 0 counted as a searcher, then
    // park without looking again after worker 0's hand-off had found every
    // worker awake: the second item waited for the first to end.)
    // The losing schedule takes three preemptions; CI's default bound is 2.
    crate::model_deeper("idle::second_item_while_first_blocks", 3, || {
        let world = World::new();
        world.idle.transition_to_parked(0, false);
        let submitter = {
            let world = world.clone();
            thread::spawn(move || {
                world.submit(1);
                world.submit(2);
            })
        };
        let dry = {
            let world = world.clone();
            thread::spawn(move || world.worker_runs_dry(1))
        };
        let woken = {
            let world = world.clone();
            thread::spawn(move || {
                if !world.park_until_token(0) {
                    return false;
                }
                // Woken as a searcher.
                if world.queue.pop().is_some() {
                    if world.idle.transition_from_searching() {
                        world.notify_one();
                    }
                    world.run(0);
                } else {
                    world.idle.transition_to_parked(0, true);
                    if !world.queue.is_empty() {
                        world.notify_one();
                    }
                }
                true
            })
        };
        submitter.join().unwrap();
        dry.join().unwrap();
        world.end();
        let consumed = woken.join().unwrap();
        let ran: usize = (0..2).map(|w| world.ran[w].load(SeqCst)).sum();
        if ran == 2 {
            return;
        }
        // An item is left: a worker that is not running one (a runner
        // never returns) must hold a token it has not used.
        let waiting_token = (0..2).any(|w| {
            let tokens = world.unparks[w].load(SeqCst);
            let used = usize::from(w == 0 && consumed);
            world.ran[w].load(SeqCst) == 0 && tokens > used
        });
        assert!(
            waiting_token,
            "lost wake-up: an item queued, one worker blocked in the other \
             item and the other parked with no token"
        );
    });
}
