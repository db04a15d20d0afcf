//! What a user sees of the pool: metrics with latency, depth and busy
//! figures, serializable; task names and priorities; tracing spans; and
//! batches.

use echo_std::{Priority, Scheduler};
use echo_tests::{Gate, busy_for, wait_until};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn metrics_report_first_poll_latency_queue_depth_and_busy_share() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    // A backlog, so that depth samples see queued work.
    let handles: Vec<_> = (0..2_000)
        .map(|i| {
            s.submit(
                async {
                    busy_for(Duration::from_micros(5));
                },
                Priority::ALL[i % 3],
            )
        })
        .collect();
    for h in handles {
        s.block_on(h).unwrap();
    }
    assert!(wait_until(Duration::from_secs(5), || s.live_tasks() == 0));
    let m = s.metrics();
    let high = m.tier(Priority::High).latency;
    // Every High task is sampled; one in 64 of the others per worker.
    assert_eq!(high.samples, m.tier(Priority::High).submitted);
    let lower = m.tier(Priority::Normal).latency.samples + m.tier(Priority::Low).latency.samples;
    let submitted = m.tier(Priority::Normal).submitted + m.tier(Priority::Low).submitted;
    // One in 64, chosen by id: about 21 of 1 333.
    assert!(
        (submitted / 64 / 3..=submitted / 64 * 3).contains(&lower),
        "{lower} samples of {submitted}"
    );
    assert!(high.p50_nanos > 0 && high.p50_nanos <= high.p99_nanos);
    assert!(high.p99_nanos <= high.max_nanos);
    assert!(m.tiers.iter().any(|t| t.queued_avg > 0.0), "{m:?}");
    assert_eq!(m.worker_busy.len(), 2);
    assert!(m.worker_busy.iter().all(|b| (0.0..=1.0).contains(b)));
    let table = m.to_string();
    assert!(
        table.contains("1st poll p50") && table.contains("busy"),
        "{table}"
    );

    // Serializable with the `serde` feature.
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["workers"], 2);
    assert_eq!(json["tiers"][0]["latency"]["samples"], high.samples);
}

#[test]
fn detailed_metrics_can_be_turned_off() {
    let s = Scheduler::builder()
        .worker_count(1)
        .detailed_metrics(false)
        .build()
        .unwrap();
    let h = s.submit(async { 1 }, Priority::High);
    s.block_on(h).unwrap();
    let m = s.metrics();
    assert_eq!(m.tier(Priority::High).submitted, 1);
    assert_eq!(m.tier(Priority::High).latency.samples, 0);
}

#[test]
fn the_task_builder_names_tasks_and_sets_priority() {
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let h = s
        .task()
        .name("index")
        .priority(Priority::Low)
        .submit(async {
            let me = echo_std::task::current().unwrap();
            let child = echo_std::task::builder()
                .name(format!("{}-child", me.name().unwrap()))
                .priority(Priority::High)
                .submit(async {
                    let c = echo_std::task::current().unwrap();
                    (c.name().map(str::to_owned), c.priority())
                });
            (
                me.name().map(str::to_owned),
                me.priority(),
                child.await.unwrap(),
            )
        });
    let (name, prio, (child_name, child_prio)) = s.block_on(h).unwrap();
    assert_eq!(name.as_deref(), Some("index"));
    assert_eq!(prio, Priority::Low);
    assert_eq!(child_name.as_deref(), Some("index-child"));
    assert_eq!(child_prio, Priority::High);
    // try_submit and submit_async through the builder.
    let h = s.task().name("t").try_submit(async { 7 }).unwrap();
    assert_eq!(s.block_on(h).unwrap(), 7);
    let h = s.block_on(s.task().submit_async(async { 8 })).unwrap();
    assert_eq!(s.block_on(h).unwrap(), 8);
}

#[test]
fn task_age_grows() {
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let h = s.submit(
        async {
            let a = echo_std::task::current().unwrap().age();
            std::thread::sleep(Duration::from_millis(5));
            let b = echo_std::task::current().unwrap().age();
            (a, b)
        },
        Priority::Normal,
    );
    let (a, b) = s.block_on(h).unwrap();
    assert!(b >= a + Duration::from_millis(4), "{a:?} then {b:?}");
}

#[test]
fn submit_batch_returns_every_handle_in_order() {
    let s = Scheduler::builder().worker_count(2).build().unwrap();
    let handles = s.submit_batch((0..1_000u64).map(|i| async move { i }), Priority::Normal);
    assert_eq!(handles.len(), 1_000);
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(s.block_on(h).unwrap(), i as u64);
    }
    // From inside a task too (the worker-local path).
    let s = Arc::new(s);
    let s2 = s.clone();
    let h = s.submit(
        async move {
            let hs = s2.submit_batch((0..300u64).map(|i| async move { i }), Priority::Low);
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        },
        Priority::Normal,
    );
    assert_eq!(s.block_on(h).unwrap(), 299 * 300 / 2);
}

#[test]
fn submit_batch_respects_the_bound_and_shutdown() {
    let s = Arc::new(
        Scheduler::builder()
            .worker_count(1)
            .max_tasks(8)
            .build()
            .unwrap(),
    );
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let batch: Vec<_> = (0..40)
        .map(|_| {
            let (g, r) = (gate.clone(), ran.clone());
            async move {
                g.wait().await;
                r.fetch_add(1, Ordering::SeqCst);
            }
        })
        .collect();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            gate.open();
        })
    };
    // Blocks for room as the gate lets tasks finish.
    let handles = s.submit_batch(batch, Priority::Normal);
    opener.join().unwrap();
    for h in handles {
        s.block_on(h).unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 40);
    s.shutdown();
    let refused = s.submit_batch((0..3).map(|_| async {}), Priority::High);
    assert_eq!(refused.len(), 3);
    for h in refused {
        assert!(s.block_on(h).unwrap_err().is_cancelled());
    }
}

/// A subscriber that records the fields of "echo" spans it sees.
struct Spans(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?};", field.name(), value));
    }
}

impl tracing::Subscriber for Spans {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "echo"
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let mut spans = self.0.lock().unwrap();
        spans.push(fields.0);
        tracing::span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn each_poll_runs_in_a_span_with_the_tasks_id_priority_and_name() {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let dispatch = tracing::Dispatch::new(Spans(spans.clone()));
    tracing::dispatcher::set_global_default(dispatch).expect("one global subscriber");
    let s = Scheduler::builder().worker_count(1).build().unwrap();
    let h = s
        .task()
        .name("traced")
        .priority(Priority::High)
        .submit(async {});
    let id = h.id();
    s.block_on(h).unwrap();
    let spans = spans.lock().unwrap();
    let ours = spans
        .iter()
        .find(|f| f.contains(&format!("id={};", id.as_u64())))
        .unwrap_or_else(|| panic!("no span for task {id}: {spans:?}"));
    assert!(ours.contains("priority=\"high\""), "{ours}");
    assert!(
        ours.contains("name=Some(\"traced\")") || ours.contains("name=\"traced\""),
        "{ours}"
    );
}
