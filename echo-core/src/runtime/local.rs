//! `Local`: a worker's private scheduling state, reached only through its
//! `Owner` (`owner.rs`).

use crate::Priority;
use crate::config::Config;
use crate::rng::VictimRng;
use crate::task::info::IdClock;

/// A worker's private scheduling state.
pub(crate) struct Local {
    pub(crate) rng: VictimRng,
    /// Scheduling points until the injectors come first again.
    pub(crate) until_global: u32,
    /// Per ringed tier (`Priority::ring_index`): polls since this worker
    /// last served that tier or found it empty on its owed turn.
    pub(crate) since_turn: [u32; Priority::COUNT - 1],
    /// Per ringed tier: the `since_turn` count at which its turn is owed
    /// (its interval less its position among the ringed tiers, see
    /// `pick.rs`), computed once from the configuration.
    pub(crate) owed_at: [u32; Priority::COUNT - 1],
    /// Whether the idle state counts this worker as searching.
    pub(crate) searching: bool,
    /// `run_until_idle` left this worker in the sleeper list.
    pub(crate) left_parked: bool,
    /// Injector-first ticks until the next queue-depth sample.
    pub(crate) until_depth: u32,
    /// When this worker next polls the platform's events (platform clock).
    pub(crate) next_event_poll: u64,
    /// Scheduling points left until the next clock read (see
    /// `at_scheduling_point`).
    pub(crate) clock_countdown: u32,
    /// Scheduling points between two clock reads, from 1 to `MAX_STRIDE`.
    pub(crate) clock_stride: u32,
    /// The last clock read at a scheduling point.
    pub(crate) last_clock: u64,
    /// While this worker is awake after giving up the sleeper role: the
    /// earliest deadline in the other workers' shards, which it watches
    /// for them until it parks again (`u64::MAX`: none; see `timer/`).
    pub(crate) timer_cover: u64,
    /// The worker whose timer shard this one looks at besides its own,
    /// one after another: a timer whose worker is preempted or stuck in a
    /// long poll is fired by another (see `timer/`).
    pub(crate) timer_scan: usize,
    /// The worker is inside `park_until` as the sleeper: wakers that the
    /// platform runs on this thread there push to its rings.
    pub(crate) sleeping: bool,
    /// A waker pushed to this worker's ring while it was `sleeping`.
    pub(crate) woken_while_sleeping: bool,
    /// The polled task queued a High entry and no worker was woken for
    /// it yet (`route.rs`, `settle_high_wake`).
    pub(crate) high_wake_owed: bool,
    pub(crate) ids: IdClock,
}

impl Local {
    /// Worker `index`'s state at start, its random generator seeded from
    /// `seed`.
    pub(crate) fn new(index: usize, seed: u64, config: &Config) -> Local {
        Local {
            rng: VictimRng::new(seed),
            until_global: 0,
            since_turn: [0; Priority::COUNT - 1],
            owed_at: core::array::from_fn(|i| {
                let tier = Priority::RINGED[i];
                config.turn_interval(tier).1 - (i as u32 + 1)
            }),
            searching: false,
            left_parked: false,
            until_depth: 0,
            next_event_poll: 0,
            clock_countdown: 1,
            clock_stride: 1,
            last_clock: 0,
            timer_cover: u64::MAX,
            timer_scan: index,
            sleeping: false,
            woken_while_sleeping: false,
            high_wake_owed: false,
            ids: IdClock::new(index as u64 + 1),
        }
    }
}
