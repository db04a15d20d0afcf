//! tokio-console sees Echo's tasks (echo-std feature `console`): this runs
//! console-subscriber's gRPC server on a loopback port, runs named Echo
//! tasks at each tier, connects a client made with the `console-api`
//! crate (what tokio-console itself uses), and checks what it receives:
//! each task with its name, priority, spawn location, poll count, wakes
//! and waker clones.
//!
//! console-subscriber's layer starts only when built with `--cfg
//! console_without_tokio_unstable` (or `tokio_unstable`); the repository's
//! `.cargo/config.toml` sets it, and a `RUSTFLAGS` variable that replaces
//! it compiles this file out.
#![cfg(all(
    feature = "console",
    any(console_without_tokio_unstable, tokio_unstable)
))]

use console_api::field::{Name, Value};
use console_api::instrument::InstrumentRequest;
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::tasks::{Stats, Task};
use echo_std::{Priority, Scheduler};
use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// What the client has seen of one task.
#[derive(Debug, Default)]
struct Seen {
    fields: HashMap<String, String>,
    line: Option<u32>,
    polls: u64,
    wakes: u64,
    self_wakes: u64,
    waker_clones: u64,
    dropped: bool,
}

fn field_map(task: &Task) -> HashMap<String, String> {
    task.fields
        .iter()
        .filter_map(|f| {
            let Some(Name::StrName(name)) = &f.name else {
                return None;
            };
            let value = match f.value.as_ref()? {
                Value::StrVal(s) | Value::DebugVal(s) => s.clone(),
                Value::U64Val(v) => v.to_string(),
                Value::I64Val(v) => v.to_string(),
                Value::BoolVal(v) => v.to_string(),
            };
            Some((name.clone(), value))
        })
        .collect()
}

/// Reads the console's updates until `done` holds for what was seen by
/// task name, or the deadline passes; returns what was seen.
async fn watch(port: u16, done: impl Fn(&HashMap<String, Seen>) -> bool) -> HashMap<String, Seen> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        match InstrumentClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(client) => break client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("could not connect to the console server: {e}"),
        }
    };
    let mut updates = client
        .watch_updates(InstrumentRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut tasks: HashMap<u64, Task> = HashMap::new();
    let mut stats: HashMap<u64, Stats> = HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(Some(update))) = tokio::time::timeout(left, updates.message()).await else {
            break;
        };
        if let Some(u) = update.task_update {
            for t in u.new_tasks {
                tasks.insert(t.id.unwrap().id, t);
            }
            stats.extend(u.stats_update);
        }
        let seen = summarize(&tasks, &stats);
        if done(&seen) {
            return seen;
        }
    }
    summarize(&tasks, &stats)
}

fn summarize(tasks: &HashMap<u64, Task>, stats: &HashMap<u64, Stats>) -> HashMap<String, Seen> {
    let mut seen = HashMap::new();
    for (id, task) in tasks {
        let fields = field_map(task);
        let Some(name) = fields.get("task.name").cloned() else {
            continue;
        };
        let s = stats.get(id);
        seen.insert(
            name,
            Seen {
                line: task.location.as_ref().and_then(|l| l.line),
                polls: s.and_then(|s| s.poll_stats.as_ref()).map_or(0, |p| p.polls),
                wakes: s.map_or(0, |s| s.wakes),
                self_wakes: s.map_or(0, |s| s.self_wakes),
                waker_clones: s.map_or(0, |s| s.waker_clones),
                dropped: s.is_some_and(|s| s.dropped_at.is_some()),
                fields,
            },
        );
    }
    seen
}

#[test]
fn tokio_console_lists_echo_tasks_with_tiers_polls_and_wakes() {
    let port = {
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    let (layer, server) = console_subscriber::ConsoleLayer::builder()
        .server_addr((Ipv4Addr::LOCALHOST, port))
        .publish_interval(Duration::from_millis(20))
        .retention(Duration::from_secs(120))
        .build();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    let console_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    console_runtime.spawn(async move { server.serve().await.unwrap() });

    let scheduler = Scheduler::builder().worker_count(2).build().unwrap();
    // At each tier, a task that yields five times: six polls, five
    // self-wakes.
    let mut handles = Vec::new();
    let mut lines = HashMap::new();
    for tier in Priority::ALL {
        let name = format!("yield-{}", tier.name());
        lines.insert(name.clone(), line!() + 1);
        let h = scheduler.task().name(name).priority(tier).submit(async {
            for _ in 0..5 {
                echo_std::yield_now().await;
            }
        });
        handles.push(h);
    }
    // A task woken from another thread: its waker is cloned into the
    // channel and woken by value by the send.
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let waiter = scheduler
        .task()
        .name("waiter")
        .priority(Priority::High)
        .submit(async move { rx.await.unwrap() });
    for h in handles {
        scheduler.block_on(h).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    tx.send(42).unwrap();
    assert_eq!(scheduler.block_on(waiter).unwrap(), 42);

    let seen = console_runtime.block_on(watch(port, |seen| {
        ["yield-high", "yield-normal", "yield-low", "waiter"]
            .iter()
            .all(|n| seen.get(*n).is_some_and(|s| s.dropped))
    }));
    for tier in Priority::ALL {
        let name = format!("yield-{}", tier.name());
        let task = seen
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not listed; the console saw {seen:#?}"));
        assert_eq!(task.fields["priority"], tier.name(), "{name}");
        assert_eq!(task.fields["kind"], "task", "{name}");
        assert!(task.fields.contains_key("task.id"), "{name}");
        assert_eq!(task.line, Some(lines[&name]), "{name}: the spawn's line");
        assert_eq!(task.polls, 6, "{name}: five yields and the last poll");
        assert_eq!(task.wakes, 5, "{name}");
        assert_eq!(task.self_wakes, 5, "{name}: yield_now wakes itself");
        assert!(task.dropped, "{name}: its span closed when it finished");
    }
    let waiter = &seen["waiter"];
    assert_eq!(waiter.fields["priority"], "high");
    assert_eq!(waiter.polls, 2);
    assert_eq!(waiter.wakes, 1, "the send woke it once");
    assert_eq!(waiter.self_wakes, 0);
    assert!(waiter.waker_clones >= 1, "the channel keeps a clone");
    scheduler.shutdown();
}
