//! Shutting Echo down leaves no thread behind: workers, blocking-pool
//! threads and tokio's own blocking threads (from `tokio::fs`) are all
//! joined. The workers drive the tokio runtime themselves, so there is no
//! driver thread to count (and none by name).
//!
//! It counts the threads of this process in /proc/self/task, so it is
//! the only test in its binary: no other test's threads come and go.

#![cfg(all(feature = "tokio", target_os = "linux"))]

use echo_std::{Priority, Scheduler};
use echo_tests::{thread_names, wait_until};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Starts every kind of thread a scheduler owns and returns how many it
/// runs then, above `baseline`.
fn exercise(s: &Scheduler) -> usize {
    // Three blocking closures at once: three pool threads.
    let started = Arc::new(AtomicUsize::new(0));
    let blocking: Vec<_> = (0..3)
        .map(|i| {
            let started = started.clone();
            s.spawn_blocking(move || {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                i
            })
        })
        .collect();
    // tokio timers, sockets and files (tokio's blocking threads).
    let io = s.submit(
        async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let accept = echo_std::spawn(async move { listener.accept().await }, Priority::Low);
            let _client = tokio::net::TcpStream::connect(addr).await?;
            accept.await.unwrap()?;
            let meta = tokio::fs::metadata(std::env::temp_dir()).await?;
            Ok::<_, std::io::Error>(meta.is_dir())
        },
        Priority::High,
    );
    assert!(s.block_on(io).unwrap().unwrap());
    for (i, h) in blocking.into_iter().enumerate() {
        assert_eq!(s.block_on(h).unwrap(), i);
    }
    assert_eq!(s.blocking_threads(), 3);
    let names = thread_names();
    assert!(
        !names.iter().any(|n| n == "tt-tokio"),
        "a tokio driver thread runs: {names:?}"
    );
    thread_count()
}

#[test]
fn shutdown_and_drop_leave_no_thread_behind() {
    // Warm up what the process starts once and keeps (none expected, but
    // std or the allocator might).
    drop(Scheduler::builder().worker_count(1).build().unwrap());
    let baseline = thread_count();

    // 1. shutdown() through &self.
    let s = Scheduler::builder()
        .worker_count(3)
        .thread_name("tt")
        .build()
        .unwrap();
    let during = exercise(&s);
    // 3 workers + 3 pool threads + at least one tokio blocking thread.
    assert!(
        during >= baseline + 7,
        "{during} threads, {baseline} before"
    );
    s.shutdown();
    assert_eq!(s.blocking_threads(), 0);
    // A joined thread can linger in /proc for a moment after its join.
    assert!(
        wait_until(Duration::from_secs(2), || thread_count() == baseline),
        "after shutdown: {} threads, {baseline} before",
        thread_count()
    );
    drop(s);

    // 2. Just dropping the scheduler.
    let s = Scheduler::builder()
        .worker_count(2)
        .thread_name("tt")
        .build()
        .unwrap();
    assert!(exercise(&s) >= baseline + 6);
    drop(s);
    assert!(
        wait_until(Duration::from_secs(2), || thread_count() == baseline),
        "after drop: {} threads, {baseline} before",
        thread_count()
    );

    // 3. Shut down from inside one of its own tasks, then dropped from
    // outside: the drop joins what the task could not.
    let s = Arc::new(
        Scheduler::builder()
            .worker_count(2)
            .thread_name("tt")
            .build()
            .unwrap(),
    );
    assert!(exercise(&s) >= baseline + 6);
    let inner = s.clone();
    let task = s.submit(
        async move {
            inner.shutdown();
            drop(inner);
        },
        Priority::Normal,
    );
    let _ = s.block_on(task);
    assert!(wait_until(Duration::from_secs(10), || Arc::strong_count(
        &s
    ) == 1));
    drop(s);
    assert!(
        wait_until(Duration::from_secs(2), || thread_count() == baseline),
        "after shutdown inside a task: {} threads, {baseline} before",
        thread_count()
    );
}
