//! Bytes per task beyond the future, measured by a counting allocator:
//! the pooled slab must keep it at or under 96. It is designed for 48 (a
//! 32-byte header, which holds the inbox link, and a 16-byte trailer); a
//! task's cell is rounded up to its size class (steps of up to 14%) and
//! the last chunk's unused pages count too.

use echo_std::{Priority, Scheduler};
use echo_tests::{Gate, wait_until};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The future each measured task runs: it holds `pad` and waits.
async fn parked<const WORDS: usize>(pad: [u64; WORDS], wait: echo_tests::GateWait) {
    let _keep = pad;
    wait.await;
}

/// Parks `n` tasks padded by `WORDS` words and returns the heap growth per
/// task, less the future's own size.
fn overhead_per_task<const WORDS: usize>(pooled: bool, n: usize) -> f64 {
    let s = Scheduler::builder()
        .worker_count(2)
        .pooled_slab(pooled)
        .build()
        .unwrap();
    let gate = Gate::new();
    // The gate's waker list, reserved up front so it does not count.
    let reserve: Vec<_> = (0..n).map(|_| gate.wait()).collect();
    drop(reserve);
    let handles_space: Vec<echo_std::JoinHandle<()>> = Vec::with_capacity(n);
    drop(handles_space);
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    for _ in 0..n {
        drop(s.submit(parked([0u64; WORDS], gate.wait()), Priority::Normal));
    }
    assert!(wait_until(Duration::from_secs(30), || gate.waiters() == n));
    let after = LIVE_BYTES.load(Ordering::SeqCst);
    let future_size = std::mem::size_of_val(&parked([0u64; WORDS], gate.wait()));
    // The gate's list of wakers grew by 16 bytes per task: not the task's.
    let waker_list = n * std::mem::size_of::<std::task::Waker>();
    let per_task = (after - before).saturating_sub(waker_list) as f64 / n as f64;
    gate.open();
    s.shutdown();
    per_task - future_size as f64
}

// One test function: the counter is global to this binary, and tests in
// one binary run in parallel.
#[test]
fn a_parked_task_costs_at_most_96_bytes_beyond_its_future() {
    for overhead in [
        overhead_per_task::<0>(true, 100_000),
        overhead_per_task::<4>(true, 100_000),
        overhead_per_task::<20>(true, 50_000),
    ] {
        // 48 bytes of header and trailer, plus size-class rounding (the
        // 20-word future's 232-byte cell takes a 256-byte slot) and the
        // last chunk's unused pages.
        eprintln!("pooled slab: {overhead:.1} bytes per task beyond the future");
        assert!(overhead <= 96.0, "{overhead:.1} bytes per task");
    }
    // Every task its own allocation (the A/B baseline) works too, and costs
    // more: a 256-byte page header each.
    let overhead = overhead_per_task::<0>(false, 20_000);
    eprintln!("global allocator: {overhead:.1} bytes per task beyond the future");
    assert!(overhead > 96.0, "{overhead:.1}");
}
