//! Work stealing across cores: one task spawns a batch of busy tasks on
//! its own worker; the other cores' workers steal from its ring and run
//! them. Checks that steals happened and every core ran tasks, and prints
//! the scheduler's metrics.

use crate::util::{check, run_root, spin};
use crate::{Board, Failure};
use alloc::vec::Vec;
use echo_sched_core::{Config, Priority};
use portable_atomic::{AtomicU32, Ordering};

const TASKS: u32 = 64;
const MAX_CORES: usize = 8;

static RAN_ON: [AtomicU32; MAX_CORES] = [const { AtomicU32::new(0) }; MAX_CORES];

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    for count in &RAN_ON {
        count.store(0, Ordering::SeqCst);
    }
    let cores = B::CORES.min(MAX_CORES);
    run_root::<B, _, _>(Config::new(cores), |s| async move {
        let spawner = B::core_id();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                s.spawn(
                    async {
                        spin(50_000); // long enough for a slow host to wake the other core
                        RAN_ON[B::core_id()].fetch_add(1, Ordering::SeqCst);
                    },
                    Priority::Normal,
                )
            })
            .collect();
        for task in tasks {
            task.await.map_err(|e| alloc::format!("a task: {e}"))?;
        }
        let m = s.metrics();
        crate::println!("  {TASKS} tasks spawned on core {spawner}; ran per core:");
        for (core, count) in RAN_ON.iter().take(cores).enumerate() {
            crate::println!("    core {core}: {}", count.load(Ordering::SeqCst));
        }
        crate::println!("  metrics:\n{m}");
        for (core, count) in RAN_ON.iter().take(cores).enumerate() {
            check!(count.load(Ordering::SeqCst) > 0, "core {core} ran no task");
        }
        check!(m.steals > 0 && m.stolen > 0, "no steal happened");
        Ok(())
    })
}
