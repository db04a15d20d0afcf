//! The timer shard's lock (`internals::ShardLock`, `timer/lock.rs`):
//! workers that find it held park on their parkers instead of spinning,
//! and the release unparks them. Checked: mutual exclusion (loom's
//! `UnsafeCell` tracks the section), every taker gets in, and no waiter
//! sleeps through the release it waits for (loom reports a deadlock when
//! every thread is parked).
//!
//! The parkers are loom's own thread park/unpark, which keep a token as
//! `Platform::park` must.

use echo_sched_core::internals::ShardLock;
use loom::cell::UnsafeCell;
use loom::sync::{Arc, Mutex};
use loom::thread::{self, Thread};

struct World {
    lock: ShardLock,
    /// Guarded by `lock`.
    entered: UnsafeCell<usize>,
    /// Each worker's thread, registered before it first takes the lock.
    threads: Mutex<Vec<Option<Thread>>>,
}

// SAFETY (test): `entered` is only touched while `lock` is held.
unsafe impl Sync for World {}

impl World {
    fn new(workers: usize) -> Arc<World> {
        Arc::new(World {
            lock: ShardLock::new(workers),
            entered: UnsafeCell::new(0),
            threads: Mutex::new(vec![None; workers]),
        })
    }

    fn register(&self, w: usize) {
        self.threads.lock().unwrap()[w] = Some(thread::current());
    }

    fn unpark(&self, w: usize) {
        let t = self.threads.lock().unwrap()[w].clone();
        t.expect("a worker parks only after registering").unpark();
    }

    /// Takes the lock as worker `w` (`None`: a thread off the pool, which
    /// spins), enters, releases.
    fn enter(&self, waiter: Option<usize>) {
        self.lock.lock(waiter, |_| thread::park());
        // SAFETY: the lock is held.
        self.entered.with_mut(|n| unsafe { *n += 1 });
        self.lock.unlock(|w| self.unpark(w));
    }

    /// Once every taker has been joined.
    fn entered(&self) -> usize {
        // SAFETY: no other thread runs.
        self.entered.with(|n| unsafe { *n })
    }
}

#[test]
fn two_workers_take_turns_and_the_waiter_is_woken() {
    crate::model("timer_lock::two_workers", || {
        let world = World::new(2);
        world.register(0);
        let other = {
            let world = world.clone();
            thread::spawn(move || {
                world.register(1);
                world.enter(Some(1));
            })
        };
        world.enter(Some(0));
        other.join().unwrap();
        assert_eq!(world.entered(), 2);
    });
}

#[test]
fn a_worker_twice_against_a_worker_and_a_thread_off_the_pool() {
    crate::model("timer_lock::worker_twice_and_outsider", || {
        let world = World::new(2);
        world.register(0);
        let worker = {
            let world = world.clone();
            thread::spawn(move || {
                world.register(1);
                world.enter(Some(1));
            })
        };
        let outsider = {
            let world = world.clone();
            thread::spawn(move || world.enter(None))
        };
        // Twice: the second take meets a lock whose `parked` bits an
        // earlier release may have left or taken.
        world.enter(Some(0));
        world.enter(Some(0));
        worker.join().unwrap();
        outsider.join().unwrap();
        assert_eq!(world.entered(), 4);
    });
}
