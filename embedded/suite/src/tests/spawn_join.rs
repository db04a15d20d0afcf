//! Spawn from the main context and from tasks, at every tier; join
//! children, grandchildren and a yielding task; abort a pending one.

use crate::util::{check, take_output, yield_now};
use crate::{Board, Failure};
use alloc::vec::Vec;
use echo_sched_core::{Config, JoinHandle, Priority, Scheduler};

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    let scheduler = B::scheduler(Config::new(B::CORES));
    // Submitted before any worker runs: from outside the pool.
    let early: Vec<JoinHandle<usize>> = Priority::ALL
        .iter()
        .map(|&p| scheduler.spawn(async move { p.index() + 1 }, p))
        .collect();
    let s = scheduler.clone();
    let root = scheduler.spawn(
        async move {
            let mut result = body(&s).await;
            for (i, handle) in early.into_iter().enumerate() {
                let out = handle.await;
                if result.is_ok() && !matches!(out, Ok(v) if v == i + 1) {
                    result = Err(alloc::format!(
                        "the task submitted from outside at tier {i} gave {out:?}"
                    ));
                }
            }
            s.shutdown();
            result
        },
        Priority::Normal,
    );
    B::run(&scheduler);
    match take_output(root) {
        Some(Ok(result)) => result?,
        other => return Err(alloc::format!("root task: {:?}", other.map(|r| r.err()))),
    }
    let metrics = scheduler.metrics();
    check!(
        metrics.live == 0,
        "{} tasks live after shutdown",
        metrics.live
    );
    if !echo_sched_core::Metrics::COUNTED {
        crate::println!("  38 tasks ran (statistics not built in: finished counts not read)");
        return Ok(());
    }
    let total = metrics.total();
    // 3 early, the root, 30 children, 2 nested, 1 yielding, 1 aborted.
    check!(
        total.submitted == 38,
        "{} tasks submitted, not 38",
        total.submitted
    );
    check!(
        total.completed == 37 && total.cancelled == 1,
        "{} completed and {} cancelled, not 37 and 1",
        total.completed,
        total.cancelled
    );
    crate::println!("  38 tasks: 37 completed, 1 aborted");
    Ok(())
}

async fn body<P: echo_sched_core::Platform>(s: &Scheduler<P>) -> Result<(), Failure> {
    // Children at every tier.
    let children: Vec<_> = (1..=30u32)
        .map(|i| s.spawn(async move { i * i }, Priority::ALL[i as usize % 3]))
        .collect();
    let mut sum = 0;
    for child in children {
        sum += child
            .await
            .map_err(|e| alloc::format!("a child failed: {e}"))?;
    }
    check!(sum == 9455, "children summed to {sum}, not 9455");

    // A child that spawns and joins a grandchild.
    let inner = s.clone();
    let nested = s.spawn(
        async move {
            let grandchild = inner.spawn(async { 20 }, Priority::Low);
            grandchild.await.map(|v| v + 1)
        },
        Priority::High,
    );
    let nested = nested.await.map_err(|e| alloc::format!("{e}"))?;
    check!(matches!(nested, Ok(21)), "nested join gave {nested:?}");

    // A child that yields before it finishes.
    let yielding = s.spawn(
        async {
            for _ in 0..10 {
                yield_now().await;
            }
            7
        },
        Priority::Normal,
    );
    let yielded = yielding.await;
    check!(
        matches!(yielded, Ok(7)),
        "the yielding child gave {yielded:?}"
    );

    // Abort a task that would wait forever.
    let stuck = s.spawn(core::future::pending::<()>(), Priority::Low);
    yield_now().await;
    stuck.abort();
    let out = stuck.await;
    check!(
        matches!(&out, Err(e) if e.is_cancelled()),
        "the aborted task gave {out:?}"
    );
    Ok(())
}
