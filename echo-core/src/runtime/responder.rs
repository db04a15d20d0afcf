//! High responders: a worker slot that runs High tasks, and nothing else,
//! on a thread its host wakes when High work cannot wait for a worker.
//!
//! Why: when every worker is busy, readiness on a High task's socket waits
//! for some worker's next look at the host's events, and on a loaded
//! machine a worker that never sleeps also waits for its next time slice.
//! A thread that sleeps until the kernel signals that readiness is given a
//! CPU at once; if it can poll the High task itself, the task waits for a
//! poll plus a wake-up, whatever the workers are doing. The std adapter
//! runs one such thread (echo-std, `high_responder.rs`).
//!
//! Invariants:
//! - Responder slots come after the `worker_count` workers (`Config::
//!   responders`). They are outside the idle protocol: never in the
//!   sleeper bitmap or its counts, never picked by a notify, never a
//!   steal victim, never parked by the core, never unparked at shutdown.
//! - A responder takes entries only from the High injector, claims them
//!   like a worker (so an entry runs once whoever takes it), and routes
//!   the Normal and Low entries it makes to their injectors (waking a
//!   worker by the idle rules), so its rings stay empty; High entries it
//!   makes follow the workers' rules (`route.rs`).
//! - It stands aside while a worker is the sleeper (waiting in the host's
//!   events, so not every worker is busy): that worker sees the same
//!   readiness and runs the task on the thread the event woke.
//! - `run_high` enters the pool as a worker loop does (the active count),
//!   so shutdown's walk waits for a responder in the middle of a poll,
//!   and does nothing after the scheduler is closed.

use super::Shared;
use super::run::Running;
use crate::platform::Platform;
use crate::sync::Ordering;

impl<P: Platform> Shared<P> {
    /// Runs High responder `responder` on the calling thread: polls the
    /// host's events once (`Platform::poll_events` with the responder's
    /// slot), then runs High entries until the High injector is empty or
    /// the scheduler closes. Returns how many it ran.
    pub(crate) fn run_high(&self, responder: usize) -> usize {
        assert!(
            responder < self.config().responders,
            "echo: High responder {responder} does not exist ({} configured)",
            self.config().responders
        );
        let index = self.worker_count() + responder;
        let worker = &self.workers[index];
        assert!(
            !worker.running.swap(true, Ordering::Acquire),
            "echo: High responder {responder} is already running on another thread"
        );
        self.enter_worker();
        self.platform().set_current_worker(Some(index));
        let _running = Running {
            shared: self,
            worker,
        };
        // A worker waiting in the host's events (the sleeper) sees this
        // readiness and runs the High task itself (`route.rs`): not every
        // worker is busy, so stay out of its way rather than race it.
        if self.is_closed() || self.timers().sleeper.holder().is_some() {
            return 0;
        }
        // SAFETY: this thread runs slot `index` until `_running` drops, and
        // the `running` flag keeps every other thread out.
        let mut owner = unsafe { worker.owner(index) };
        let o = &mut owner;
        self.platform().poll_events(index);
        let mut ran = 0;
        while !self.is_closed() {
            let Some((entry, tier)) = self.take_high() else {
                break;
            };
            self.run_entry(o, entry, tier);
            ran += 1;
        }
        ran
    }
}
