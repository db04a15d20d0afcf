//! Executor-agnostic libraries work unchanged inside Echo tasks: they only
//! need a `Waker`, and Echo's wakers can be woken from any thread (here,
//! async-io's reactor thread, or another task).

use echo_std::{Priority, Scheduler};
use futures::future::{self, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::pin::pin;
use std::time::{Duration, Instant};

/// Generous: a broken waker hangs rather than runs slow.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `fut` in `block_on`, failing the test instead of hanging.
fn run<F: Future>(s: &Scheduler, fut: F) -> F::Output {
    s.block_on(async {
        match future::select(pin!(fut), async_io::Timer::after(LIMIT)).await {
            Either::Left((out, _)) => out,
            Either::Right(_) => panic!("the test's future did not finish in time"),
        }
    })
}

#[test]
fn async_io_timer_in_tasks() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let handles: Vec<_> = (0..12u64)
        .map(|i| {
            let nap = Duration::from_millis(10 + 10 * (i % 4));
            s.submit(
                async move {
                    let start = Instant::now();
                    async_io::Timer::after(nap).await;
                    (nap, start.elapsed())
                },
                Priority::ALL[i as usize % 3],
            )
        })
        .collect();
    for h in handles {
        let (nap, took) = run(&s, h).unwrap();
        assert!(took >= nap, "slept {took:?} for {nap:?}");
        assert!(
            took < nap + Duration::from_secs(10),
            "slept {took:?} for {nap:?}"
        );
    }
    // A periodic timer, too.
    let ticks = s.submit(
        async {
            use futures::StreamExt;
            let start = Instant::now();
            let mut interval = async_io::Timer::interval(Duration::from_millis(10));
            for _ in 0..3 {
                interval.next().await;
            }
            start.elapsed()
        },
        Priority::Low,
    );
    assert!(run(&s, ticks).unwrap() >= Duration::from_millis(30));
}

#[test]
fn async_io_tcp_listener_and_client() {
    const CLIENTS: usize = 8;
    let s = Scheduler::builder().worker_count(3).build().unwrap();
    let listener = async_io::Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    // Server at Low: accepts, and echoes each connection in its own task.
    let server = s.submit(
        async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (mut stream, _) = listener.accept().await.unwrap();
                conns.push(echo_std::spawn(
                    async move {
                        let mut buf = [0u8; 512];
                        let mut total = 0;
                        loop {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return total;
                            }
                            stream.write_all(&buf[..n]).await.unwrap();
                            total += n;
                        }
                    },
                    Priority::Normal,
                ));
            }
            let mut total = 0;
            for c in conns {
                total += c.await.unwrap();
            }
            total
        },
        Priority::Low,
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            s.submit(
                async move {
                    let mut stream = async_io::Async::<TcpStream>::connect(addr).await.unwrap();
                    let msg: Vec<u8> = (0..2000).map(|i| (i + id) as u8).collect();
                    for chunk in msg.chunks(400) {
                        stream.write_all(chunk).await.unwrap();
                        let mut back = vec![0u8; chunk.len()];
                        stream.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, chunk);
                    }
                    msg.len()
                },
                Priority::ALL[id % 3],
            )
        })
        .collect();
    let mut sent = 0;
    for c in clients {
        sent += run(&s, c).unwrap();
    }
    // Clients closed their streams when their tasks finished.
    assert_eq!(run(&s, server).unwrap(), sent);
    assert_eq!(sent, CLIENTS * 2000);
}

#[test]
fn async_channel_between_tasks_at_different_priorities() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let (tx, rx) = async_channel::bounded::<(usize, u64)>(4);
    // Three producers, one per tier; the bound of 4 makes them wait on the
    // consumer again and again.
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let tx = tx.clone();
            s.submit(
                async move {
                    for i in 0..500u64 {
                        tx.send((p, i)).await.unwrap();
                    }
                },
                Priority::ALL[p],
            )
        })
        .collect();
    drop(tx);
    // The consumer at High checks per-producer order and the total.
    let consumer = s.submit(
        async move {
            let mut next = [0u64; 3];
            let mut sum = 0u64;
            while let Ok((p, i)) = rx.recv().await {
                assert_eq!(i, next[p], "producer {p} out of order");
                next[p] += 1;
                sum += i;
            }
            (next, sum)
        },
        Priority::High,
    );
    for p in producers {
        run(&s, p).unwrap();
    }
    let (counts, sum) = run(&s, consumer).unwrap();
    assert_eq!(counts, [500, 500, 500]);
    assert_eq!(sum, 3 * (0..500u64).sum::<u64>());
}

#[test]
fn futures_join_all_over_handles_of_every_priority() {
    let s = Scheduler::builder().worker_count(3).build().unwrap();
    let outer = s.submit(
        async {
            let handles = (0..30u64).map(|i| {
                echo_std::spawn(
                    async move {
                        echo_std::yield_now().await;
                        i * 3
                    },
                    Priority::ALL[i as usize % 3],
                )
            });
            let results = future::join_all(handles).await;
            // In submission order, whatever order they finished in.
            results.into_iter().map(Result::unwrap).collect::<Vec<_>>()
        },
        Priority::Normal,
    );
    let expected: Vec<u64> = (0..30).map(|i| i * 3).collect();
    assert_eq!(run(&s, outer).unwrap(), expected);
}

#[test]
fn futures_select_between_a_handle_and_a_timer() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let task =
        s.submit(
            async {
                // The quick handle wins against a long timer...
                let quick = echo_std::spawn(async { "quick" }, Priority::Low);
                let first = match future::select(quick, async_io::Timer::after(LIMIT)).await {
                    Either::Left((out, _timer)) => out.unwrap(),
                    Either::Right(_) => "timer",
                };
                // ...and a short timer against a task that never finishes,
                // which the loser's handle then aborts.
                let stuck = echo_std::spawn(future::pending::<()>(), Priority::Normal);
                let second =
                    match future::select(async_io::Timer::after(Duration::from_millis(20)), stuck)
                        .await
                    {
                        Either::Left((_, stuck)) => {
                            stuck.abort();
                            stuck.await.unwrap_err().is_cancelled()
                        }
                        Either::Right(_) => false,
                    };
                (first, second)
            },
            Priority::High,
        );
    assert_eq!(run(&s, task).unwrap(), ("quick", true));
}
