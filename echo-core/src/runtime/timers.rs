//! The workers' side of timers and the cooperative budget: waking the
//! sleeper for an earlier deadline, and the budget of the task a worker
//! polls (the wheel and the sleeper role are in `timer/`).

use super::Shared;
use crate::platform::Platform;

impl<P: Platform> Shared<P> {
    /// Wakes the sleeper if `deadline` (just published as the earliest) is
    /// before what it sleeps until.
    #[cfg(feature = "timers")]
    pub(crate) fn timer_armed(&self, deadline: u64) {
        if let Some(w) = self.timers.sleeper.to_wake(deadline) {
            self.platform.unpark(w);
        }
    }

    /// Whether the task being polled on this thread has budget left.
    /// Threads that are not polling a task of this scheduler have no
    /// budget to spend.
    #[cfg(feature = "timers")]
    pub(crate) fn budget_left(&self) -> bool {
        match self.current_owner() {
            Some(o) if o.current().is_some() => o.budget() > 0,
            _ => true,
        }
    }

    /// Spends one unit of the polled task's budget; false if none was left.
    pub(crate) fn spend_budget(&self) -> bool {
        match self.current_owner() {
            Some(mut o) if o.current().is_some() => o.spend_budget(),
            _ => true,
        }
    }
}
