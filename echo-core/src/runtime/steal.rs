//! Stealing: a worker with nothing in its own rings or the injectors
//! (see `pick.rs`) becomes a searcher, if the idle rules allow (`idle.rs`),
//! and takes the High injector's next entry, else half of a random
//! victim's ring, tier by tier in urgency order, else that tier's injector.

use crate::Priority;
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::runtime::owner::Owner;
use crate::task::raw::Entry;

impl<P: Platform> Shared<P> {
    /// Steals for the owner's worker: High injector, then half of a random
    /// victim's ring per tier, then that tier's injector. Becomes a
    /// searcher first; returns `None` without stealing if too many workers
    /// search already.
    pub(crate) fn search(&self, o: &mut Owner<'_>) -> Option<(Entry, Priority)> {
        let mut local = o.local();
        if !local.searching {
            if !self.idle.transition_to_searching() {
                return None;
            }
            local.searching = true;
        }
        drop(local);
        if let Some(found) = self.take_high() {
            return Some(found);
        }
        // Workers only: a High responder's rings stay empty.
        let n = self.worker_count();
        for tier in Priority::RINGED {
            let start = o.random_below(n);
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == o.index() {
                    continue;
                }
                let stolen = o
                    .ring(tier)
                    .steal_half_from(self.workers[victim].ring(tier));
                if let Some((entry, moved)) = stolen {
                    let counters = o.counters();
                    counters.steals.inc();
                    counters.stolen.add(moved);
                    #[cfg(feature = "recorder")]
                    self.record_steal(o, victim, tier, moved);
                    self.served(o, tier);
                    return Some((entry, tier));
                }
            }
            if let Some(entry) = self.take_injector(o, tier) {
                self.served(o, tier);
                return Some((entry, tier));
            }
        }
        None
    }
}
