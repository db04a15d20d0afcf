//! gRPC on Echo's tiers: a tonic server whose "UI" service runs at High
//! and whose "bulk" service runs at Low, and tonic clients on Echo.
//!
//! ```text
//! cargo run --release --example grpc
//! ```
//!
//! The server runs on a scheduler of two workers. A client floods
//! `bulk.Bulk/Work` (64 calls in flight, 500 µs of CPU each) while another
//! asks `ui.Ui/Frame` every 5 ms; both share one HTTP/2 connection. Then
//! the same load runs with every method at Normal, for comparison. The
//! UI frame's round trip, and how many bulk calls completed meanwhile,
//! are printed for both.

use echo_grpc::bulk::bulk_client::BulkClient;
use echo_grpc::proto::{FrameRequest, WorkRequest};
use echo_grpc::ui::ui_client::UiClient;
use echo_std::hyper::{Server, Tiers};
use echo_std::{Priority, Scheduler};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const FRAMES: usize = 200;
const IN_FLIGHT: usize = 64;
const WORK_MICROS: u32 = 500;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server_pool = Scheduler::builder()
        .worker_count(2)
        .thread_name("server")
        .build()?;
    let client_pool = Scheduler::builder()
        .worker_count(1)
        .thread_name("client")
        .build()?;

    for (label, tiers) in [
        ("with tiers (ui.Ui High, bulk.Bulk Low)", echo_grpc::tiers()),
        ("every method at Normal", Tiers::new(Priority::Normal)),
    ] {
        let server = Server::builder()
            .tiers(tiers)
            .handle(server_pool.handle())
            .serve(
                std::net::TcpListener::bind("127.0.0.1:0")?,
                TowerToHyperService::new(echo_grpc::routes()),
            )?;
        let addr = server.local_addr();
        let run = client_pool.submit(
            async move {
                // One HTTP/2 connection, its task at High on the client.
                let channel = echo_grpc::connect(addr, Priority::High).await?;
                let stop = Arc::new(AtomicBool::new(false));
                let bulk_done = Arc::new(AtomicU64::new(0));
                let mut flood = Vec::new();
                for _ in 0..IN_FLIGHT {
                    let mut bulk = BulkClient::new(channel.clone());
                    let (stop, done) = (stop.clone(), bulk_done.clone());
                    flood.push(echo_std::spawn(
                        async move {
                            while !stop.load(Ordering::Relaxed) {
                                let request = WorkRequest {
                                    seq: 0,
                                    micros: WORK_MICROS,
                                };
                                if bulk.work(request).await.is_err() {
                                    break;
                                }
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Priority::Normal,
                    ));
                }
                echo_std::time::sleep(Duration::from_millis(100)).await;
                let mut ui = UiClient::new(channel);
                let mut times = Vec::with_capacity(FRAMES);
                let mut tier = String::new();
                let (start, done_before) = (Instant::now(), bulk_done.load(Ordering::Relaxed));
                for seq in 0..FRAMES as u64 {
                    let sent = Instant::now();
                    tier = ui.frame(FrameRequest { seq }).await?.into_inner().tier;
                    times.push(sent.elapsed());
                    echo_std::time::sleep(Duration::from_millis(5)).await;
                }
                let bulk_rate = (bulk_done.load(Ordering::Relaxed) - done_before) as f64
                    / start.elapsed().as_secs_f64();
                stop.store(true, Ordering::Relaxed);
                for call in flood {
                    let _ = call.await;
                }
                times.sort();
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((times, tier, bulk_rate))
            },
            Priority::High,
        );
        let (times, tier, bulk_rate) = client_pool.block_on(run)?.map_err(|e| e.to_string())?;
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!("{label}:");
        println!(
            "  ui.Ui/Frame (handler at {tier}): p50 {:?}, p99 {:?}, max {:?}",
            at(0.5),
            at(0.99),
            times[times.len() - 1]
        );
        println!(
            "  bulk.Bulk/Work: {bulk_rate:.0} calls/s ({IN_FLIGHT} in flight, {WORK_MICROS} µs each)"
        );
        let tasks = server.tasks();
        drop(server);
        println!(
            "  server tasks before drop: {tasks}; live tasks after: {}",
            {
                std::thread::sleep(Duration::from_millis(50));
                server_pool.live_tasks()
            }
        );
    }
    Ok(())
}
