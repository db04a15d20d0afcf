//! The tokio bridge: tokio's sockets, timers and files inside Echo tasks,
//! with the scheduler's own driver and with a runtime handed to it.

#![cfg(feature = "tokio")]

use echo_std::{Priority, Scheduler};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::RuntimeFlavor;

/// Generous: this machine is noisy, and a broken bridge hangs rather than
/// runs slow.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `fut` in `block_on`, failing the test instead of hanging.
fn run<F: Future>(s: &Scheduler, fut: F) -> F::Output {
    s.block_on(async {
        tokio::time::timeout(LIMIT, fut)
            .await
            .expect("the test's future did not finish in time")
    })
}

/// The bytes client `id` sends: distinct per client and per position.
fn payload(id: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + id * 7 + i / 251) as u8)
        .collect()
}

/// Accepts `clients` connections, each served by its own task at a
/// priority that rotates over the tiers; returns the bytes echoed.
async fn echo_server(listener: TcpListener, clients: usize) -> usize {
    let mut conns = Vec::new();
    for i in 0..clients {
        let (mut socket, _) = listener.accept().await.expect("accept");
        conns.push(echo_std::spawn(
            async move {
                let mut buf = vec![0u8; 1500];
                let mut echoed = 0;
                loop {
                    let n = socket.read(&mut buf).await.expect("server read");
                    if n == 0 {
                        return echoed;
                    }
                    socket.write_all(&buf[..n]).await.expect("server write");
                    echoed += n;
                }
            },
            Priority::ALL[i % 3],
        ));
    }
    let mut total = 0;
    for c in conns {
        total += c.await.expect("connection task");
    }
    total
}

/// Sends its payload in chunks, reading each chunk's echo before the next,
/// and checks every byte.
async fn echo_client(addr: SocketAddr, id: usize, len: usize) -> usize {
    let data = payload(id, len);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut back = vec![0u8; 1024];
    for chunk in data.chunks(1024) {
        stream.write_all(chunk).await.expect("client write");
        stream
            .read_exact(&mut back[..chunk.len()])
            .await
            .expect("client read");
        assert_eq!(&back[..chunk.len()], chunk, "client {id}: echo differs");
    }
    stream.shutdown().await.expect("client shutdown");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.expect("client drain");
    assert!(rest.is_empty(), "client {id}: extra bytes after the echo");
    data.len()
}

#[test]
fn tcp_echo_server_and_fifty_clients_at_every_priority() {
    const CLIENTS: usize = 50;
    let s = Scheduler::builder().worker_count(4).build().unwrap();
    let listener = run(&s, TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = s.submit(echo_server(listener, CLIENTS), Priority::Normal);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            // 1 to 16 KiB each, in 1 KiB round trips.
            let len = 1024 * (1 + id % 16) + id;
            let handle = s.submit(echo_client(addr, id, len), Priority::ALL[id % 3]);
            (handle, len)
        })
        .collect();
    let mut expected = 0;
    for (handle, len) in clients {
        assert_eq!(run(&s, handle).expect("client task"), len);
        expected += len;
    }
    assert_eq!(run(&s, server).expect("server task"), expected);
    s.shutdown();
}

#[test]
fn sleep_inside_tasks_at_every_priority() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let nap = Duration::from_millis(20 + (i as u64 % 5) * 20);
            s.submit(
                async move {
                    let start = Instant::now();
                    tokio::time::sleep(nap).await;
                    (nap, start.elapsed())
                },
                Priority::ALL[i % 3],
            )
        })
        .collect();
    for h in handles {
        let (nap, took) = run(&s, h).unwrap();
        assert!(took >= nap, "slept {took:?}, asked for {nap:?}");
        assert!(
            took < nap + Duration::from_secs(10),
            "slept {took:?} for {nap:?}"
        );
    }
    // `block_on` is inside the runtime's context too (a `Sleep` is bound to
    // a runtime when created, so create it inside).
    let start = Instant::now();
    s.block_on(async { tokio::time::sleep(Duration::from_millis(30)).await });
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn timeout_and_interval_inside_tasks() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let expired = s.submit(
        async {
            let start = Instant::now();
            let res =
                tokio::time::timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
            (res.is_err(), start.elapsed())
        },
        Priority::High,
    );
    let in_time = s.submit(
        async {
            tokio::time::timeout(Duration::from_secs(30), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                5
            })
            .await
        },
        Priority::Low,
    );
    let ticks = s.submit(
        async {
            let start = Instant::now();
            let mut interval = tokio::time::interval(Duration::from_millis(20));
            for _ in 0..5 {
                interval.tick().await; // the first tick is immediate
            }
            start.elapsed()
        },
        Priority::Normal,
    );
    let (timed_out, took) = run(&s, expired).unwrap();
    assert!(timed_out, "a pending future must time out");
    assert!(
        took >= Duration::from_millis(50),
        "timed out after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "timed out after {took:?}");
    assert_eq!(run(&s, in_time).unwrap().unwrap(), 5);
    let took = run(&s, ticks).unwrap();
    assert!(took >= Duration::from_millis(80), "5 ticks took {took:?}");
    assert!(took < Duration::from_secs(10), "5 ticks took {took:?}");
}

#[test]
fn tokio_fs_inside_a_task() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let path = std::env::temp_dir().join(format!(
        "echo-tokio-fs-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let task = {
        let path = path.clone();
        s.submit(
            async move {
                let text = "written by an Echo task through tokio::fs\n".repeat(100);
                tokio::fs::write(&path, &text).await?;
                let back = tokio::fs::read_to_string(&path).await?;
                tokio::fs::remove_file(&path).await?;
                Ok::<_, std::io::Error>(back == text)
            },
            Priority::Low,
        )
    };
    assert!(run(&s, task).unwrap().unwrap(), "file content differs");
    assert!(!path.exists());
}

#[test]
fn owned_runtime_is_current_thread_and_driven_by_the_workers() {
    let s = Scheduler::builder()
        .worker_count(2)
        .thread_name("own-rt")
        .build()
        .unwrap();
    let flavor = s.submit(
        async { tokio::runtime::Handle::current().runtime_flavor() },
        Priority::Normal,
    );
    assert_eq!(run(&s, flavor).unwrap(), RuntimeFlavor::CurrentThread);
    assert_eq!(
        s.tokio_handle().runtime_flavor(),
        RuntimeFlavor::CurrentThread
    );
    // A future given to tokio::spawn runs on a worker that drives the
    // runtime: there is no driver thread.
    let on = run(&s, async {
        tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap()
    });
    assert!(
        matches!(on.as_deref(), Some("own-rt-0" | "own-rt-1")),
        "ran on {on:?}"
    );
    s.shutdown();
    // Afterwards the driver is gone: the runtime refuses new work.
    let after = s.tokio_handle().spawn(async { 1 });
    let res = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(after);
    assert!(res.is_err(), "the owned runtime must be shut down");
}

#[test]
fn external_handle_is_used_and_left_running() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ext-tokio-rt")
        .enable_all()
        .build()
        .unwrap();
    let s = Scheduler::builder()
        .worker_count(2)
        .thread_name("ext")
        .tokio_handle(runtime.handle().clone())
        .build()
        .unwrap();
    assert_eq!(
        s.tokio_handle().runtime_flavor(),
        RuntimeFlavor::MultiThread
    );
    // No driver of Echo's own: no thread named ext-tokio exists.
    assert!(!thread_names().iter().any(|n| n == "ext-tokio"));

    // Tasks use the given runtime: sockets, timers, and tokio::spawn.
    let listener = run(&s, TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = s.submit(echo_server(listener, 6), Priority::Low);
    let clients: Vec<_> = (0..6)
        .map(|id| s.submit(echo_client(addr, id, 3000), Priority::ALL[id % 3]))
        .collect();
    for c in clients {
        assert_eq!(run(&s, c).unwrap(), 3000);
    }
    assert_eq!(run(&s, server).unwrap(), 6 * 3000);
    let task = s.submit(
        async {
            let flavor = tokio::runtime::Handle::current().runtime_flavor();
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let on = tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap();
            (flavor, start.elapsed(), on)
        },
        Priority::High,
    );
    let (flavor, slept, on) = run(&s, task).unwrap();
    assert_eq!(flavor, RuntimeFlavor::MultiThread);
    assert!(slept >= Duration::from_millis(20));
    assert_eq!(on.as_deref(), Some("ext-tokio-rt"));

    s.shutdown();
    drop(s);
    // The runtime is the application's: it still runs after Echo is gone.
    let still = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::spawn(async { 11 }).await.unwrap()
    });
    assert_eq!(still, 11);
}

/// The names of this process's threads (Linux; empty elsewhere).
fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_owned())
        .collect()
}

#[test]
fn the_driver_thread_mode_still_runs_tokio_on_its_own_thread() {
    let s = Scheduler::builder()
        .worker_count(1)
        .thread_name("old-rt")
        .tokio_driver_thread(true)
        .build()
        .unwrap();
    let on = run(&s, async {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap()
    });
    assert_eq!(on.as_deref(), Some("old-rt-tokio"));
}
