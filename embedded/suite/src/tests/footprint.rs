//! What the scheduler takes from the heap: a fresh scheduler, its first
//! task, and each task after. On the smallest board (16 KiB of RAM) these
//! decide whether anything else fits, so the test prints them, and fails
//! if a scheduler with a task takes more than half of the board's heap.

use crate::util::{check, take_output};
use crate::{Board, Failure};
use alloc::vec::Vec;
use echo_sched_core::{Config, Priority};

/// Tasks spawned (and left pending until the worker runs) to measure the
/// cost of one more.
const TASKS: usize = 16;

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    let heap = B::heap();
    let start = heap.used();
    let scheduler = B::scheduler(Config::new(B::CORES));
    let empty = heap.used() - start;
    let first = scheduler.spawn(async { 1u32 }, Priority::Normal);
    let one = heap.used() - start;
    let mut handles = Vec::with_capacity(TASKS);
    let before_more = heap.used();
    for i in 0..TASKS as u32 {
        handles.push(scheduler.spawn(async move { i }, Priority::Normal));
    }
    let more = heap.used() - before_more;
    crate::println!(
        "  heap: a scheduler {empty} B, with its first task {one} B (its slab page); {TASKS} more \
         tasks {more} B (the handles' Vec; the tasks share the page); the board's heap: {} B",
        heap.size()
    );
    let s = scheduler.clone();
    let last = scheduler.spawn(async move { s.shutdown() }, Priority::Low);
    B::run(&scheduler);
    check!(
        matches!(take_output(first), Some(Ok(1))),
        "the first task did not run"
    );
    for (i, h) in handles.into_iter().enumerate() {
        check!(
            matches!(take_output(h), Some(Ok(v)) if v == i as u32),
            "task {i} did not run"
        );
    }
    check!(take_output(last).is_some(), "the last task did not run");
    check!(
        one <= heap.size() / 2,
        "a scheduler with one task takes {one} B, more than half of the {} B heap",
        heap.size()
    );
    Ok(())
}
