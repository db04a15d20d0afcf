//! Picking a worker's next entry from its own rings and the injectors,
//! with the anti-starvation rule. (Taking from other workers' rings is
//! `steal.rs`.)
//!
//! At each scheduling point a worker first routes what the inbox holds
//! (tasks woken outside the pool, `route.rs`) at their current tiers,
//! then takes, in order:
//! 1. an owed anti-starvation turn. The ringed tiers (`Priority::RINGED`,
//!    Normal then Low) each have a turn interval (`Config::turn_interval`:
//!    `normal_interval`, `low_interval`). The tier at position `k` (1 for
//!    Normal, 2 for Low) is owed a turn when its last `interval - k` polls
//!    were all of other tiers, and owed turns are served most urgent first.
//!    Each tier's threshold comes one poll earlier than the one above it,
//!    so when several are owed at once each is served within its limit:
//!    while a tier has work in this worker's ring or its injector, any
//!    `interval` consecutive polls of the worker include one of that tier.
//!    A turn that finds its tier empty is forfeited (the count restarts).
//! 2. High, from its injector (High has no rings);
//! 3. each ringed tier in order: its own ring, then its injector, except
//!    that every `global_queue_interval` ticks the injectors come first.
//!
//! With none of those, the worker searches (`steal.rs`).

use crate::Priority;
use crate::deque::CAPACITY;
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::task::raw::Entry;

impl<P: Platform> Shared<P> {
    /// The next entry for the owner's worker from its own rings and the
    /// injectors.
    pub(crate) fn next_task(&self, o: &mut Owner<'_>) -> Option<(Entry, Priority)> {
        // A most urgent task from the inbox runs next, unless an owed turn
        // comes first (then it joins its injector, below).
        let mut from_inbox = None;
        if !self.inbox.is_empty() {
            from_inbox = self.take_inbox(o);
        }
        let (global_first, since_turn, owed_at) = {
            let mut local = o.local();
            let global_first = local.until_global == 0;
            local.until_global = if global_first {
                self.config().global_queue_interval - 1
            } else {
                local.until_global - 1
            };
            (global_first, local.since_turn, local.owed_at)
        };
        if global_first && self.config().samples() {
            self.sample_depth(o);
        }
        let mut found = None;
        for i in 0..Priority::RINGED.len() {
            if since_turn[i] < owed_at[i] {
                continue;
            }
            let tier = Priority::RINGED[i];
            found = self.take_tier(o, tier, global_first);
            if found.is_some() {
                break;
            }
            self.forfeit(o, tier);
        }
        let urgent = Priority::ALL[0];
        if let Some(entry) = from_inbox {
            match found {
                None => found = Some((entry, urgent)),
                Some(_) => self.injectors[urgent.index()].push(entry),
            }
        }
        let found = found.or_else(|| self.take_high()).or_else(|| {
            Priority::RINGED
                .into_iter()
                .find_map(|tier| self.take_tier(o, tier, global_first))
        });
        if let Some((_, tier)) = &found {
            self.served(o, *tier);
        }
        found
    }

    /// An entry from the High injector. Checking emptiness first is much
    /// cheaper than a failed pop, and this runs at every scheduling point.
    #[inline]
    pub(crate) fn take_high(&self) -> Option<(Entry, Priority)> {
        let injector = &self.injectors[Priority::High.index()];
        if injector.is_empty() {
            return None;
        }
        injector.pop().map(|e| (e, Priority::High))
    }

    /// Samples the depth of each tier's queues as the owner's worker sees them: its
    /// own ring and the injector. Taken every fourth injector-first tick
    /// (every 124 ticks with the default K).
    fn sample_depth(&self, o: &mut Owner<'_>) {
        let counters = o.counters();
        {
            let mut local = o.local();
            if local.until_depth > 0 {
                local.until_depth -= 1;
                return;
            }
            local.until_depth = 3;
        }
        for tier in Priority::ALL {
            let tier_counters = &counters.tiers[tier.index()];
            tier_counters
                .injector_depth_sum
                .add(self.injectors[tier.index()].len());
            if tier.has_ring() {
                tier_counters.ring_depth_sum.add(o.ring_len(tier));
            }
        }
        counters.depth_samples.inc();
    }

    /// The owner's worker found `tier` empty on its owed turn: restart its
    /// count.
    fn forfeit(&self, o: &mut Owner<'_>, tier: Priority) {
        let mut local = o.local();
        local.since_turn[tier.ring_index()] = 0;
    }

    /// Records that the owner's worker is about to poll an entry of `tier`.
    #[inline]
    pub(crate) fn served(&self, o: &mut Owner<'_>, tier: Priority) {
        let mut local = o.local();
        for i in 0..Priority::RINGED.len() {
            // Ring index `i` is tier index `i + 1`.
            local.since_turn[i] = if i + 1 == tier.index() {
                0
            } else {
                local.since_turn[i].saturating_add(1)
            };
        }
    }

    /// An entry of a ringed tier from the owner's ring or the injector.
    fn take_tier(
        &self,
        o: &mut Owner<'_>,
        tier: Priority,
        global_first: bool,
    ) -> Option<(Entry, Priority)> {
        let ring = o.ring(tier);
        let entry = if global_first {
            self.take_injector(o, tier).or_else(|| ring.pop())
        } else {
            ring.pop().or_else(|| self.take_injector(o, tier))
        };
        entry.map(|e| (e, tier))
    }

    /// One entry from `tier`'s injector, moving a fair share of the rest
    /// into the owner's ring so that the next ones cost no shared CAS.
    pub(crate) fn take_injector(&self, o: &mut Owner<'_>, tier: Priority) -> Option<Entry> {
        let injector = &self.injectors[tier.index()];
        if injector.is_empty() {
            return None;
        }
        let first = injector.pop()?;
        let ring = o.ring(tier);
        let room = (CAPACITY / 2).saturating_sub(o.ring_len(tier));
        let share = injector.len() / self.worker_count() + 1;
        for _ in 0..share.min(room) {
            let Some(entry) = injector.pop() else { break };
            // There is room, so this does not spill back.
            ring.push(entry, injector);
        }
        Some(first)
    }
}
