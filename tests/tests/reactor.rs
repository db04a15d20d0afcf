//! The workers drive the tokio reactor (the bridge's default): TCP through
//! tokio sockets works, no driver thread exists, futures given to
//! `tokio::spawn` make progress both when the workers are idle (the
//! sleeper runs them) and when they are busy (the busy poll runs them),
//! and Echo's timers work beside tokio's.

#![cfg(feature = "tokio")]

use echo_std::{Priority, Scheduler};
use echo_tests::thread_names;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[test]
fn tcp_echo_through_tokio_sockets_with_no_driver_thread() {
    let s = Scheduler::builder()
        .worker_count(2)
        .thread_name("rx1")
        .build()
        .unwrap();
    let server = s.submit(
        async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let accept = echo_std::spawn(
                async move {
                    for _ in 0..4 {
                        let (mut socket, _) = listener.accept().await?;
                        echo_std::spawn(
                            async move {
                                let mut buf = [0u8; 64];
                                loop {
                                    let n = socket.read(&mut buf).await?;
                                    if n == 0 {
                                        return Ok::<_, std::io::Error>(());
                                    }
                                    socket.write_all(&buf[..n]).await?;
                                }
                            },
                            Priority::Normal,
                        );
                    }
                    Ok::<_, std::io::Error>(())
                },
                Priority::Normal,
            );
            Ok::<_, std::io::Error>((addr, accept))
        },
        Priority::Normal,
    );
    let (addr, accept) = s.block_on(server).unwrap().unwrap();
    let clients: Vec<_> = Priority::ALL
        .into_iter()
        .chain([Priority::High])
        .enumerate()
        .map(|(i, p)| {
            s.submit(
                async move {
                    let mut stream = TcpStream::connect(addr).await?;
                    let mut total = 0;
                    for round in 0..50u32 {
                        let msg = format!("client {i} round {round}");
                        stream.write_all(msg.as_bytes()).await?;
                        let mut back = vec![0u8; msg.len()];
                        stream.read_exact(&mut back).await?;
                        assert_eq!(back, msg.as_bytes());
                        total += back.len();
                    }
                    Ok::<_, std::io::Error>(total)
                },
                p,
            )
        })
        .collect();
    for c in clients {
        assert!(s.block_on(c).unwrap().unwrap() > 0);
    }
    s.block_on(accept).unwrap().unwrap();
    #[cfg(target_os = "linux")]
    {
        let names = thread_names();
        assert!(names.iter().any(|n| n == "rx1-0"), "{names:?}");
        assert!(
            !names.iter().any(|n| n == "rx1-tokio"),
            "a driver thread runs: {names:?}"
        );
    }
}

#[test]
fn tokio_spawned_futures_progress_while_workers_idle() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    // From a task, and from a thread in block_on: both land on the
    // runtime that the sleeping worker drives.
    let from_task = s.submit(
        async {
            let inner = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                21
            });
            inner.await.unwrap() * 2
        },
        Priority::Low,
    );
    assert_eq!(s.block_on(from_task).unwrap(), 42);
    let handle = s.tokio_handle();
    let outside = handle.spawn(async { "ran" });
    assert_eq!(s.block_on(outside).unwrap(), "ran");
}

#[test]
fn tokio_spawned_futures_progress_while_every_worker_is_busy() {
    // One worker, kept busy by a task that only stops once a future given
    // to tokio::spawn has run: only the busy worker's reactor poll can run
    // that future.
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let busy = s.submit(
        async move {
            let set = flag.clone();
            tokio::spawn(async move { set.store(true, Ordering::SeqCst) });
            // Bounded, so that a broken poll fails instead of hanging.
            let give_up = Instant::now() + Duration::from_secs(20);
            while !flag.load(Ordering::SeqCst) && Instant::now() < give_up {
                echo_std::yield_now().await;
            }
            flag.load(Ordering::SeqCst)
        },
        Priority::Normal,
    );
    assert!(s.block_on(busy).unwrap(), "the tokio future never ran");
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn echo_timers_and_tokio_timers_together() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let task = s.submit(
        async {
            let start = Instant::now();
            let echo = echo_std::time::sleep(Duration::from_millis(4));
            let tokio = tokio::time::sleep(Duration::from_millis(3));
            futures::join!(echo, tokio);
            start.elapsed()
        },
        Priority::High,
    );
    assert!(s.block_on(task).unwrap() >= Duration::from_millis(4));
}
