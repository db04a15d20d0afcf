//! The tiered choice of the next entry, and stealing.
//!
//! At each scheduling point a worker takes, in order:
//! 1. an owed anti-starvation turn. Normal is owed when the last
//!    `normal_interval - 1` polls were all of other tiers, Low when the last
//!    `low_interval - 2` were. Normal goes first when both are owed: it is
//!    at its limit, while Low's earlier threshold leaves it one poll of
//!    slack. So while a tier has work in this worker's ring or its injector,
//!    any `normal_interval` consecutive polls include a Normal one and any
//!    `low_interval` consecutive polls a Low one. A turn that finds the tier
//!    empty is forfeited (the count restarts).
//! 2. High, from the High injector (High has no private rings);
//! 3. Normal: its own ring, then the Normal injector, except that every
//!    `global_queue_interval` ticks the injector comes first;
//! 4. Low, likewise.
//!
//! With none of those, a worker searches: it steals half of a random
//! victim's ring, Normal tier first, then Low.

use crate::Priority;
use crate::deque::CAPACITY;
use crate::platform::Platform;
use crate::scheduler::Shared;
use crate::task::raw::Entry;

impl<P: Platform> Shared<P> {
    /// The next entry for worker `w` from its own rings and the injectors.
    pub(crate) fn next_task(&self, w: usize) -> Option<(Entry, Priority)> {
        let worker = &self.workers[w];
        let config = self.config();
        let (global_first, owe_low, owe_normal) = {
            // SAFETY: owner's thread, short borrow.
            let local = unsafe { worker.local_mut() };
            let global_first = local.until_global == 0;
            local.until_global = if global_first {
                config.global_queue_interval - 1
            } else {
                local.until_global - 1
            };
            (
                global_first,
                local.since_low + 2 >= config.low_interval,
                local.since_normal + 1 >= config.normal_interval,
            )
        };
        if global_first && config.detailed_metrics {
            self.sample_depth(w);
        }
        let mut found = None;
        if owe_normal {
            found = self.take_tier(w, Priority::Normal, global_first);
            if found.is_none() {
                self.forfeit(w, Priority::Normal);
            }
        }
        if found.is_none() && owe_low {
            found = self.take_tier(w, Priority::Low, global_first);
            if found.is_none() {
                self.forfeit(w, Priority::Low);
            }
        }
        let found = found
            .or_else(|| self.take_high())
            .or_else(|| self.take_tier(w, Priority::Normal, global_first))
            .or_else(|| self.take_tier(w, Priority::Low, global_first));
        if let Some((_, tier)) = &found {
            self.served(w, *tier);
        }
        found
    }

    /// An entry from the High injector. Checking emptiness first is much
    /// cheaper than a failed pop, and this runs at every scheduling point.
    #[inline]
    fn take_high(&self) -> Option<(Entry, Priority)> {
        let injector = &self.injectors[Priority::High.index()];
        if injector.is_empty() {
            return None;
        }
        injector.pop().map(|e| (e, Priority::High))
    }

    /// Samples the depth of each tier's queues as worker `w` sees them: its
    /// own ring and the injector. Taken every fourth injector-first tick
    /// (every 124 ticks with the default K).
    fn sample_depth(&self, w: usize) {
        let worker = &self.workers[w];
        {
            // SAFETY: owner's thread, short borrow.
            let local = unsafe { worker.local_mut() };
            if local.until_depth > 0 {
                local.until_depth -= 1;
                return;
            }
            local.until_depth = 3;
        }
        for tier in Priority::ALL {
            let counters = &worker.counters.tiers[tier.index()];
            counters
                .injector_depth_sum
                .add(self.injectors[tier.index()].len());
            if tier != Priority::High {
                counters.ring_depth_sum.add(worker.ring(tier).len());
            }
        }
        worker.counters.depth_samples.inc();
    }

    /// Worker `w` found `tier` empty on its owed turn: restart its count.
    fn forfeit(&self, w: usize, tier: Priority) {
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { self.workers[w].local_mut() };
        match tier {
            Priority::Normal => local.since_normal = 0,
            Priority::Low => local.since_low = 0,
            Priority::High => {}
        }
    }

    /// Records that worker `w` is about to poll an entry of `tier`.
    fn served(&self, w: usize, tier: Priority) {
        // SAFETY: owner's thread, short borrow.
        let local = unsafe { self.workers[w].local_mut() };
        local.since_normal = if tier == Priority::Normal {
            0
        } else {
            local.since_normal.saturating_add(1)
        };
        local.since_low = if tier == Priority::Low {
            0
        } else {
            local.since_low.saturating_add(1)
        };
    }

    /// An entry of a lower tier from worker `w`'s ring or the injector.
    fn take_tier(&self, w: usize, tier: Priority, global_first: bool) -> Option<(Entry, Priority)> {
        let ring = self.workers[w].ring(tier);
        let from_ring = || {
            // SAFETY: the caller is worker `w`, the ring's owner.
            unsafe { ring.pop() }
        };
        let entry = if global_first {
            self.take_injector(w, tier).or_else(from_ring)
        } else {
            from_ring().or_else(|| self.take_injector(w, tier))
        };
        entry.map(|e| (e, tier))
    }

    /// One entry from `tier`'s injector, moving a fair share of the rest
    /// into worker `w`'s ring so that the next ones cost no shared CAS.
    fn take_injector(&self, w: usize, tier: Priority) -> Option<Entry> {
        let injector = &self.injectors[tier.index()];
        if injector.is_empty() {
            return None;
        }
        let first = injector.pop()?;
        let ring = self.workers[w].ring(tier);
        let room = (CAPACITY / 2).saturating_sub(ring.len());
        let share = injector.len() / self.workers.len() + 1;
        for _ in 0..share.min(room) {
            let Some(entry) = injector.pop() else { break };
            // SAFETY: worker `w` is the ring's owner; there is room, so this
            // does not spill back.
            unsafe { ring.push(entry, injector) };
        }
        Some(first)
    }

    /// Steals for worker `w`: High injector, then half of a random victim's
    /// ring per tier, then that tier's injector. Becomes a searcher first;
    /// returns `None` without stealing if too many workers search already.
    pub(crate) fn search(&self, w: usize) -> Option<(Entry, Priority)> {
        let worker = &self.workers[w];
        {
            // SAFETY: owner's thread, short borrow.
            let local = unsafe { worker.local_mut() };
            if !local.searching {
                if !self.idle.transition_to_searching() {
                    return None;
                }
                local.searching = true;
            }
        }
        if let Some(found) = self.take_high() {
            return Some(found);
        }
        let n = self.workers.len();
        for tier in [Priority::Normal, Priority::Low] {
            let start = worker.random_below(n);
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == w {
                    continue;
                }
                // SAFETY: this thread owns `worker`'s ring, which is not the
                // victim's.
                let stolen = unsafe {
                    self.workers[victim]
                        .ring(tier)
                        .steal_half_into(worker.ring(tier))
                };
                if let Some((entry, moved)) = stolen {
                    worker.counters.steals.inc();
                    worker.counters.stolen.add(moved);
                    self.served(w, tier);
                    return Some((entry, tier));
                }
            }
            if let Some(entry) = self.take_injector(w, tier) {
                self.served(w, tier);
                return Some((entry, tier));
            }
        }
        None
    }
}
