//! Shutdown: `closed` stops new submissions; workers leave their loop after
//! their current poll; the last one out (or `shutdown` itself, if no worker
//! is running) *finishes*: it cancels every task it finds in the slab
//! (queued, or parked on a waker), sets `finished`, drains every queue, and
//! detaches the slab. A wake that pushes into an injector after `finished`
//! drains the injectors itself; push, fence, read `finished` on one side and
//! store `finished`, drain on the other means one of them sees the entry.

use crate::Priority;
use crate::platform::Platform;
use crate::scheduler::Shared;
use crate::sync::Ordering;
use crate::task::header::Header;
use crate::task::raw::{Entry, RawTask};
use crate::task::state::Claim;
use alloc::vec::Vec;
use core::ptr::NonNull;

impl<P: Platform> Shared<P> {
    /// Shuts down: refuse new work and stop the workers; finish now if no
    /// worker is running, else the last worker out finishes.
    pub(crate) fn shutdown(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            for w in 0..self.workers.len() {
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
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            self.finish();
        }
    }

    /// Whether shutdown has completed (every task cancelled or finished).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Cancels every task, drains every queue and detaches the slab. Runs
    /// once, with no worker active.
    fn finish(&self) {
        if self.finishing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Frees from here on are remote: the walk must not touch a heap.
        let was = self.platform.current_worker();
        self.platform.set_current_worker(None);

        let mut live: Vec<RawTask> = Vec::new();
        let mut collect =
            |slot: NonNull<u8>| live.push(RawTask::from_header(slot.cast::<Header>()));
        for worker in self.workers.iter() {
            // SAFETY: no worker is active, so nobody else uses its heap; the
            // callback frees nothing.
            unsafe { worker.heap_mut().for_each_used(&mut collect) };
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
            let raw = RawTask::from_header(slot.cast());
            self.cancel_for_shutdown(raw);
            raw.drop_ref();
        }

        self.finished.store(true, Ordering::SeqCst);
        for worker in self.workers.iter() {
            for tier in [Priority::Normal, Priority::Low] {
                // SAFETY: no worker is active: this thread may act as owner.
                while let Some(entry) = unsafe { worker.ring(tier).pop() } {
                    self.discard(entry, tier);
                }
            }
        }
        self.drain_injectors();
        for worker in self.workers.iter() {
            // SAFETY: no worker will use its heap again.
            unsafe { worker.heap_mut().detach() };
        }
        for shard in self.shards.iter() {
            // SAFETY: the lock excludes submitters, who re-check `closed`.
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
            unsafe { raw.cancel(&self.platform, self as *const Self as *const ()) };
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
                unsafe { raw.cancel(&self.platform, self as *const Self as *const ()) };
                self.task_finished();
            }
        }
    }

    pub(crate) fn drain_injectors(&self) {
        for tier in Priority::ALL {
            while let Some(entry) = self.injectors[tier.index()].pop() {
                self.discard(entry, tier);
            }
        }
    }
}
