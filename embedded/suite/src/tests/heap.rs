//! A small heap: the allocator is limited to a few KiB above what is in
//! use, and tasks are spawned until one is refused. The refusal must hand
//! the future back undropped, and the scheduler must keep running: the
//! held tasks are aborted, and a spawn under the same limit succeeds.
//! The harness then checks that the heap is back where it was.

use crate::util::{check, run_root, yield_now};
use crate::{Board, Failure};
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use echo_sched_core::{Config, Priority};
use portable_atomic::{AtomicU32, Ordering};

/// Heap the test leaves to the scheduler beyond what is in use.
const ROOM: usize = 4 * 1024;
/// Spawns tried before the test gives up waiting for a refusal: more
/// than `ROOM` can hold, as no task takes less than 16 bytes.
const MAX_TRIES: usize = ROOM / 16;

static DROPS: AtomicU32 = AtomicU32::new(0);

/// A task whose future holds 16 bytes and never completes by itself.
struct Hold([u32; 4]);

impl Future for Hold {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        core::hint::black_box(&self.0);
        Poll::Pending
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    DROPS.store(0, Ordering::SeqCst);
    run_root::<B, _, _>(Config::new(B::CORES), |s| async move {
        // Room for every handle first: the test's own Vec must not be
        // what runs out.
        let mut held = Vec::with_capacity(MAX_TRIES);
        yield_now().await;
        let heap = B::heap();
        heap.set_limit(Some(heap.used() + ROOM));
        let mut refused = None;
        for i in 0..MAX_TRIES {
            match s.try_spawn(Hold([i as u32; 4]), Priority::Normal) {
                Ok(handle) => held.push(handle),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let Some(refused) = refused else {
            return Err(alloc::format!(
                "{MAX_TRIES} spawns in {ROOM} bytes, none refused"
            ));
        };
        check!(
            !refused.is_shutdown() && !refused.is_full(),
            "refused for {:?}, not for memory",
            refused.reason()
        );
        let reason = refused.reason();
        let future = refused.into_inner();
        check!(
            DROPS.load(Ordering::SeqCst) == 0,
            "the refused future was dropped"
        );
        check!(
            future.0[0] == held.len() as u32,
            "a different future came back"
        );
        drop(future);
        let count = held.len();
        crate::println!(
            "  {count} tasks fit in {ROOM} bytes; spawn {} refused ({reason:?}), future handed back",
            count + 1
        );

        // The scheduler keeps running: free the held tasks, spawn again.
        for handle in &held {
            handle.abort();
        }
        for handle in held {
            let out = handle.await;
            check!(
                matches!(&out, Err(e) if e.is_cancelled()),
                "a held task gave {out:?}"
            );
        }
        check!(
            DROPS.load(Ordering::SeqCst) == count as u32 + 1,
            "{} futures dropped, not {}",
            DROPS.load(Ordering::SeqCst),
            count + 1
        );
        let again = s
            .try_spawn(async { 5 }, Priority::High)
            .map_err(|e| alloc::format!("spawn after freeing refused: {:?}", e.reason()))?;
        check!(
            matches!(again.await, Ok(5)),
            "the spawn after freeing did not run"
        );
        heap.set_limit(None);
        crate::println!("  after aborting them, a spawn under the same limit ran");
        Ok(())
    })
}
