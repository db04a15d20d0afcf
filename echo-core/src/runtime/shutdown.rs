//! Shutdown (the phases are in `lifecycle.rs`): closing stops new
//! submissions; workers leave their loop after their current poll; the
//! last one out (or `shutdown` itself, if no worker is running) runs the
//! walk: it cancels every task it finds in the slab (queued, or parked on a
//! waker), marks the scheduler finished, drains every queue, and detaches
//! the slab. A wake that pushes into an injector or the inbox after that
//! drains them itself (`route.rs`).

use crate::Priority;
use crate::platform::Platform;
use crate::runtime::Shared;
use crate::sync::{Ordering, fence};
use crate::task::header::Header;
use crate::task::raw::{Entry, RawTask};
use crate::task::state::Claim;
use alloc::vec::Vec;
use core::ptr::NonNull;

impl<P: Platform> Shared<P> {
    /// Shuts down: refuse new work and stop the workers; finish now if no
    /// worker is running, else the last worker out finishes.
    pub(crate) fn shutdown(&self) {
        if self.lifecycle.close() {
            // Workers only: a High responder's host stops calling it.
            for w in 0..self.worker_count() {
                self.platform.unpark(w);
            }
            if let Some(room) = &self.room {
                // Submitters waiting for room must see the refusal.
                room.wake_all();
            }
        }
        if self.active.load(Ordering::SeqCst) == 0 {
            self.finish();
        }
    }

    /// A thread enters a worker loop.
    pub(crate) fn enter_worker(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// A thread leaves a worker loop; the last one out after shutdown
    /// finishes it.
    pub(crate) fn exit_worker(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 && self.lifecycle.is_closed_seqcst() {
            self.finish();
        }
    }

    /// Whether shutdown has completed (every task cancelled or finished).
    pub(crate) fn is_finished(&self) -> bool {
        self.lifecycle.is_finished()
    }

    /// Cancels every task, drains every queue and detaches the slab. Runs
    /// once, with no worker active.
    fn finish(&self) {
        if !self.lifecycle.begin_finishing() {
            return;
        }
        // Frees from here on are remote: the walk must not touch a heap.
        let was = self.platform.current_worker();
        self.platform.set_current_worker(None);

        let mut live: Vec<RawTask> = Vec::new();
        // SAFETY: a used slot holds a task, which stays allocated during the
        // walk: nothing frees a slot while no worker runs and the shards'
        // locks are held, and incomplete tasks keep their registry reference.
        let mut collect =
            |slot: NonNull<u8>| live.push(unsafe { RawTask::from_header(slot.cast::<Header>()) });
        for worker in self.workers.iter() {
            // SAFETY: no worker is active (nor will be), and the callback
            // frees nothing.
            unsafe { worker.heap_when_stopped().for_each_used(&mut collect) };
        }
        for shard in self.shards.iter() {
            let shard = shard.lock();
            // SAFETY: the lock excludes remote submitters.
            unsafe { shard.heap.for_each_used(&mut collect) };
        }
        for raw in live {
            // Collected tasks that are not complete cannot be freed (the
            // registry holds a reference until completion), and complete
            // ones keep their state word while freed.
            self.cancel_for_shutdown(raw);
        }
        let large = self.large.collect(|slot| {
            // SAFETY: a large page's slot holds a task while on the list.
            unsafe { slot.cast::<Header>().as_ref() }
                .state
                .try_ref_inc()
        });
        for slot in large {
            // SAFETY: `collect` took a reference to this task for us.
            let raw = unsafe { RawTask::from_header(slot.cast()) };
            self.cancel_for_shutdown(raw);
            raw.drop_ref();
        }

        self.lifecycle.set_finished();
        for worker in self.workers.iter() {
            for tier in Priority::RINGED {
                // SAFETY: no worker is active (nor will be).
                while let Some(entry) = unsafe { worker.pop_when_stopped(tier) } {
                    self.discard(entry, tier);
                }
            }
        }
        self.drain_queues();
        for worker in self.workers.iter() {
            // SAFETY: as above, and no worker will use its heap again.
            unsafe { worker.heap_when_stopped().detach() };
        }
        for shard in self.shards.iter() {
            // SAFETY: the lock excludes submitters, who re-check the phase.
            unsafe { shard.lock().heap.detach() };
        }
        self.platform.set_current_worker(was);
    }

    /// Claims and cancels a task the shutdown walk found, if no one else
    /// finished it.
    fn cancel_for_shutdown(&self, raw: RawTask) {
        if raw.state().claim_for_shutdown() {
            let tier = raw.state().load().priority();
            self.remote.tiers[tier.index()].cancelled.add_shared(1);
            // SAFETY: the claim gave us RUNNING (and the running reference).
            unsafe { raw.cancel(self) };
            self.task_finished();
        }
    }

    /// Drops a queue entry after shutdown.
    fn discard(&self, entry: Entry, tier: Priority) {
        let raw = entry.into_raw();
        match raw.state().claim(tier) {
            Claim::Stale { last } => {
                if last {
                    // SAFETY: last reference of a complete task.
                    unsafe { raw.dealloc() };
                }
            }
            Claim::Run | Claim::Cancel | Claim::Orphaned => {
                self.remote.tiers[tier.index()].cancelled.add_shared(1);
                // SAFETY: the claim gave us RUNNING.
                unsafe { raw.cancel(self) };
                self.task_finished();
            }
        }
    }

    /// Empties the injectors and the inbox after shutdown (the walk's end,
    /// or a push that came after it).
    pub(crate) fn drain_queues(&self) {
        for tier in Priority::ALL {
            while let Some(entry) = self.injectors[tier.index()].pop() {
                self.discard(entry, tier);
            }
        }
        // The phase was stored (or read) before this; a pusher pushes,
        // fences, then reads the phase (`wake_for_injector`, `free_later`).
        // This fence orders the phase before the inbox's emptiness check, so
        // one of the two sees the other's write.
        fence(Ordering::SeqCst);
        for node in self.inbox.take_all() {
            // SAFETY: a task in the inbox holds an entry's reference, or none
            // (left to free); either way it is allocated.
            let raw = unsafe { RawTask::from_header(node) };
            let s = raw.state().load();
            if s.ref_count() == 0 {
                // SAFETY: no references, stage and trailer dropped; after
                // shutdown `free_slot` frees at once.
                unsafe { Shared::<P>::free_slot(node) };
            } else {
                // SAFETY: the inbox's reference goes to the entry.
                self.discard(unsafe { Entry::from_raw(raw) }, s.priority());
            }
        }
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use crate::test_host::TestHost;
    use crate::{Config, Priority, Scheduler};
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use core::future::{Future, poll_fn};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::task::{Poll, Waker};
    use std::sync::Mutex;

    /// Parks once, leaving its waker in `slot`; counts its drop.
    fn parked(
        slot: Arc<Mutex<Option<Waker>>>,
        drops: Arc<AtomicUsize>,
    ) -> impl Future<Output = ()> {
        struct OnDrop(Arc<AtomicUsize>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = OnDrop(drops);
        poll_fn(move |cx| {
            let _keep = &guard;
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// A wake after shutdown has finished, from outside the pool, whose
    /// task's page holds the last reference to the scheduler: the wake's
    /// push reaches `notify_one`, whose `unpark` here runs shutdown and
    /// drops the last handle. The drain frees the task; the pusher must
    /// keep the scheduler alive until it is done with it (miri and ASan
    /// catch the use after free otherwise).
    #[test]
    fn a_wake_racing_shutdown_and_the_last_handle_frees_nothing_in_use() {
        let scheduler = Scheduler::new(TestHost::default(), Config::new(1)).unwrap();
        let waker = Arc::new(Mutex::new(None));
        let drops = Arc::new(AtomicUsize::new(0));
        drop(scheduler.spawn(parked(waker.clone(), drops.clone()), Priority::Normal));
        scheduler.run_until_idle(0);
        let waker = waker.lock().unwrap().take().expect("the task parked");
        assert_eq!(drops.load(Ordering::SeqCst), 0);

        // The last handle goes inside the unpark of the wake below.
        let last = scheduler.clone();
        scheduler.platform().on_next_unpark(Box::new(move || {
            last.shutdown();
            assert!(last.is_terminated());
            drop(last);
        }));
        drop(scheduler);
        waker.wake();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "cancelled by the shutdown");
    }

    /// A detached task that parks without keeping its waker anywhere can
    /// never run again: it is cancelled at once, not at shutdown.
    #[test]
    fn an_orphan_is_dropped_and_freed_before_shutdown() {
        let scheduler = Scheduler::new(TestHost::default(), Config::new(1)).unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        drop(scheduler.spawn(parked(slot.clone(), drops.clone()), Priority::Low));
        scheduler.run_until_idle(0);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "its waker is kept");
        // The last waker goes: the cancellation is queued and run.
        drop(slot.lock().unwrap().take());
        assert!(
            scheduler.platform().unparks() > 0,
            "a worker was woken for it"
        );
        scheduler.run_until_idle(0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(scheduler.live_tasks(), 0);
        let m = scheduler.metrics();
        assert_eq!(m.tier(Priority::Low).orphaned, 1);
        assert_eq!(m.tier(Priority::Low).cancelled, 1);

        // A task that keeps no waker at all is cancelled by its poller.
        let never = Arc::new(AtomicUsize::new(0));
        let n = never.clone();
        drop(scheduler.spawn(
            poll_fn(move |_| {
                n.fetch_add(1, Ordering::SeqCst);
                Poll::<()>::Pending
            }),
            Priority::Normal,
        ));
        scheduler.run_until_idle(0);
        assert_eq!(never.load(Ordering::SeqCst), 1, "polled once");
        assert_eq!(scheduler.live_tasks(), 0);
        assert_eq!(scheduler.metrics().tier(Priority::Normal).orphaned, 1);
        scheduler.shutdown();
    }

    /// With its handle alive, a parked task is no orphan: the handle may
    /// still abort or await it.
    #[test]
    fn a_handle_keeps_a_parked_task() {
        let scheduler = Scheduler::new(TestHost::default(), Config::new(1)).unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        let handle = scheduler.spawn(parked(slot.clone(), drops.clone()), Priority::High);
        scheduler.run_until_idle(0);
        drop(slot.lock().unwrap().take());
        scheduler.run_until_idle(0);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(scheduler.live_tasks(), 1);
        drop(handle);
        scheduler.run_until_idle(0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(scheduler.metrics().tier(Priority::High).orphaned, 1);
        scheduler.shutdown();
    }
}
