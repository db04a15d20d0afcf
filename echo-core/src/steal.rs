//! Stealing: a worker with nothing in its own rings or the injectors
//! (see `pick.rs`) becomes a searcher, if the idle rules allow (`idle.rs`),
//! and takes the High injector's next entry, else half of a random
//! victim's ring, tier by tier in urgency order, else that tier's injector.

use crate::Priority;
use crate::platform::Platform;
use crate::scheduler::Shared;
use crate::task::raw::Entry;

impl<P: Platform> Shared<P> {
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
        for tier in Priority::RINGED {
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
