//! The High responder (`SchedulerBuilder::high_responder`, Linux): data
//! arriving on a watched High socket reaches its task even while every
//! worker is busy in a poll that never yields.
#![cfg(all(feature = "tokio", target_os = "linux"))]

use echo_std::{Priority, Scheduler};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// On one worker: a High task serves a socket (watched); a Normal task
/// then occupies the worker, spinning in one poll until the High task has
/// answered a byte sent meanwhile, or 2 s pass. Returns whether the
/// spinner saw the answer, and whether the High task said its socket was
/// watched.
fn served_while_the_worker_spins(responder: bool) -> (bool, bool) {
    let scheduler = Scheduler::builder()
        .worker_count(1)
        .high_responder(responder)
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let a = answered.clone();
    let server = scheduler.submit(
        async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let (mut socket, _) = listener.accept().await?;
            ready_tx
                .send(echo_std::tokio_bridge::watch_high(&socket))
                .unwrap();
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await?;
            a.store(true, Ordering::SeqCst);
            socket.write_all(&byte).await?;
            Ok::<_, std::io::Error>(())
        },
        Priority::High,
    );
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let watched = ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (spinning_tx, spinning_rx) = mpsc::channel();
    let a = answered.clone();
    let spinner = scheduler.submit(
        async move {
            spinning_tx.send(()).unwrap();
            let end = Instant::now() + Duration::from_secs(2);
            while !a.load(Ordering::SeqCst) && Instant::now() < end {
                std::hint::spin_loop();
            }
            a.load(Ordering::SeqCst)
        },
        Priority::Normal,
    );
    spinning_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    client.write_all(b"x").unwrap();
    let saw_answer = scheduler.block_on(spinner).unwrap();
    // Either way the byte comes back once the worker is free.
    let mut back = [0u8; 1];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"x");
    scheduler.block_on(server).unwrap().unwrap();
    (saw_answer, watched)
}

#[test]
fn high_readiness_reaches_its_task_while_every_worker_is_busy() {
    assert_eq!(served_while_the_worker_spins(true), (true, true));
}

/// The control: without a responder, the High task waits for the poll.
#[test]
fn without_a_responder_it_waits_for_the_busy_worker() {
    assert_eq!(served_while_the_worker_spins(false), (false, false));
}
