//! # echo-sched-core
//!
//! The `no_std` core of Echo (in the `echo-core/` folder of its
//! repository), a priority-aware work-stealing async
//! scheduler: tasks and their state machine, the pooled task slab, the
//! per-worker rings and per-tier injectors, the tiered steal protocol, the
//! idle protocol and the metrics. Everything host-specific (threads,
//! parking, the clock, panics) goes through the [`Platform`] trait;
//! `echo-std` implements it for desktop operating systems.
//!
//! ```
//! # use core::cell::Cell;
//! # use echo_sched_core::{Config, PanicPayload, Platform, Priority, Scheduler};
//! # struct Host { worker: Cell<Option<usize>> }
//! # unsafe impl Send for Host {}
//! # unsafe impl Sync for Host {}
//! # unsafe impl Platform for Host {
//! #     fn park(&self, _: usize) {}
//! #     fn unpark(&self, _: usize) {}
//! #     fn now_nanos(&self) -> u64 { 0 }
//! #     fn random_seed(&self) -> u64 { 1 }
//! #     fn current_worker(&self) -> Option<usize> { self.worker.get() }
//! #     fn set_current_worker(&self, w: Option<usize>) { self.worker.set(w) }
//! #     fn catch_unwind<R>(&self, f: impl FnOnce() -> R) -> Result<R, PanicPayload> { Ok(f()) }
//! # }
//! // A single-threaded host drives one worker from its own loop.
//! let scheduler = Scheduler::new(Host { worker: Cell::new(None) }, Config::new(1)).unwrap();
//! let handle = scheduler.spawn(async { 6 * 7 }, Priority::High);
//! scheduler.run_until_idle(0);
//! assert!(handle.is_finished());
//! scheduler.shutdown();
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "critical-section")))]
compile_error!(
    "echo-sched-core: this target has no atomic compare-and-swap (e.g. thumbv6m-none-eabi, \
     Cortex-M0/M0+). Enable echo-sched-core's `critical-section` feature and link a \
     `critical-section` implementation (for a single-core Cortex-M: cortex-m's \
     `critical-section-single-core` feature), so the atomics the scheduler needs are \
     emulated with critical sections."
);

extern crate alloc;
#[cfg(any(test, echo_loom))]
extern crate std;

mod config;
mod deque;
mod idle;
mod inbox;
mod inject;
mod metrics;
mod padded;
mod platform;
mod priority;
#[cfg(feature = "recorder")]
mod recorder;
mod rng;
mod room;
mod runtime;
mod scheduler;
mod slab;
mod spin;
mod sync;
mod task;
#[cfg(all(test, not(echo_loom)))]
mod test_host;
mod timer;

pub use config::{Config, ConfigError, MAX_WORKERS, Refusal, SubmitError};
pub use metrics::{Latency, Metrics, TierMetrics};
pub use platform::{PanicPayload, Platform};
pub use priority::Priority;
#[cfg(feature = "recorder")]
pub use recorder::{Timeline, TimelineEvent, WorkerTimeline};
pub use runtime::SpawnWhenRoom;
pub use runtime::TaskOptions;
pub use scheduler::Scheduler;
#[cfg(feature = "timers")]
pub use scheduler::Sleep;
pub use task::{JoinError, JoinHandle, TaskId, TaskInfo, TaskName};

#[cfg(all(test, not(echo_loom)))]
mod layout_tests {
    use crate::task::header::{Cell, Header, Trailer};

    #[test]
    fn header_is_32_bytes_and_overhead_is_48() {
        if cfg!(target_pointer_width = "64") {
            assert_eq!(core::mem::size_of::<Header>(), 32);
            assert_eq!(core::mem::size_of::<Trailer>(), 16);
            // A future of 16 bytes (e.g. an Arc and a flag) with output ():
            // the stage is the future's size, everything else is 48 bytes.
            struct Sixteen(#[allow(dead_code)] [u64; 2]);
            impl core::future::Future for Sixteen {
                type Output = ();
                fn poll(
                    self: core::pin::Pin<&mut Self>,
                    _: &mut core::task::Context<'_>,
                ) -> core::task::Poll<()> {
                    core::task::Poll::Ready(())
                }
            }
            assert_eq!(core::mem::size_of::<Cell<Sixteen>>(), 48 + 16);
        }
    }
}

/// Echo's own test hooks: the protocols under the loom models, the fuzz
/// targets and their corpus replays drive these directly. Not a stable API;
/// present only with `--cfg echo_loom`, `--cfg fuzzing` or the `internals`
/// feature.
#[cfg(any(echo_loom, fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod internals {
    pub use crate::deque::{
        CAPACITY, ClaimError, Deque, Overflow, OwnerRing, Pos, StealClaim, StealSnapshot, Stealer,
    };
    pub use crate::idle::Idle;
    pub use crate::inbox::{Inbox, InboxNode, Pushed, Taken};
    pub use crate::inject::Injector;
    #[cfg(feature = "recorder")]
    pub use crate::recorder::Track;
    pub use crate::slab::{
        CHUNK_PAGES, CLASS_SIZES, ChunkSource, Heap, KeepAlive, LargeList, PAGE_BYTES, PagePool,
        Slot, class_for, free_remote, large_offset, release_page,
    };
    #[cfg(echo_loom)]
    pub use crate::task::model_host::{Claimed, ModelHost};
    pub use crate::task::state::{
        AfterPoll, Claim, DropRef, HandleRelease, Notify, Reprioritize, Snapshot, State,
    };
    #[cfg(feature = "timers")]
    pub use crate::timer::ShardLock;
    pub use crate::timer::Sleeper;
}
