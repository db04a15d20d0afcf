//! [`Sleep`]: the future of one timer, holding its wheel entry.
//!
//! The entry is linked into a wheel on the first poll that finds the
//! deadline ahead, in the shard of the thread polling it (a worker's own,
//! or the outside shard off the pool), and the future remembers which.
//! From then on the future is pinned (it is `!Unpin`), so the link stays
//! valid until `Drop` or `reset` unlinks it under that shard's lock, from
//! whatever thread they run on.

use crate::Scheduler;
use crate::platform::Platform;
use crate::timer::{Place, TimerEntry};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

/// Not linked in any shard.
const UNARMED: u32 = u32::MAX;

/// A timer future: completes once the platform clock reaches its
/// deadline. Made by [`Scheduler::sleep_until`].
pub struct Sleep<P: Platform> {
    scheduler: Scheduler<P>,
    deadline: u64,
    entry: TimerEntry,
    /// The shard the entry may be linked in (it was inserted and not yet
    /// seen fired), or `UNARMED`.
    shard: u32,
    done: bool,
}

impl<P: Platform> Sleep<P> {
    pub(crate) fn new(scheduler: Scheduler<P>, deadline: u64) -> Sleep<P> {
        Sleep {
            scheduler,
            deadline,
            entry: TimerEntry::new(),
            shard: UNARMED,
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
        if self.shard == UNARMED {
            return;
        }
        let shared = &self.scheduler.shared;
        let index = self.shard as usize;
        self.shard = UNARMED;
        let mut wheel = shared.timers().lock_shard(index, shared.platform());
        let entry = NonNull::from(&self.entry);
        // SAFETY: the lock of the shard the entry was armed in is held, and
        // the entry is alive (it is ours).
        let waker = unsafe {
            let waker = wheel.take_waker(entry);
            if wheel.remove(entry) {
                wheel.publish();
            } else {
                wheel.count();
            }
            waker
        };
        drop(wheel);
        drop(waker);
    }

    /// The first poll that finds the deadline ahead: links the entry into
    /// the shard of the calling thread.
    fn arm(&mut self, cx: &mut Context<'_>) {
        let shared = &self.scheduler.shared;
        let timers = shared.timers();
        let home = timers.home(shared.current_worker());
        let waker = cx.waker().clone();
        let entry = NonNull::from(&self.entry);
        let mut wheel = timers
            .try_lock_shard(home, shared.platform())
            .unwrap_or_else(|| timers.lock_shard(home, shared.platform()));
        // SAFETY: the lock is held; the entry is ours, unlinked, and pinned
        // (we are `!Unpin`); `Drop` unlinks it under this shard's lock.
        let old = unsafe {
            wheel.insert(entry, self.deadline);
            wheel.set_waker(entry, waker)
        };
        let lowered = wheel.lower_next(self.deadline);
        drop(wheel);
        self.shard = home as u32;
        if let Some(next) = lowered {
            timers.lower_hint(next);
            shared.timer_armed(next);
        }
        drop(old);
    }
}

impl<P: Platform> Sleep<P> {
    /// A poll of an armed timer: `Ready` once it has fired (the entry is
    /// then unlinked), else keeps the waker up to date.
    fn poll_armed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &self.scheduler.shared;
        let index = self.shard as usize;
        let entry = NonNull::from(&self.entry);
        let mut new_waker = None;
        loop {
            let mut wheel = shared.timers().lock_shard(index, shared.platform());
            // SAFETY: the lock of the entry's shard is held; the entry is
            // ours and pinned. The same holds for every wheel call below.
            match unsafe { wheel.place(entry) } {
                Place::Fired => {
                    // Back to `Unlinked`, so a `reset` can insert it again.
                    // SAFETY: as above.
                    unsafe { wheel.remove(entry) };
                    drop(wheel);
                    self.shard = UNARMED;
                    return Poll::Ready(());
                }
                Place::Slot { .. } | Place::Due => {
                    // SAFETY: as above.
                    if unsafe { wheel.will_wake(entry, cx.waker()) } {
                        return Poll::Pending;
                    }
                    if let Some(waker) = new_waker.take() {
                        // SAFETY: as above.
                        let old = unsafe { wheel.set_waker(entry, waker) };
                        drop(wheel);
                        drop(old);
                        return Poll::Pending;
                    }
                }
                Place::Unlinked => unreachable!("an armed timer is linked or fired"),
            }
            // A new waker: cloned without the lock (a clone may run user
            // code), then stored if the timer has not fired meanwhile.
            drop(wheel);
            new_waker = Some(cx.waker().clone());
        }
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
        // A ready timer still yields when the task's budget is spent.
        if !this.scheduler.shared.budget_left() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.shard == UNARMED {
            if this.scheduler.platform().now_nanos() < this.deadline {
                this.arm(cx);
                return Poll::Pending;
            }
        } else if this.poll_armed(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        this.scheduler.shared.spend_budget();
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
