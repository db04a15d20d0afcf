//! The timeline recorder (feature `recorder`): a trace written by
//! `ChromeTrace` is checked against what the tasks saw themselves: every
//! poll of a known task is in it, on the worker that ran it, at its tier;
//! nothing overlaps on a worker's track; a wake from one task to another
//! has its flow arrow, from inside the waker's poll to the woken task's
//! next poll.
#![cfg(feature = "recorder")]

use echo_std::task::TaskId;
use echo_std::timeline::ChromeTrace;
use echo_std::{Priority, Scheduler};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Every poll of a known task, in order: (task, worker index).
type Log = Arc<Mutex<Vec<(TaskId, usize)>>>;

/// The worker running the calling thread, from its name (`tl-N`).
fn worker_index() -> usize {
    let name = std::thread::current().name().unwrap().to_owned();
    name.strip_prefix("tl-").unwrap().parse().unwrap()
}

/// Logs each poll of `inner` with the task and worker it ran on.
struct Logged<F> {
    inner: Pin<Box<F>>,
    log: Log,
}

impl<F: Future> Future for Logged<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let id = echo_std::task::current().unwrap().id();
        self.log.lock().unwrap().push((id, worker_index()));
        self.inner.as_mut().poll(cx)
    }
}

fn logged<F: Future>(log: &Log, inner: F) -> Logged<F> {
    Logged {
        inner: Box::pin(inner),
        log: log.clone(),
    }
}

/// Nanoseconds from a trace's microsecond field (written with three
/// exact decimals).
fn nanos(v: &Value) -> u64 {
    (v.as_f64().unwrap() * 1000.0).round() as u64
}

#[test]
fn a_written_trace_holds_every_poll_on_its_worker_without_overlap() {
    let scheduler = Scheduler::builder()
        .worker_count(2)
        .thread_name("tl")
        .timeline_capacity(1 << 16)
        .build()
        .unwrap();
    let log: Log = Arc::default();
    let mut tiers = HashMap::new();
    let mut handles = Vec::new();
    for tier in Priority::ALL {
        for _ in 0..4 {
            let h = scheduler.submit(
                logged(&log, async {
                    for _ in 0..5 {
                        echo_std::yield_now().await;
                    }
                }),
                tier,
            );
            tiers.insert(h.id(), tier);
            handles.push(h);
        }
    }
    // One task wakes another: the receiver's poll after the send must have
    // an arrow from inside the sender's poll.
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let receiver = scheduler.submit(
        logged(&log, async move { rx.await.unwrap() }),
        Priority::Normal,
    );
    let sender = scheduler.submit(
        logged(&log, async move {
            echo_std::time::sleep(std::time::Duration::from_millis(5)).await;
            tx.send(7).unwrap();
        }),
        Priority::High,
    );
    let (receiver_id, sender_id) = (receiver.id(), sender.id());
    tiers.insert(receiver_id, Priority::Normal);
    tiers.insert(sender_id, Priority::High);
    for h in handles {
        scheduler.block_on(h).unwrap();
    }
    scheduler.block_on(sender).unwrap();
    assert_eq!(scheduler.block_on(receiver).unwrap(), 7);

    let timeline = scheduler.timeline();
    assert_eq!(timeline.workers.len(), 2);
    assert!(timeline.workers.iter().all(|w| w.dropped == 0));
    let mut json = Vec::new();
    ChromeTrace::new(&timeline)
        .label(receiver_id, "receiver")
        .write(&mut json)
        .unwrap();
    let trace: Value = serde_json::from_slice(&json).expect("the trace is valid JSON");
    let events = trace["traceEvents"].as_array().unwrap();

    // Every poll of a known task, on the worker that ran it, in order.
    let mut traced: HashMap<u64, Vec<(u64, usize)>> = HashMap::new();
    for e in events.iter().filter(|e| e["cat"] == "poll") {
        let task = e["args"]["task"].as_u64().unwrap();
        let tid = e["tid"].as_u64().unwrap() as usize;
        if let Some(tier) = tiers.get(&TaskId::from_u64(task)) {
            let name = e["name"].as_str().unwrap().to_lowercase();
            assert!(
                name.starts_with(tier.name()),
                "a poll's slice is named after its tier: {name}"
            );
            traced
                .entry(task)
                .or_default()
                .push((nanos(&e["ts"]), tid - 1));
        }
    }
    let log = log.lock().unwrap().clone();
    for &id in tiers.keys() {
        let ran: Vec<usize> = log
            .iter()
            .filter(|(t, _)| *t == id)
            .map(|&(_, w)| w)
            .collect();
        let mut slices = traced.remove(&id.as_u64()).unwrap_or_default();
        slices.sort_unstable();
        let seen: Vec<usize> = slices.iter().map(|&(_, w)| w).collect();
        assert_eq!(
            seen, ran,
            "task {id}: the trace's polls (by worker) are what ran"
        );
        if id != receiver_id && id != sender_id {
            assert_eq!(ran.len(), 6, "five yields and the last poll");
        }
    }

    // Nothing overlaps on a track.
    let mut tracks: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let start = nanos(&e["ts"]);
        tracks
            .entry(e["tid"].as_u64().unwrap())
            .or_default()
            .push((start, start + nanos(&e["dur"])));
    }
    for (tid, mut slices) in tracks {
        slices.sort_unstable();
        for pair in slices.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "track {tid}: {:?} overlaps {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    // The send woke the receiver: its last poll has an arrow whose start
    // lies inside one of the sender's polls, on the sender's worker.
    let last_receiver_poll = events
        .iter()
        .filter(|e| e["cat"] == "poll" && e["args"]["task"] == receiver_id.as_u64())
        .max_by_key(|e| nanos(&e["ts"]))
        .unwrap();
    assert_eq!(last_receiver_poll["args"]["label"], "receiver");
    assert_eq!(last_receiver_poll["name"], "Normal receiver");
    let arrow_end = events
        .iter()
        .find(|e| {
            e["ph"] == "f"
                && e["tid"] == last_receiver_poll["tid"]
                && e["ts"] == last_receiver_poll["ts"]
        })
        .expect("the woken poll has an incoming arrow");
    let arrow_start = events
        .iter()
        .find(|e| e["ph"] == "s" && e["id"] == arrow_end["id"])
        .expect("the arrow starts somewhere");
    let at = nanos(&arrow_start["ts"]);
    let inside_sender = events.iter().any(|e| {
        e["cat"] == "poll"
            && e["args"]["task"] == sender_id.as_u64()
            && e["tid"] == arrow_start["tid"]
            && nanos(&e["ts"]) <= at
            && at <= nanos(&e["ts"]) + nanos(&e["dur"])
    });
    assert!(inside_sender, "the arrow starts inside the sender's poll");
    scheduler.shutdown();
}
