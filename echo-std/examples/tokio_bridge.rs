//! The tokio bridge at work: a TCP echo server and clients at three
//! priorities, a High heartbeat on `tokio::time::interval`, a timeout, and
//! a checksum on the blocking pool, all on Echo's workers. Runs in about a
//! second.
//!
//! ```sh
//! cargo run -p echo-std --features tokio --example tokio_bridge
//! ```

use echo_std::{Priority, Scheduler};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Clients per priority tier.
const CLIENTS_PER_TIER: usize = 4;
/// Messages each client sends.
const ROUNDS: usize = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scheduler = Scheduler::builder()
        .worker_count(2)
        .thread_name("demo")
        .build()?;
    let started = Instant::now();

    // The server: one Normal task accepting, one Normal task per connection.
    let listener = scheduler.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr} (tokio::net inside Echo tasks)");
    let server = scheduler.submit(
        async move {
            let mut served = 0usize;
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    break;
                };
                served += 1;
                echo_std::spawn(
                    async move {
                        let mut buf = [0u8; 256];
                        loop {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if socket.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    },
                    Priority::Normal,
                );
                if served == 3 * CLIENTS_PER_TIER {
                    break;
                }
            }
            served
        },
        Priority::Normal,
    );

    // A High heartbeat every 50 ms while the clients run.
    let heartbeat = scheduler.submit(
        async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(50));
            let mut late = Duration::ZERO;
            for _ in 0..10 {
                let due = ticks.tick().await;
                late = late.max(due.elapsed());
            }
            late
        },
        Priority::High,
    );

    // Clients at every tier; each sends ROUNDS lines and checks the echo.
    let mut clients = Vec::new();
    for priority in [Priority::High, Priority::Normal, Priority::Low] {
        for c in 0..CLIENTS_PER_TIER {
            clients.push((
                priority,
                scheduler.submit(
                    async move {
                        let start = Instant::now();
                        let mut stream = TcpStream::connect(addr).await?;
                        let mut echoed = 0usize;
                        for round in 0..ROUNDS {
                            let line = format!("{priority:?} client {c} round {round}\n");
                            stream.write_all(line.as_bytes()).await?;
                            let mut back = vec![0u8; line.len()];
                            stream.read_exact(&mut back).await?;
                            assert_eq!(back, line.as_bytes());
                            echoed += back.len();
                        }
                        Ok::<_, std::io::Error>((echoed, start.elapsed()))
                    },
                    priority,
                ),
            ));
        }
    }

    // Blocking work goes to the blocking pool, not to a worker.
    let checksum = scheduler.submit(
        async {
            echo_std::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(100)); // a slow disk
                (0..1_000_000u64).fold(0u64, |a, x| a.wrapping_mul(31).wrapping_add(x))
            })
            .await
        },
        Priority::Low,
    );

    // A timeout that fires: a read nobody answers.
    let timeout = scheduler.submit(
        async {
            let silent = TcpListener::bind("127.0.0.1:0").await?;
            let mut stream = TcpStream::connect(silent.local_addr()?).await?;
            let mut byte = [0u8; 1];
            let res =
                tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte)).await;
            Ok::<_, std::io::Error>(res.is_err())
        },
        Priority::Normal,
    );

    for (priority, client) in clients {
        let (bytes, took) = scheduler.block_on(client)??;
        let tier = format!("{priority:?}");
        println!("{tier:>6} client: {bytes:5} bytes echoed in {took:>10.2?}");
    }
    println!(
        "server accepted {} connections",
        scheduler.block_on(server)?
    );
    println!(
        "heartbeat: 10 ticks of 50 ms, at most {:.2?} late",
        scheduler.block_on(heartbeat)?
    );
    println!(
        "blocking pool: checksum {:#x} ({} pool thread(s) started)",
        scheduler.block_on(checksum)??,
        scheduler.blocking_threads()
    );
    println!(
        "timeout: a silent read {}",
        if scheduler.block_on(timeout)?? {
            "timed out after 100 ms, as it should"
        } else {
            "did not time out (unexpected)"
        }
    );
    println!("done in {:.2?}\n", started.elapsed());
    println!("{}", scheduler.metrics());
    scheduler.shutdown(); // joins the workers, the blocking pool and the tokio driver
    Ok(())
}
