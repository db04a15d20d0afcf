//! `Timers`: the shards of one scheduler's timers, and what workers ask of
//! them (see the module above for the design).

use super::Sleeper;
use super::shard::{Shard, ShardGuard};
use crate::padded::CachePadded;
use crate::platform::Platform;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use alloc::boxed::Box;
use core::task::Waker;

/// Wakers taken per lock hold while firing.
const FIRE_BATCH: usize = 32;

/// The timers of one scheduler.
pub(crate) struct Timers {
    /// Worker `w`'s shard is `shards[w]`; the last one holds the timers
    /// armed off the pool.
    shards: Box<[CachePadded<Shard>]>,
    /// About the earliest deadline of every shard, so that any busy
    /// worker fires any shard's due timers at its next scheduling point
    /// (on a pool with more workers than cores the owner is often
    /// preempted). A hint, kept with plain loads and stores: two arms
    /// lowering it at once, or an arm and a worker raising it, may leave
    /// it above a shard's deadline. Nothing relies on it: owners fire
    /// their own shards, the sleeper reads every shard, a worker that gave
    /// the role up watches the parked workers' shards, and every worker
    /// looks at one other shard per clock read.
    hint: CachePadded<AtomicU64>,
    /// Shards holding at least one timer, counted when a shard stops or
    /// starts being empty (under its lock). Read relaxed at every
    /// scheduling point: while it is 0, a worker looks at no deadline (a
    /// 64-bit load is a lock on 32-bit targets). A stale 0 only delays
    /// another worker's help with a shard whose owner fires it itself.
    armed: CachePadded<AtomicUsize>,
    pub(crate) sleeper: Sleeper,
}

impl Timers {
    pub(crate) fn new(workers: usize) -> Timers {
        Timers {
            shards: (0..=workers)
                .map(|_| CachePadded(Shard::new(workers)))
                .collect(),
            hint: CachePadded(AtomicU64::new(u64::MAX)),
            armed: CachePadded(AtomicUsize::new(0)),
            sleeper: Sleeper::new(),
        }
    }

    /// After a shard's earliest deadline was lowered to `next`: lowers the
    /// hint to it too.
    #[inline]
    pub(crate) fn lower_hint(&self, next: u64) {
        if next < self.hint.load(Ordering::Relaxed) {
            self.hint.store(next, Ordering::Relaxed);
        }
    }

    /// The shard of timers armed off the pool.
    #[inline]
    fn outside(&self) -> usize {
        self.shards.len() - 1
    }

    #[cfg(test)]
    pub(crate) fn shard(&self, index: usize) -> &Shard {
        &self.shards[index]
    }

    /// Shard `index`'s wheel, waiting for its lock (see `Shard::lock`).
    #[inline]
    pub(crate) fn lock_shard<'a, P: Platform>(
        &'a self,
        index: usize,
        platform: &'a P,
    ) -> ShardGuard<'a, P> {
        self.shards[index].lock(&self.armed, platform)
    }

    /// Shard `index`'s wheel if its lock is free.
    #[inline]
    pub(crate) fn try_lock_shard<'a, P: Platform>(
        &'a self,
        index: usize,
        platform: &'a P,
    ) -> Option<ShardGuard<'a, P>> {
        self.shards[index].try_lock(&self.armed, platform)
    }

    /// The shard that a timer armed on worker `worker` (`None`: off the
    /// pool) goes to.
    #[inline]
    pub(crate) fn home(&self, worker: Option<usize>) -> usize {
        worker.unwrap_or(self.outside())
    }

    /// What worker `w` checks at a scheduling point, unfenced: the earliest
    /// deadline of its own shard, of the outside shard, and of worker
    /// `scan`'s shard (the one it looks at for others this time), and the
    /// hint.
    #[inline]
    pub(crate) fn next_for(&self, w: usize, scan: usize) -> u64 {
        if self.armed.load(Ordering::Relaxed) == 0 {
            return u64::MAX;
        }
        let outside = self.shards[self.outside()].next_relaxed();
        let other = self.shards[scan].next_relaxed();
        let hint = self.hint.load(Ordering::Relaxed);
        self.shards[w]
            .next_relaxed()
            .min(outside)
            .min(other)
            .min(hint)
    }

    /// The worker shard to look at after `scan`.
    #[inline]
    pub(crate) fn scan_after(&self, scan: usize) -> usize {
        if scan + 1 >= self.outside() {
            0
        } else {
            scan + 1
        }
    }

    /// The earliest deadline of every shard (a lower bound; `u64::MAX`:
    /// none), sequentially consistent: what the sleeper sleeps until.
    pub(crate) fn earliest(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.next())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Live timers (linked in a wheel).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// Whether a timer is due at `now_nanos` in any shard. Advances the
    /// shards that may hold one (moving timers to lower levels as their
    /// slots come up) and publishes their earliest deadlines, which that
    /// makes more precise: a sleeper woken by a far slot's start checks
    /// this and sleeps on instead of waking up. Waits for a shard's lock.
    pub(crate) fn has_due<P: Platform>(&self, now_nanos: u64, platform: &P) -> bool {
        let mut due = false;
        for (index, _) in self
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.next() <= now_nanos)
        {
            let mut wheel = self.lock_shard(index, platform);
            // SAFETY: the lock is held.
            due |= unsafe { wheel.first_due(now_nanos) }.is_some();
            wheel.publish();
        }
        due
    }

    /// Fires the timers of shard `index` due at `now_nanos`, if its lock is
    /// free (else whoever holds it will see them). Returns how many fired.
    pub(crate) fn fire<P: Platform>(&self, index: usize, now_nanos: u64, platform: &P) -> usize {
        let mut fired = 0;
        loop {
            let mut batch: [Option<Waker>; FIRE_BATCH] = Default::default();
            let mut n = 0;
            {
                let Some(mut wheel) = self.try_lock_shard(index, platform) else {
                    return fired;
                };
                while n < FIRE_BATCH {
                    // SAFETY: the lock is held; linked entries are alive.
                    let Some(entry) = (unsafe { wheel.pop_expired(now_nanos) }) else {
                        break;
                    };
                    // SAFETY: as above; the entry is still alive until its
                    // future takes the lock again.
                    batch[n] = unsafe { wheel.take_waker(entry) };
                    n += 1;
                }
                wheel.publish();
            }
            fired += n;
            for waker in batch.iter_mut().take(n) {
                if let Some(w) = waker.take() {
                    w.wake();
                }
            }
            if n < FIRE_BATCH {
                return fired;
            }
        }
    }

    /// Fires what is due at `now_nanos` for worker `w`: in its own shard,
    /// the outside shard and worker `scan`'s shard, and, if `cover` (the
    /// earliest deadline it watches in the other workers' shards) has
    /// come, in every shard. Returns the new `cover`: the earliest deadline
    /// left in the other workers' shards, or `cover` itself if it has not
    /// come.
    pub(crate) fn fire_due<P: Platform>(
        &self,
        w: usize,
        scan: usize,
        now_nanos: u64,
        cover: u64,
        platform: &P,
    ) -> u64 {
        for index in [w, self.outside(), scan] {
            if self.shards[index].next_relaxed() <= now_nanos {
                self.fire(index, now_nanos, platform);
            }
        }
        if self.hint.load(Ordering::Relaxed) <= now_nanos {
            // Every due shard, then the hint from what is left.
            let mut earliest = u64::MAX;
            for (index, shard) in self.shards.iter().enumerate() {
                if shard.next_relaxed() <= now_nanos {
                    self.fire(index, now_nanos, platform);
                }
                earliest = earliest.min(shard.next_relaxed());
            }
            self.hint.store(earliest, Ordering::Relaxed);
        }
        if cover > now_nanos {
            return cover;
        }
        let mut earliest = u64::MAX;
        for index in (0..self.outside()).filter(|&i| i != w) {
            if self.shards[index].next() <= now_nanos {
                self.fire(index, now_nanos, platform);
            }
            earliest = earliest.min(self.shards[index].next());
        }
        earliest
    }

    /// The earliest deadline of every worker's shard but `w`'s (a lower
    /// bound): what a sleeper that gives up the role keeps watching.
    pub(crate) fn earliest_elsewhere(&self, w: usize) -> u64 {
        (0..self.outside())
            .filter(|&i| i != w)
            .map(|i| self.shards[i].next())
            .min()
            .unwrap_or(u64::MAX)
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use crate::Platform;
    use crate::Sleep;
    use crate::test_host::TestHost;
    use crate::{Config, JoinHandle, Priority, Scheduler};
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::future::{Future, poll_fn};
    use core::pin::{Pin, pin};
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use core::task::{Context, Poll, Waker};
    use std::sync::Mutex;
    use std::task::Wake;

    fn scheduler() -> Scheduler<TestHost> {
        Scheduler::new(TestHost::default(), Config::new(1)).unwrap()
    }

    /// Two workers, which the tests run one at a time with
    /// `run_until_idle(w)`, so each poll's worker (and so each timer's
    /// shard) is known.
    fn two_workers() -> Scheduler<TestHost> {
        Scheduler::new(TestHost::default(), Config::new(2)).unwrap()
    }

    type Slot = Arc<Mutex<Option<Pin<Box<Sleep<TestHost>>>>>>;

    /// A task that arms a timer for `deadline` (polls it once) and leaves
    /// it in `slot`.
    fn arm_in_task(s: &Scheduler<TestHost>, slot: &Slot, deadline: u64) -> JoinHandle<()> {
        let (slot, mut timer) = (slot.clone(), Box::pin(s.sleep_until(deadline)));
        s.spawn(
            async move {
                poll_fn(|cx| {
                    assert!(timer.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                *slot.lock().unwrap() = Some(timer);
            },
            Priority::Normal,
        )
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_timer_armed_on_one_worker_is_cancelled_on_another_and_off_the_pool() {
        let s = two_workers();
        let timers = s.shared.timers();
        let slot = Slot::default();
        drop(arm_in_task(&s, &slot, 1 << 40));
        s.run_until_idle(0);
        assert_eq!((timers.shard(0).len(), s.armed_timers()), (1, 1));
        // Dropped by a task on worker 1: a cancel in worker 0's shard.
        let taken = slot.clone();
        let dropper = s.spawn(
            async move { drop(taken.lock().unwrap().take()) },
            Priority::Normal,
        );
        s.run_until_idle(1);
        assert!(dropper.is_finished());
        assert_eq!(s.armed_timers(), 0);
        assert_eq!(s.next_timer_deadline(), None);

        // Armed on worker 1, dropped here, off the pool.
        drop(arm_in_task(&s, &slot, 1 << 40));
        s.run_until_idle(1);
        assert_eq!((timers.shard(1).len(), s.armed_timers()), (1, 1));
        drop(slot.lock().unwrap().take());
        assert_eq!(s.armed_timers(), 0);
        assert_eq!(s.next_timer_deadline(), None);
        s.shutdown();
    }

    #[test]
    fn the_count_of_shards_with_timers_follows_arms_cancels_and_fires() {
        let s = two_workers();
        let timers = s.shared.timers();
        let armed = || timers.armed.load(Ordering::Relaxed);
        assert_eq!((armed(), timers.next_for(0, 1)), (0, u64::MAX));
        // Two timers in worker 0's shard count it once; one off the pool
        // counts the outside shard.
        let (a, b) = (Slot::default(), Slot::default());
        drop(arm_in_task(&s, &a, 1 << 40));
        drop(arm_in_task(&s, &b, 1 << 41));
        s.run_until_idle(0);
        let mut outside = Box::pin(s.sleep_until(1 << 40));
        let waker = Waker::noop();
        assert!(
            outside
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert_eq!(armed(), 2);
        assert!(timers.next_for(1, 1) <= 1 << 40, "worker 1 sees them");
        // Cancelling one of two leaves the shard counted; the last uncounts it.
        drop(a.lock().unwrap().take());
        assert_eq!(armed(), 2);
        drop(b.lock().unwrap().take());
        drop(outside);
        assert_eq!((armed(), timers.next_for(1, 0)), (0, u64::MAX));
        // A fired timer uncounts its shard too.
        let task = s.spawn(s.sleep_until(5_000), Priority::Normal);
        s.run_until_idle(1);
        assert_eq!(armed(), 1);
        s.platform().advance(10_000);
        s.run_until_idle(1);
        assert!(task.is_finished());
        assert_eq!(armed(), 0);
        s.shutdown();
    }

    #[test]
    fn a_timer_armed_off_the_pool_fires_on_a_worker() {
        let s = two_workers();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut timer = pin!(s.sleep_until(5_000));
        assert!(timer.as_mut().poll(&mut cx).is_pending());
        // The outside shard comes after the workers'.
        assert_eq!(s.shared.timers().shard(2).len(), 1);
        assert!(s.next_timer_deadline().is_some_and(|d| d <= 5_000));
        s.run_until_idle(1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "early");
        s.platform().advance(10_000);
        s.run_until_idle(1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(timer.as_mut().poll(&mut cx).is_ready());
        assert_eq!(s.armed_timers(), 0);
        s.shutdown();
    }

    #[test]
    fn a_parked_workers_timer_fires_from_another_worker() {
        let s = two_workers();
        let timer = s.sleep_until(5_000);
        let task = s.spawn(timer, Priority::Normal);
        s.run_until_idle(1); // arms it in worker 1's shard; worker 1 idles
        assert_eq!(s.shared.timers().shard(1).len(), 1);
        s.platform().advance(10_000);
        // Worker 1 never runs again: worker 0 fires its timer.
        s.run_until_idle(0);
        assert!(task.is_finished());
        assert_eq!(s.armed_timers(), 0);
        s.shutdown();
    }

    #[test]
    fn a_worker_fires_another_shard_by_the_hint_its_cover_or_its_scan() {
        let s = two_workers();
        let (timers, platform) = (s.shared.timers(), s.platform());
        // A task on worker 1 arms a timer there, which comes due; worker 1
        // never runs again.
        let armed_on_1 = || {
            let timer = s.sleep_until(platform.now_nanos() + 5_000);
            let task = s.spawn(timer, Priority::Normal);
            s.run_until_idle(1);
            assert_eq!(timers.shard(1).len(), 1);
            platform.advance(10_000);
            (task, platform.now_nanos())
        };
        // Worker 0 scanning its own shard and covering nothing: the hint
        // says worker 1's shard has a due timer, and worker 0 fires it.
        let (task, now) = armed_on_1();
        assert_eq!(timers.fire_due(0, 0, now, u64::MAX, platform), u64::MAX);
        assert_eq!(timers.shard(1).len(), 0);
        assert_eq!(timers.hint.load(Ordering::Relaxed), u64::MAX);
        s.run_until_idle(0); // the woken task
        assert!(task.is_finished());
        // The same with the hint left too high (as a race between two
        // writers may leave it): nothing fires...
        let (task, now) = armed_on_1();
        timers.hint.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(timers.fire_due(0, 0, now, u64::MAX, platform), u64::MAX);
        assert_eq!(timers.shard(1).len(), 1);
        // ...until worker 0 covers what it saw there (as after giving up
        // the sleeper role); nothing is left to cover then.
        let cover = timers.earliest_elsewhere(0);
        assert!(cover <= now);
        assert_eq!(timers.fire_due(0, 0, now, cover, platform), u64::MAX);
        assert_eq!(timers.shard(1).len(), 0);
        s.run_until_idle(0);
        assert!(task.is_finished());
        // ...or scans worker 1's shard (one shard after another).
        let (task, now) = armed_on_1();
        timers.hint.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(timers.fire_due(0, 1, now, u64::MAX, platform), u64::MAX);
        assert_eq!(timers.shard(1).len(), 0);
        s.run_until_idle(0);
        assert!(task.is_finished());
        s.shutdown();
    }

    #[test]
    fn timers_armed_in_every_shard_fire_in_deadline_order() {
        const N: u64 = 24;
        let s = two_workers();
        // Deadlines 10 µs apart, shuffled; armed in turn off the pool, on
        // worker 0 and on worker 1.
        let deadline = |i: u64| 10_000 * (1 + (i * 7) % N);
        let mut armed: Vec<(u64, Pin<Box<Sleep<TestHost>>>)> = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..N {
            let d = deadline(i);
            if i % 3 == 0 {
                let mut timer = Box::pin(s.sleep_until(d));
                assert!(timer.as_mut().poll(&mut cx).is_pending());
                armed.push((d, timer));
            } else {
                let slot = Slot::default();
                drop(arm_in_task(&s, &slot, d));
                s.run_until_idle((i % 3 - 1) as usize);
                armed.push((d, slot.lock().unwrap().take().unwrap()));
            }
        }
        let timers = s.shared.timers();
        assert_eq!(
            [0, 1, 2].map(|i| timers.shard(i).len()),
            [8, 8, 8],
            "8 in each shard"
        );
        // One task awaits them all, recording each completion's deadline
        // and time.
        let done = Arc::new(Mutex::new(Vec::new()));
        let (record, clock) = (done.clone(), s.clone());
        let waiter = s.spawn(
            poll_fn(move |cx| {
                let mut ready: Vec<u64> = Vec::new();
                armed.retain_mut(|(d, timer)| {
                    let fired = timer.as_mut().poll(cx).is_ready();
                    if fired {
                        ready.push(*d);
                    }
                    !fired
                });
                ready.sort_unstable();
                let now = clock.platform().now_nanos();
                record
                    .lock()
                    .unwrap()
                    .extend(ready.into_iter().map(|d| (d, now)));
                if armed.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
            Priority::Normal,
        );
        while !waiter.is_finished() {
            let next = s.next_timer_deadline().expect("a timer is armed");
            let now = s.platform().now_nanos();
            s.platform().advance(next.saturating_sub(now));
            s.run_until_idle(0);
            s.run_until_idle(1);
        }
        let done = done.lock().unwrap();
        assert_eq!(done.len(), N as usize);
        for pair in done.windows(2) {
            assert!(pair[0].0 < pair[1].0, "out of deadline order: {done:?}");
        }
        for &(d, at) in done.iter() {
            assert!(at >= d, "fired early: {d} at {at}");
        }
        assert_eq!(s.armed_timers(), 0);
        s.shutdown();
    }

    #[test]
    fn timers_fire_through_the_worker_loop_in_order_and_cancel_on_drop() {
        let s = scheduler();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (i, at) in [(2u32, 3_000u64), (0, 1_000), (1, 2_000)] {
            let (order, timer) = (order.clone(), s.sleep_until(at));
            let clock = s.clone();
            drop(s.spawn(
                async move {
                    timer.await;
                    assert!(clock.platform().now_nanos() >= at);
                    order.lock().unwrap().push(i);
                },
                Priority::Normal,
            ));
        }
        // Armed by their first polls; one more, dropped while armed.
        let dropped = {
            let timer = s.sleep_until(1_500);
            s.spawn(timer, Priority::Low)
        };
        s.run_until_idle(0);
        assert_eq!(s.armed_timers(), 4);
        dropped.abort();
        s.run_until_idle(0);
        assert_eq!(s.armed_timers(), 3);
        while let Some(next) = s.next_timer_deadline() {
            let now = s.platform().now_nanos();
            s.platform().advance(next.saturating_sub(now));
            s.run_until_idle(0);
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(s.live_tasks(), 0);
        s.shutdown();
    }

    #[test]
    fn reset_rearms_and_a_due_timer_yields_when_the_budget_is_spent() {
        let s = scheduler();
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut timer = pin!(s.sleep_until(u64::MAX));
            assert!(timer.as_mut().poll(&mut cx).is_pending());
            assert_eq!(s.armed_timers(), 1);
            timer.as_mut().reset(0);
            assert_eq!(s.armed_timers(), 0, "reset disarms");
            assert!(timer.as_mut().poll(&mut cx).is_ready());
            assert!(timer.is_elapsed());
            timer.as_mut().reset(u64::MAX);
            assert!(!timer.is_elapsed());
            assert!(timer.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(s.armed_timers(), 0, "dropped while armed");

        // Inside a task: 300 due timers spend the budget of 128 per poll,
        // so the task yields, and a task queued behind it gets to run.
        let spy_runs = Arc::new(AtomicUsize::new(0));
        let busy_done = Arc::new(AtomicBool::new(false));
        let (clock, done) = (s.clone(), busy_done.clone());
        let busy = s.spawn(
            async move {
                for _ in 0..300 {
                    clock.sleep_until(0).await;
                }
                done.store(true, Ordering::SeqCst);
            },
            Priority::Normal,
        );
        let (runs, done) = (spy_runs.clone(), busy_done.clone());
        let spy = s.spawn(
            core::future::poll_fn(move |cx| {
                if done.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                runs.fetch_add(1, Ordering::SeqCst);
                cx.waker().wake_by_ref();
                Poll::Pending
            }),
            Priority::Normal,
        );
        s.run_until_idle(0);
        assert!(busy.is_finished() && spy.is_finished());
        assert!(
            spy_runs.load(Ordering::SeqCst) >= 2,
            "the due timers never yielded"
        );
        s.shutdown();
    }
}
