//! gRPC on Echo: every RPC kind round-trips with its handler at its
//! service's tier, a UI call overtakes a bulk backlog on the same
//! connection, and dropping the server leaves no task behind.

use echo_grpc::bulk::bulk_client::BulkClient;
use echo_grpc::proto::{CountRequest, FrameRequest, Item, WorkRequest};
use echo_grpc::ui::ui_client::UiClient;
use echo_std::{Priority, Scheduler};
use futures_util::StreamExt;
use hyper::service::{Service, service_fn};
use hyper_util::service::TowerToHyperService;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bulk service counts the calls it starts and finishes in
/// process-wide counters (`echo_grpc::work_counters`), which the backlog
/// test reads: the tests that make bulk calls run one at a time, so that
/// another test's calls do not finish inside its window.
static BULK_CALLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    BULK_CALLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn scheduler(workers: usize, name: &str) -> Scheduler {
    Scheduler::builder()
        .worker_count(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn every_rpc_kind_round_trips_at_its_tier() {
    let _serial = serial();
    let server_pool = scheduler(2, "grpc-srv");
    let server = echo_grpc::serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        server_pool.handle(),
    )
    .unwrap();
    let addr = server.local_addr();
    // The client is on Echo too, a scheduler of its own.
    let client_pool = scheduler(1, "grpc-cli");
    let task = client_pool.submit(
        async move {
            let channel = echo_grpc::connect(addr, Priority::High).await.unwrap();
            let mut ui = UiClient::new(channel.clone());
            let mut bulk = BulkClient::new(channel);

            // Unary, on both services.
            let frame = ui
                .frame(FrameRequest { seq: 7 })
                .await
                .unwrap()
                .into_inner();
            assert_eq!((frame.seq, frame.tier.as_str()), (7, "High"));
            let work = bulk
                .work(WorkRequest { seq: 9, micros: 10 })
                .await
                .unwrap()
                .into_inner();
            assert_eq!((work.seq, work.tier.as_str()), (9, "Low"));

            // Server streaming: the stream's items are made at Low.
            let counted: Vec<Item> = bulk
                .count(CountRequest {
                    n: 5,
                    pause_micros: 100,
                })
                .await
                .unwrap()
                .into_inner()
                .map(|item| item.unwrap())
                .collect()
                .await;
            assert_eq!(
                counted.iter().map(|i| i.value).collect::<Vec<_>>(),
                [0, 1, 2, 3, 4]
            );
            assert!(counted.iter().all(|i| i.tier == "Low"));

            // Client streaming.
            let items = (1..=10).map(|value| Item {
                value,
                tier: String::new(),
            });
            let sum = bulk
                .sum(futures_util::stream::iter(items))
                .await
                .unwrap()
                .into_inner();
            assert_eq!((sum.total, sum.count, sum.tier.as_str()), (55, 10, "Low"));

            // Bidirectional: each item answered as it comes.
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let mut echoed = bulk
                .echo(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            for value in [3, 1, 4] {
                tx.send(Item {
                    value,
                    tier: String::new(),
                })
                .await
                .unwrap();
                let back = echoed.next().await.unwrap().unwrap();
                assert_eq!((back.value, back.tier.as_str()), (value, "Low"));
            }
            drop(tx);
            assert!(echoed.next().await.is_none());
        },
        Priority::High,
    );
    client_pool.block_on(task).unwrap();
    drop(server);
}

/// Serves both services with `tiers`, counting the requests the server
/// has received (its service called, on the connection's task).
fn counting_server(
    pool: &Scheduler,
    tiers: echo_std::hyper::Tiers,
) -> (echo_std::hyper::Server, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let routes = TowerToHyperService::new(echo_grpc::routes());
    let count = received.clone();
    let service = service_fn(move |request| {
        count.fetch_add(1, Ordering::SeqCst);
        routes.call(request)
    });
    let server = echo_std::hyper::Server::builder()
        .tiers(tiers)
        .handle(pool.handle())
        .serve(TcpListener::bind("127.0.0.1:0").unwrap(), service)
        .unwrap();
    (server, received)
}

/// On one worker, a UI call sent once the server holds 48 bulk calls of
/// 2 ms each, on the same HTTP/2 connection: the tier its handler ran at,
/// how many bulk calls finished between its request and its answer, and
/// how many were pending (received, not finished) when it was sent. (The
/// counters are the process's: a test running beside this one adds at
/// most a call or two.)
fn frame_behind_backlog(tiers: echo_std::hyper::Tiers) -> (String, u64, u64) {
    const BULK: u64 = 48;
    let server_pool = scheduler(1, "flood-srv");
    let (server, received) = counting_server(&server_pool, tiers);
    let addr = server.local_addr();
    let client_pool = scheduler(1, "flood-cli");
    let (_, flood_start) = echo_grpc::work_counters();
    let task = client_pool.submit(
        async move {
            let channel = echo_grpc::connect(addr, Priority::High).await.unwrap();
            let mut flood = Vec::new();
            for seq in 0..BULK {
                let mut bulk = BulkClient::new(channel.clone());
                flood.push(echo_std::spawn(
                    async move { bulk.work(WorkRequest { seq, micros: 2_000 }).await },
                    Priority::Normal,
                ));
            }
            while received.load(Ordering::SeqCst) < BULK {
                echo_std::time::sleep(Duration::from_micros(200)).await;
            }
            let mut ui = UiClient::new(channel);
            // Counted on the server (this process), as its handlers end.
            let (_, done_before) = echo_grpc::work_counters();
            // Received and not finished: queued ahead of the frame.
            let pending = BULK.saturating_sub(done_before - flood_start);
            let frame = ui
                .frame(FrameRequest { seq: 1 })
                .await
                .unwrap()
                .into_inner();
            let done_meanwhile = echo_grpc::work_counters().1 - done_before;
            for call in flood {
                call.await.unwrap().unwrap();
            }
            (frame.tier, done_meanwhile, pending)
        },
        Priority::High,
    );
    let result = client_pool.block_on(task).unwrap();
    drop(server);
    result
}

/// With tiers, the UI call overtakes the backlog (its stream runs at
/// High, theirs at Low); with every method at one tier, the same call
/// waits in line behind most of it.
#[test]
fn ui_call_overtakes_a_bulk_backlog_on_one_connection() {
    let _serial = serial();
    let (tier, done, pending) = frame_behind_backlog(echo_grpc::tiers());
    assert_eq!(tier, "High");
    assert!(
        done <= 3,
        "with tiers, the frame waited for {done} of {pending} pending bulk calls"
    );
    // The comparison needs a backlog when the frame is sent. On a loaded
    // machine the server can drain most of it before the client has sent
    // the last bulk call; such a round shows nothing, so it is run again.
    let mut backlogs = Vec::new();
    for _ in 0..5 {
        let (tier, done, pending) =
            frame_behind_backlog(echo_std::hyper::Tiers::new(Priority::Low));
        assert_eq!(tier, "Low");
        if pending >= 8 {
            assert!(
                done >= pending / 2,
                "in one tier, the frame waited for only {done} of {pending} pending bulk calls"
            );
            return;
        }
        backlogs.push(pending);
    }
    panic!(
        "in five rounds the backlog was never 8 calls deep when the frame was sent: {backlogs:?}"
    );
}

/// Dropping the server cancels its accept loop, its connections (the
/// client sees its streams end) and RPCs still running, and leaves the
/// scheduler with exactly the tasks it had before.
#[test]
fn dropping_the_server_leaves_no_task_behind() {
    let _serial = serial();
    let server_pool = scheduler(2, "drop-srv");
    let before = server_pool.live_tasks();
    let server = echo_grpc::serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        server_pool.handle(),
    )
    .unwrap();
    let addr = server.local_addr();
    let client_pool = scheduler(1, "drop-cli");
    // Open calls that would never end on their own: a slow server stream
    // and a bidirectional stream whose client never closes its side.
    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(1);
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let calls = client_pool.submit(
        async move {
            let channel = echo_grpc::connect(addr, Priority::High).await.unwrap();
            let mut bulk = BulkClient::new(channel);
            let mut slow = bulk
                .count(CountRequest {
                    n: u32::MAX,
                    pause_micros: 1_000,
                })
                .await
                .unwrap()
                .into_inner();
            let mut open = bulk
                .echo(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(slow.next().await.unwrap().unwrap().value, 0);
            opened_tx.send(()).unwrap();
            // Both end once the server is gone (an error or the end).
            while let Some(Ok(_)) = slow.next().await {}
            while let Some(Ok(_)) = open.next().await {}
            drop(tx);
        },
        Priority::High,
    );
    opened_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // The accept loop, the connection and the two streams at least.
    assert!(server.tasks() >= 4, "server tasks: {}", server.tasks());
    assert!(server_pool.live_tasks() >= before + 4);
    assert_eq!(server.connections(), 1);
    drop(server);
    eventually("the server's tasks are gone", || {
        server_pool.live_tasks() == before
    });
    client_pool.block_on(calls).unwrap();
    // Nothing comes back later (a stream task spawned after the drop).
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(server_pool.live_tasks(), before);
}
