//! The sleeper hand-off (`internals::Sleeper`, `timer/sleeper.rs`): a
//! worker about to sleep with a deadline (until the earliest timer, and on
//! `std` inside the I/O reactor) races a submission and a timer armed
//! earlier than the deadline it read. No wake-up may be lost: work that
//! arrives finds the sleeper through the idle protocol (it is one of the
//! parked workers), and an earlier deadline either is seen by the sleeper
//! when it arms or makes the timer unpark it.
//!
//! The worker does what `worker.rs` does: look at the queue, park in the
//! idle protocol (re-checking as the last searcher), take the sleeper
//! role, and arm. Instead of blocking it stops there; the checks at the
//! end say whether it would sleep through work or past a deadline without
//! a token.
//!
//! Timers live in shards (one per worker, one off the pool), each with
//! its own earliest-deadline word; the sleeper sleeps until the least of
//! them. Two models arm into two shards; one checks the hand-over when the
//! sleeper wakes while another worker parks: the other worker either
//! takes the role or its shard's deadline is in what the waking sleeper
//! keeps watching (`Local::timer_cover`).

use echo_sched_core::internals::{Idle, Injector, Sleeper};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::thread;

/// "No timer" for the earliest-deadline word.
const NONE: u64 = u64::MAX;

struct World {
    idle: Idle,
    queue: Injector<usize>,
    sleeper: Sleeper,
    /// Each shard's earliest deadline (`Shard::next`).
    shards: [AtomicU64; 2],
    /// Unpark tokens given to worker 0 (the only one that parks here).
    unparks: AtomicUsize,
    /// What worker 0 armed for (`NONE` if it did not sleep).
    armed: AtomicU64,
}

impl World {
    fn new(workers: usize, next: u64) -> Arc<World> {
        Arc::new(World {
            idle: Idle::new(workers),
            queue: Injector::new(),
            sleeper: Sleeper::new(),
            shards: [AtomicU64::new(next), AtomicU64::new(NONE)],
            unparks: AtomicUsize::new(0),
            armed: AtomicU64::new(NONE),
        })
    }

    fn unpark(&self, w: usize) {
        assert_eq!(w, 0, "only worker 0 parks in these models");
        self.unparks.fetch_add(1, SeqCst);
    }

    /// `Shared::notify_one`.
    fn notify_one(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.unpark(w);
        }
    }

    fn submit(&self, item: usize) {
        self.queue.push(item);
        self.notify_one();
    }

    /// `Timers::earliest`: the least of every shard's word.
    fn earliest(&self) -> u64 {
        self.shards.iter().map(|s| s.load(SeqCst)).min().unwrap()
    }

    /// `Sleep::arm` arming a timer for `deadline` in `shard`: under the
    /// shard's lock its earliest deadline becomes it (if earlier); then
    /// `Shared::timer_armed`.
    fn arm_timer(&self, shard: usize, deadline: u64) {
        let before = self.shards[shard].load(SeqCst);
        if deadline < before {
            self.shards[shard].store(deadline, SeqCst);
            if let Some(w) = self.sleeper.to_wake(deadline) {
                self.unpark(w);
            }
        }
    }

    /// Worker 0 runs dry, parks, and becomes the sleeper.
    fn worker_goes_to_sleep(&self) {
        if self.queue.pop().is_some() {
            return;
        }
        let searching = self.idle.transition_to_searching();
        if searching && self.queue.pop().is_some() {
            if self.idle.transition_from_searching() {
                self.notify_one();
            }
            return;
        }
        self.idle.transition_to_parked(0, searching);
        if !self.queue.is_empty() {
            self.notify_one();
        }
        assert!(self.sleeper.try_take(0), "the role is vacant");
        let deadline = self.sleeper.arm(|| self.earliest());
        self.armed.store(deadline, SeqCst);
    }

    fn check_end(&self) {
        let tokens = self.unparks.load(SeqCst);
        let armed = self.armed.load(SeqCst);
        if !self.queue.is_empty() {
            assert!(
                tokens >= 1,
                "lost wake-up: work queued, the sleeper has no token"
            );
        }
        if armed != NONE || self.idle.is_parked(0) {
            // It sleeps until `armed`: an earlier deadline needs a token.
            if self.earliest() < armed {
                assert!(
                    tokens >= 1,
                    "lost wake-up: the sleeper sleeps past the earliest timer"
                );
            }
        }
    }
}

#[test]
fn a_timer_armed_while_the_worker_goes_to_sleep() {
    crate::model("sleeper::timer_vs_sleeper", || {
        let world = World::new(1, NONE);
        let sleeper = {
            let world = world.clone();
            thread::spawn(move || world.worker_goes_to_sleep())
        };
        world.arm_timer(0, 5);
        sleeper.join().unwrap();
        world.check_end();
    });
}

#[test]
fn an_earlier_timer_replaces_a_later_one_while_the_worker_arms() {
    crate::model("sleeper::earlier_timer_vs_sleeper", || {
        let world = World::new(1, 50);
        let sleeper = {
            let world = world.clone();
            thread::spawn(move || world.worker_goes_to_sleep())
        };
        world.arm_timer(0, 5);
        sleeper.join().unwrap();
        world.check_end();
    });
}

#[test]
fn work_and_a_timer_arrive_while_the_worker_goes_to_sleep() {
    crate::model("sleeper::work_and_timer_vs_sleeper", || {
        // Worker 1 is busy elsewhere (never parks): counted unparked.
        let world = World::new(2, NONE);
        let sleeper = {
            let world = world.clone();
            thread::spawn(move || world.worker_goes_to_sleep())
        };
        let timer = {
            let world = world.clone();
            thread::spawn(move || world.arm_timer(0, 5))
        };
        world.submit(1);
        sleeper.join().unwrap();
        timer.join().unwrap();
        world.check_end();
    });
}

#[test]
fn timers_armed_in_two_shards_while_the_worker_goes_to_sleep() {
    crate::model("sleeper::two_shards_vs_sleeper", || {
        let world = World::new(1, 50);
        let sleeper = {
            let world = world.clone();
            thread::spawn(move || world.worker_goes_to_sleep())
        };
        let other = {
            let world = world.clone();
            thread::spawn(move || world.arm_timer(1, 7))
        };
        world.arm_timer(0, 9);
        sleeper.join().unwrap();
        other.join().unwrap();
        world.check_end();
    });
}

#[test]
fn a_parked_workers_timers_are_watched_after_the_sleeper_wakes() {
    crate::model("sleeper::cover_on_release", || {
        // Worker 0 holds the role and is waking up (picked for work);
        // worker 1 arms a timer in its own shard (1) and parks.
        let world = World::new(2, NONE);
        assert!(world.sleeper.try_take(0));
        let parker = {
            let world = world.clone();
            thread::spawn(move || {
                world.arm_timer(1, 5);
                // `park`: the role if vacant, else a plain park.
                world.sleeper.try_take(1)
            })
        };
        // Worker 0 gives the role up, then reads what it will watch for
        // the other workers (`Timers::earliest_elsewhere`).
        world.sleeper.release();
        let cover = world.shards[1].load(SeqCst);
        let took_role = parker.join().unwrap();
        assert!(
            took_role || cover <= 5,
            "nobody watches the parked worker's timer"
        );
    });
}
