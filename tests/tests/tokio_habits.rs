//! The tokio habits of echo-std: `#[echo_std::main]`/`#[echo_std::test]`,
//! `Handle`, `JoinSet`, the worker thread hooks and `task_local!`. Orders
//! are forced with gates, never with timing; `wait_until` only bounds how
//! long a test waits for something that must happen.

use echo_std::task::JoinSet;
use echo_std::{Handle, Priority, Scheduler};
use echo_tests::{DropCount, Gate, wait_until};
use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Long enough for any event that must happen, even on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn pool(n: usize) -> Scheduler {
    Scheduler::builder().worker_count(n).build().unwrap()
}

/// The message of a caught panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ---- #[echo_std::test] and #[echo_std::main] ----

#[echo_std::test]
async fn test_attribute_runs_the_body_on_a_one_worker_scheduler() {
    let handle = Handle::current();
    assert_eq!(handle.worker_count(), 1);
    let on = echo_std::spawn(
        async { std::thread::current().name().map(str::to_owned) },
        Priority::Normal,
    );
    assert_eq!(on.await.unwrap().as_deref(), Some("echo-worker-0"));
}

#[echo_std::test(worker_count = 2)]
async fn test_attribute_takes_a_worker_count() {
    assert_eq!(Handle::current().worker_count(), 2);
    // Two tasks that each hold their worker until both have arrived: they
    // can only both arrive on two different threads at once.
    let arrived = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..2 {
        let arrived = arrived.clone();
        set.spawn(
            async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                let met = wait_until(PATIENCE, || arrived.load(Ordering::SeqCst) == 2);
                (met, std::thread::current().name().unwrap().to_owned())
            },
            Priority::Normal,
        );
    }
    let mut names = HashSet::new();
    while let Some(result) = set.join_next().await {
        let (met, name) = result.unwrap();
        assert!(met, "the other task never ran alongside");
        names.insert(name);
    }
    let expected: HashSet<String> = ["echo-worker-0".into(), "echo-worker-1".into()].into();
    assert_eq!(names, expected);
}

#[echo_std::test]
async fn test_attribute_allows_result_and_question_mark() -> Result<(), Box<dyn std::error::Error>>
{
    let n: u32 = "41".parse()?;
    let m = echo_std::spawn(async move { n + 1 }, Priority::High).await?;
    assert_eq!(m, 42);
    Ok(())
}

#[echo_std::test]
#[should_panic(expected = "the body's panic")]
async fn test_attribute_propagates_a_panic_of_the_body() {
    echo_std::yield_now().await;
    panic!("the body's panic");
}

// ---- Handle ----

#[test]
fn handle_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Handle>();
    let s = pool(1);
    let h = s.handle();
    let shared = Arc::new(h.clone());
    let job = std::thread::spawn(move || shared.spawn(async { 5 }, Priority::Low))
        .join()
        .unwrap();
    assert_eq!(s.block_on(job).unwrap(), 5);
}

#[test]
fn handle_current_panics_outside_a_scheduler_with_a_clear_message() {
    let message = panic_message(|| {
        Handle::current();
    });
    assert!(message.contains("no current scheduler"), "{message}");
    let err = Handle::try_current().unwrap_err();
    assert_eq!(err.to_string(), message);
    // It is a std error: it boxes into `dyn Error`.
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(boxed.source().is_none());
}

#[test]
fn handle_current_finds_the_scheduler_in_block_on_in_tasks_and_in_spawn_blocking() {
    let s = pool(3);
    assert_eq!(s.block_on(async { Handle::current().worker_count() }), 3);
    let in_task = s.submit(
        async { Handle::try_current().map(|h| h.worker_count()) },
        Priority::Normal,
    );
    assert_eq!(s.block_on(in_task).unwrap().unwrap(), 3);
    let in_blocking = s.spawn_blocking(|| Handle::try_current().map(|h| h.worker_count()));
    assert_eq!(s.block_on(in_blocking).unwrap().unwrap(), 3);
    // Outside again once block_on returned.
    assert!(Handle::try_current().is_err());
}

#[test]
fn handle_spawn_from_a_task_runs_on_the_same_scheduler() {
    let s = pool(2);
    let outer = s.submit(
        async {
            let child = Handle::current().spawn(
                async { echo_std::task::current().is_some() },
                Priority::High,
            );
            child.await.unwrap()
        },
        Priority::Low,
    );
    assert!(s.block_on(outer).unwrap());
}

#[test]
fn handle_spawn_after_shutdown_gives_a_cancelled_handle() {
    let s = pool(1);
    let h = s.handle();
    s.shutdown();
    assert!(h.is_shutdown());
    let drops = DropCount::new();
    let late = h.spawn(drops.wrap(async { 1 }), Priority::Normal);
    assert_eq!(drops.get(), 1, "the refused future is dropped");
    let err = futures::executor::block_on(late).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn a_handle_outliving_its_scheduler_neither_blocks_shutdown_nor_panics() {
    let s = pool(2);
    let gate = Gate::new();
    // A task that holds a handle to its own scheduler and never finishes.
    let parked = {
        let gate = gate.clone();
        s.submit(
            async move {
                let _mine = Handle::current();
                gate.wait().await;
            },
            Priority::Normal,
        )
    };
    let h = s.handle();
    assert!(wait_until(PATIENCE, || gate.waiters() == 1));
    // Dropping the scheduler shuts it down and joins the workers although
    // two handles are alive (ours and the parked task's).
    drop(s);
    assert!(h.is_shutdown());
    assert!(
        futures::executor::block_on(parked)
            .unwrap_err()
            .is_cancelled()
    );
    let late = h.spawn(async { 2 }, Priority::High);
    assert!(
        futures::executor::block_on(late)
            .unwrap_err()
            .is_cancelled()
    );
}

// ---- JoinSet ----

/// A task that waits for `gate`, counts itself done, and returns `i`.
fn gated(
    i: usize,
    gate: &Gate,
    done: &Arc<AtomicUsize>,
) -> impl Future<Output = usize> + Send + 'static {
    let (gate, done) = (gate.clone(), done.clone());
    async move {
        gate.wait().await;
        done.fetch_add(1, Ordering::SeqCst);
        i
    }
}

#[test]
fn join_set_returns_results_in_completion_order_when_all_finished_before_joining() {
    // One worker: a task's whole last poll, including its report to the
    // set, ends before the next task runs.
    let s = pool(1);
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for (i, gate) in gates.iter().enumerate() {
        set.spawn_on(gated(i, gate, &done), Priority::Normal, &s.handle());
    }
    assert_eq!(set.len(), 3);
    for (n, &i) in [2, 0, 1].iter().enumerate() {
        assert!(wait_until(PATIENCE, || gates[i].waiters() == 1));
        gates[i].open();
        assert!(wait_until(PATIENCE, || done.load(Ordering::SeqCst) == n + 1));
    }
    let order: Vec<usize> = (0..3)
        .map(|_| s.block_on(set.join_next()).unwrap().unwrap())
        .collect();
    assert_eq!(order, [2, 0, 1], "completion order, not submission order");
    assert!(set.is_empty());
    assert!(s.block_on(set.join_next()).is_none());
}

#[test]
fn join_set_wakes_the_waiter_for_each_task_as_it_finishes() {
    let s = pool(2);
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let order = s.block_on(async {
        let mut set = JoinSet::new();
        for (i, gate) in gates.iter().enumerate() {
            set.spawn(gated(i, gate, &done), Priority::Low);
        }
        let mut order = Vec::new();
        for i in [3, 1, 0, 2] {
            gates[i].open();
            order.push(set.join_next().await.unwrap().unwrap());
            assert_eq!(set.len(), 4 - order.len());
        }
        order
    });
    assert_eq!(order, [3, 1, 0, 2]);
}

#[test]
fn join_set_lives_inside_a_task_and_joins_its_children() {
    let s = pool(2);
    // `submit` takes only `Send` futures: this one holds a `JoinSet` across
    // awaits.
    let parent = s.submit(
        async {
            let mut set = JoinSet::new();
            for i in 0..10u64 {
                set.spawn(async move { i * i }, Priority::Normal);
            }
            let mut sum = 0;
            while let Some(square) = set.join_next().await {
                sum += square.unwrap();
            }
            sum
        },
        Priority::High,
    );
    assert_eq!(s.block_on(parent).unwrap(), 285);
}

#[test]
fn join_set_len_counts_tasks_until_joined() {
    let s = pool(1);
    s.block_on(async {
        let mut set: JoinSet<u8> = JoinSet::default();
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
        set.spawn(async { 1 }, Priority::High);
        set.spawn(async { 2 }, Priority::Normal);
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
        let first = set.join_next().await.unwrap().unwrap();
        assert_eq!(set.len(), 1);
        let second = set.join_next().await.unwrap().unwrap();
        assert_eq!(set.len(), 0);
        assert_eq!(first + second, 3);
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn join_set_abort_all_gives_cancelled_results_and_drops_the_futures() {
    let s = pool(2);
    let gate = Gate::new();
    let drops = DropCount::new();
    s.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..3 {
            set.spawn(drops.wrap(gate.wait()), Priority::Normal);
        }
        set.abort_all();
        assert_eq!(set.len(), 3, "aborted tasks stay until joined");
        for _ in 0..3 {
            assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
        }
        assert!(set.join_next().await.is_none());
    });
    assert_eq!(drops.get(), 3, "each aborted future was dropped");
}

#[test]
fn dropping_a_join_set_aborts_its_tasks() {
    let s = pool(2);
    let gate = Gate::new();
    let drops = DropCount::new();
    let mut set = JoinSet::new();
    for _ in 0..4 {
        set.spawn_on(drops.wrap(gate.wait()), Priority::Normal, &s.handle());
    }
    assert!(wait_until(PATIENCE, || gate.waiters() == 4));
    assert_eq!(drops.get(), 0);
    drop(set);
    assert!(wait_until(PATIENCE, || drops.get() == 4));
    assert!(wait_until(PATIENCE, || s.live_tasks() == 0));
}

#[test]
fn join_set_reports_panics_and_refused_tasks() {
    let s = pool(1);
    let mut set = JoinSet::new();
    set.spawn_on(
        async { panic!("in the set") },
        Priority::Normal,
        &s.handle(),
    );
    let err = s.block_on(set.join_next()).unwrap().unwrap_err();
    assert!(err.is_panic());
    let handle = s.handle();
    s.shutdown();
    set.spawn_on(async {}, Priority::Normal, &handle);
    let refused = futures::executor::block_on(set.join_next()).unwrap();
    assert!(refused.unwrap_err().is_cancelled());
}

#[test]
fn join_set_orders_outputs_and_errors_together_by_completion() {
    // One worker, as in the test above: each task's finish is reported
    // before the next task runs.
    let s = pool(1);
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for (i, gate) in gates.iter().enumerate() {
        let (gate, done) = (gate.clone(), done.clone());
        set.spawn_on(
            async move {
                gate.wait().await;
                done.fetch_add(1, Ordering::SeqCst);
                if i == 1 {
                    panic!("task 1 fails");
                }
                i
            },
            Priority::Normal,
            &s.handle(),
        );
    }
    for (n, &i) in [1, 2].iter().enumerate() {
        assert!(wait_until(PATIENCE, || gates[i].waiters() == 1));
        gates[i].open();
        assert!(wait_until(PATIENCE, || done.load(Ordering::SeqCst) == n + 1));
    }
    set.abort_all(); // only task 0 is still running: it is cancelled
    let mut results = Vec::new();
    while let Some(r) = s.block_on(set.join_next()) {
        results.push(match r {
            Ok(i) => format!("ok {i}"),
            Err(e) if e.is_panic() => "panic".to_owned(),
            Err(e) if e.is_cancelled() => "cancelled".to_owned(),
            Err(_) => "other".to_owned(),
        });
    }
    assert_eq!(results, ["panic", "ok 2", "cancelled"]);
}

#[test]
fn join_set_spawn_outside_a_scheduler_panics_with_a_clear_message() {
    let mut set = JoinSet::new();
    let message = panic_message(|| set.spawn(async {}, Priority::Normal));
    assert!(message.contains("outside an Echo scheduler"), "{message}");
    assert!(set.is_empty());
}

// ---- on_thread_start / on_thread_stop ----

thread_local! {
    static STARTED_HERE: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn thread_hooks_run_once_per_worker_on_the_worker_threads() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let stops = Arc::new(Mutex::new(Vec::new()));
    let in_context = Arc::new(AtomicUsize::new(0));
    let (start_log, stop_log, ctx) = (starts.clone(), stops.clone(), in_context.clone());
    let s = Scheduler::builder()
        .worker_count(3)
        .thread_name("hooked")
        .on_thread_start(move || {
            STARTED_HERE.with(|c| c.set(true));
            if Handle::try_current().is_ok_and(|h| h.worker_count() == 3) {
                ctx.fetch_add(1, Ordering::SeqCst);
            }
            let name = std::thread::current().name().unwrap().to_owned();
            start_log.lock().unwrap().push(name);
        })
        .on_thread_stop(move || {
            let name = std::thread::current().name().unwrap().to_owned();
            stop_log.lock().unwrap().push(name);
        })
        .build()
        .unwrap();
    // Submitted at once: every task still runs after its worker's start
    // hook.
    let handles: Vec<_> = (0..64)
        .map(|_| s.submit(async { STARTED_HERE.with(Cell::get) }, Priority::Normal))
        .collect();
    for h in handles {
        assert!(
            s.block_on(h).unwrap(),
            "a task ran before its worker's start hook"
        );
    }
    assert!(
        stops.lock().unwrap().is_empty(),
        "no stop hook before shutdown"
    );
    s.shutdown();
    let expected = ["hooked-0", "hooked-1", "hooked-2"];
    let mut starts = starts.lock().unwrap().clone();
    let mut stops = stops.lock().unwrap().clone();
    starts.sort();
    stops.sort();
    assert_eq!(starts, expected);
    assert_eq!(stops, expected);
    assert_eq!(in_context.load(Ordering::SeqCst), 3);
}

#[test]
fn a_panicking_thread_hook_does_not_take_the_worker_down() {
    let s = Scheduler::builder()
        .worker_count(1)
        .on_thread_start(|| panic!("start hook"))
        .build()
        .unwrap();
    let job = s.submit(async { 9 }, Priority::Normal);
    assert_eq!(s.block_on(job).unwrap(), 9);
}

// ---- task_local! ----

echo_std::task_local! {
    static REQUEST: usize;
    static LABEL: &'static str;
}

#[test]
fn task_local_value_follows_its_task_across_yields_and_workers() {
    let s = pool(2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let threads = threads.clone();
            s.submit(
                REQUEST.scope(i, async move {
                    for _ in 0..50 {
                        assert_eq!(REQUEST.get(), i);
                        threads.lock().unwrap().insert(std::thread::current().id());
                        echo_std::yield_now().await;
                    }
                    REQUEST.get()
                }),
                Priority::Normal,
            )
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(s.block_on(h).unwrap(), i);
    }
    // Nothing leaks onto the test thread.
    assert!(REQUEST.try_with(|_| ()).is_err());
}

#[test]
fn task_local_scopes_nest_and_restore_the_outer_value() {
    let s = pool(2);
    let seen = s.block_on(s.submit(
        LABEL.scope("outer", async {
            let mut seen = vec![LABEL.get()];
            let inner = LABEL.scope("inner", async {
                echo_std::yield_now().await;
                LABEL.get()
            });
            seen.push(inner.await);
            seen.push(LABEL.get());
            // Two keys are independent.
            seen.push(if REQUEST.try_with(|_| ()).is_err() {
                "no request"
            } else {
                "request"
            });
            seen
        }),
        Priority::Normal,
    ));
    assert_eq!(seen.unwrap(), ["outer", "inner", "outer", "no request"]);
}

#[test]
fn task_local_value_is_not_visible_in_another_task() {
    let s = pool(2);
    let job = s.submit(
        REQUEST.scope(7, async {
            let child = echo_std::spawn(async { REQUEST.try_with(|v| *v) }, Priority::High);
            (REQUEST.get(), child.await.unwrap())
        }),
        Priority::Normal,
    );
    let (mine, childs) = s.block_on(job).unwrap();
    assert_eq!(mine, 7);
    assert!(childs.is_err(), "a spawned task does not inherit the scope");
}

#[test]
fn task_local_with_panics_and_try_with_errs_outside_a_scope() {
    let err = REQUEST.try_with(|v| *v).unwrap_err();
    assert!(err.to_string().contains("outside any scope"), "{err}");
    let _: &dyn std::error::Error = &err;
    let message = panic_message(|| {
        REQUEST.with(|_| ());
    });
    assert_eq!(message, err.to_string());
    // A task without a scope sees no value either.
    let s = pool(1);
    let job = s.submit(async { REQUEST.try_with(|v| *v).is_err() }, Priority::Low);
    assert!(s.block_on(job).unwrap());
}

#[test]
fn task_local_value_is_visible_while_the_scoped_future_drops() {
    struct ReadsOnDrop(Arc<Mutex<Option<usize>>>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = REQUEST.try_with(|v| *v).ok();
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let guard = ReadsOnDrop(seen.clone());
    let scoped = REQUEST.scope(11, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    // Polled once (the guard moves into the future's state), then dropped.
    let mut scoped = Box::pin(scoped);
    let waker = std::task::Waker::noop();
    assert!(
        scoped
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    drop(scoped);
    assert_eq!(*seen.lock().unwrap(), Some(11));
}
