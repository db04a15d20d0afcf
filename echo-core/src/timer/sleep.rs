//! [`Sleep`]: the future of one timer, holding its wheel entry.
//!
//! The entry is linked into the wheel on the first poll that finds the
//! deadline ahead; from then on the future is pinned (it is `!Unpin`), so
//! the link stays valid until `Drop` or `reset` unlinks it under the
//! wheel's lock.

use super::wheel::{Place, TimerEntry};
use crate::Scheduler;
use crate::platform::Platform;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

/// A timer future: completes once the platform clock reaches its
/// deadline. Made by [`Scheduler::sleep_until`].
pub struct Sleep<P: Platform> {
    scheduler: Scheduler<P>,
    deadline: u64,
    entry: TimerEntry,
    /// The entry may be linked (it was inserted and not yet seen fired).
    armed: bool,
    done: bool,
}

impl<P: Platform> Sleep<P> {
    pub(crate) fn new(scheduler: Scheduler<P>, deadline: u64) -> Sleep<P> {
        Sleep {
            scheduler,
            deadline,
            entry: TimerEntry::new(),
            armed: false,
            done: false,
        }
    }

    /// The deadline, in platform nanoseconds.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// The scheduler whose timers this one is among.
    pub fn scheduler(&self) -> &Scheduler<P> {
        &self.scheduler
    }

    /// Whether the timer has completed (a poll returned `Ready`).
    pub fn is_elapsed(&self) -> bool {
        self.done
    }

    /// Moves the deadline, re-arming a completed timer.
    pub fn reset(self: Pin<&mut Self>, deadline_nanos: u64) {
        // SAFETY: nothing is moved out; the entry stays in place.
        let this = unsafe { self.get_unchecked_mut() };
        this.disarm();
        this.deadline = deadline_nanos;
        this.done = false;
    }

    /// Unlinks the entry if it may be linked.
    fn disarm(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        let timers = self.scheduler.shared.timers();
        let mut wheel = timers.wheel.lock();
        // SAFETY: the lock is held and the entry is alive (it is ours).
        unsafe { wheel.remove(NonNull::from(&self.entry)) };
        timers.publish(&wheel);
    }
}

impl<P: Platform> Future for Sleep<P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: nothing is moved out; the entry stays where it is linked.
        let this = unsafe { self.get_unchecked_mut() };
        if this.done {
            return Poll::Ready(());
        }
        let shared = &this.scheduler.shared;
        // A ready timer still yields when the task's budget is spent.
        if !shared.budget_left() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let timers = shared.timers();
        let entry = NonNull::from(&this.entry);
        let mut wheel = timers.wheel.lock();
        // SAFETY: the lock is held; the entry is ours and pinned (we are
        // `!Unpin`), and `Drop` unlinks it. The same holds for every wheel
        // call below.
        let place = unsafe { wheel.place(entry) };
        match place {
            Place::Fired => {
                // SAFETY: as above. Back to `Unlinked`, so a `reset` can
                // insert it again.
                unsafe { wheel.remove(entry) };
                drop(wheel);
                this.armed = false;
            }
            Place::Slot { .. } | Place::Due => {
                // SAFETY: as above.
                unsafe { wheel.set_waker(entry, cx.waker()) };
                return Poll::Pending;
            }
            Place::Unlinked => {
                let now = shared.platform().now_nanos();
                if now < this.deadline {
                    // SAFETY: as above.
                    unsafe {
                        wheel.insert(entry, this.deadline);
                        wheel.set_waker(entry, cx.waker());
                    }
                    this.armed = true;
                    let before = timers.next_deadline();
                    let next = timers.publish(&wheel);
                    drop(wheel);
                    if next < before {
                        shared.timer_armed(next);
                    }
                    return Poll::Pending;
                }
            }
        }
        this.done = true;
        shared.spend_budget();
        Poll::Ready(())
    }
}

impl<P: Platform> Drop for Sleep<P> {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl<P: Platform> fmt::Debug for Sleep<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.done)
            .finish()
    }
}
