//! Echo's timers: deadlines kept by the core, on the platform's clock.
//!
//! - Deadlines live in hierarchical wheels (`wheel.rs`), one per worker
//!   and one for timers armed off the pool, each in a *shard* with its own
//!   lock (`shard.rs`, `lock.rs`). Each timer's link lives in its future
//!   ([`Sleep`]), so arming and cancelling allocate nothing and cost O(1).
//! - A timer is armed by its first poll that finds the deadline ahead,
//!   into the shard of the thread polling it: a worker arms into its own,
//!   whose lock nobody else wants unless a timer moved or the worker is
//!   parked, so arming and cancelling on one worker never contend. A
//!   future that is ready before its timer is polled (a timeout that is
//!   not needed) never touches a wheel.
//! - A timer is cancelled (dropped) or re-polled under the lock of the
//!   shard it was armed in, from whatever thread: a waiter that finds the
//!   lock held parks instead of spinning (`lock.rs`).
//! - Each shard publishes a lower bound of its deadlines (`Shard::next`).
//!   A busy worker loads (relaxed) its own shard's, the outside shard's,
//!   one other worker's shard's (the next one at each clock read) and
//!   the scheduler-wide `hint` at every scheduling point and, only when
//!   one is set, reads the clock about every microsecond of polling (see
//!   `worker.rs`); expired timers of any shard whose lock is free are
//!   fired there, so their tasks wake on a worker thread and take the
//!   local path, and a preempted worker's timers fire on time.
//! - A worker about to park with no work becomes *the sleeper* if none is
//!   (`sleeper.rs`) and parks until the earliest deadline of all shards
//!   ([`Platform::park_until`](crate::Platform::park_until)); arming an
//!   earlier timer in any shard wakes it to re-arm. A shard's deadlines
//!   only move earlier through arms by its own thread, so a parked
//!   worker's shard gets nothing earlier while it sleeps; when the sleeper
//!   wakes and gives the role up, it keeps watching the other workers'
//!   shards from the earliest deadline it saw (`Local::timer_cover` in
//!   `worker.rs`) until it parks again, so a parked worker's timers still
//!   fire on time.
//! - Firing takes the wakers out under a shard's lock and wakes them after
//!   it, in batches, so no waker runs under a lock.
//! - Module map: `timers.rs` (the shards, and what workers ask of them),
//!   `shard.rs`, `lock.rs`, `wheel.rs`, `sleeper.rs`.
//!
//! Without the `timers` feature only the sleeper role and the budget are
//! compiled; `off.rs` answers the workers' questions about timers with
//! "none".

#[cfg(feature = "timers")]
mod lock;
#[cfg(not(feature = "timers"))]
mod off;
#[cfg(feature = "timers")]
mod shard;
mod sleeper;
#[cfg(feature = "timers")]
mod timers;
#[cfg(feature = "timers")]
mod wheel;

#[cfg(feature = "timers")]
pub use lock::ShardLock;
#[cfg(not(feature = "timers"))]
pub(crate) use off::Timers;
pub use sleeper::Sleeper;
#[cfg(feature = "timers")]
pub(crate) use timers::Timers;
#[cfg(feature = "timers")]
pub(crate) use wheel::{Place, TimerEntry};

/// The units of cooperative budget a task gets per poll.
pub(crate) const BUDGET: u32 = 128;
