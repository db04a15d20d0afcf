//! Volume: many tasks with subtasks, deep chains of awaits.

use echo_std::{JoinHandle, Priority, Scheduler};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

#[test]
fn every_result_of_100_000_tasks_with_subtasks_arrives_exactly_once() {
    const N: usize = 100_000;
    let s = Scheduler::builder().worker_count(4).build().unwrap();
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let root = {
        let seen = seen.clone();
        let threads = threads.clone();
        s.submit(
            async move {
                // 1 000 parents, each spawning 100 children.
                let parents: Vec<JoinHandle<Vec<(usize, ThreadId)>>> = (0..N / 100)
                    .map(|p| {
                        echo_std::spawn(
                            async move {
                                let kids: Vec<_> = (0..100)
                                    .map(|k| {
                                        echo_std::spawn(
                                            async move {
                                                let me = std::thread::current().id();
                                                (p * 100 + k, me)
                                            },
                                            Priority::ALL[k % 3],
                                        )
                                    })
                                    .collect();
                                let mut out = Vec::with_capacity(100);
                                for kid in kids {
                                    out.push(kid.await.unwrap());
                                }
                                out
                            },
                            Priority::Normal,
                        )
                    })
                    .collect();
                for parent in parents {
                    for (id, thread) in parent.await.unwrap() {
                        seen[id].fetch_add(1, Ordering::Relaxed);
                        threads.lock().unwrap().insert(thread);
                    }
                }
            },
            Priority::Normal,
        )
    };
    s.block_on(root).unwrap();
    assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    let m = s.metrics();
    assert_eq!(m.total().submitted, N + N / 100 + 1);
    let threads = threads.lock().unwrap().len();
    assert!(
        threads >= 2,
        "100 000 subtasks all ran on {threads} worker(s)"
    );
}

fn chain(depth: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 0;
        }
        let child = echo_std::spawn(chain(depth - 1), Priority::Normal);
        child.await.unwrap() + u64::from(depth)
    })
}

#[test]
fn a_1000_deep_chain_of_awaited_tasks_completes_on_one_worker() {
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let h = s.submit(chain(1000), Priority::Normal);
    assert_eq!(s.block_on(h).unwrap(), 1000 * 1001 / 2);
    assert_eq!(s.metrics().total().completed, 1001);
}
