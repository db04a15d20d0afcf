//! The desktop demo: an editor back end on one Echo pool, run twice with
//! the same load, once with priorities and once with every task at Normal,
//! and the two runs printed side by side.
//!
//! The load, per run:
//!
//! - UI frames: one every 16 ms, spawned by a ticker task on an Echo
//!   interval timer (`echo_std::time::interval`, at the frames' tier); the
//!   demo prints how late the ticks fire. A frame is four steps of 50 µs (input, layout, paint,
//!   present) with a yield between steps, as a frame that awaits its parts
//!   would. Its latency is from submission to the end of its last step;
//!   the budget is the 16 ms until the next frame.
//! - Background indexing: a backlog of 1 ms jobs (ten 100 µs slices,
//!   yielding between slices), kept at 64 per worker: a finished job
//!   queues the next.
//! - Maintenance: a 2 ms job (eight 250 µs slices) every 50 ms.
//! - Autosave: every 200 ms a task hands a file write to the blocking pool
//!   (`spawn_blocking`) and awaits it, so the write never holds a worker.
//!
//! With priorities, frames are High, indexing Normal, maintenance and
//! autosave Low. Without, everything is Normal, as on an executor without
//! tiers: each step of a frame then queues behind the backlog.
//!
//! `cargo run --release -p echo-std --example desktop [seconds per run]`
//! (default 4; the whole demo takes about twice that).
//!
//! With the `recorder` feature, each run can also be recorded:
//!
//! ```sh
//! cargo run --release -p echo-std --features recorder --example desktop -- \
//!     --trace desktop.json --png docs/desktop-timeline.png
//! ```
//!
//! `--trace FILE` writes one Chrome trace per run (`FILE` with
//! `-priorities` and `-all-normal` before its extension) that
//! ui.perfetto.dev opens; `--png FILE` draws the same 64 ms of both runs,
//! one above the other (`support/timeline_png.rs`).

#[cfg(feature = "recorder")]
#[path = "support/timeline_png.rs"]
mod timeline_png;

use echo_std::{Metrics, Priority, Scheduler};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "recorder")]
use timeline_png::Role;
/// What a task is in the demo (only needed to draw the timeline).
#[cfg(not(feature = "recorder"))]
#[derive(Clone, Copy)]
enum Role {
    Ticker,
    Frame,
    Background,
    Maintenance,
    Autosave,
}

const FRAME_PERIOD: Duration = Duration::from_millis(16);
const FRAME_STEPS: u32 = 4;
const FRAME_STEP: Duration = Duration::from_micros(50);
const JOBS_PER_WORKER: usize = 64;
const JOB_SLICES: u32 = 10;
const JOB_SLICE: Duration = Duration::from_micros(100);
const MAINTENANCE_PERIOD: Duration = Duration::from_millis(50);
const MAINTENANCE_SLICES: u32 = 8;
const MAINTENANCE_SLICE: Duration = Duration::from_micros(250);
const AUTOSAVE_EVERY: u32 = 4; // maintenance periods: every 200 ms

/// What one run shares with its tasks.
struct Load {
    /// False for the run where every task is Normal.
    prioritized: bool,
    stop: AtomicBool,
    frame_latencies: Mutex<Vec<Duration>>,
    /// How late each frame tick ran after its scheduled instant.
    tick_lateness: Mutex<Vec<Duration>>,
    jobs_done: AtomicUsize,
    maintenance_done: AtomicUsize,
    saves: AtomicUsize,
    save_path: std::path::PathBuf,
    /// What each task is, when the run is recorded (`--trace`, `--png`).
    roles: Option<Mutex<HashMap<echo_std::task::TaskId, Role>>>,
}

impl Load {
    /// The tier a task of kind `tier` runs at in this run.
    fn tier(&self, tier: Priority) -> Priority {
        if self.prioritized {
            tier
        } else {
            Priority::Normal
        }
    }

    /// Notes what the task behind `handle` is, if the run is recorded.
    fn note<T>(&self, handle: &echo_std::JoinHandle<T>, role: Role) {
        if let Some(roles) = &self.roles {
            roles.lock().unwrap().insert(handle.id(), role);
        }
    }
}

/// What a run reports.
struct Report {
    frames: Vec<Duration>,
    ticks: Vec<Duration>,
    jobs_done: usize,
    maintenance_done: usize,
    saves: usize,
    blocking_threads: usize,
    metrics: Metrics,
    #[cfg(feature = "recorder")]
    recorded: Option<(
        echo_std::timeline::Timeline,
        HashMap<echo_std::task::TaskId, Role>,
    )>,
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Queues one background job, which queues the next when it finishes.
/// Called inside the pool (a task, or `block_on`), so `spawn` finds it.
fn queue_background_job(load: Arc<Load>) {
    let tier = load.tier(Priority::Normal);
    let notes = load.clone();
    let job = echo_std::spawn(
        async move {
            for _ in 0..JOB_SLICES {
                spin(JOB_SLICE);
                echo_std::yield_now().await;
            }
            load.jobs_done.fetch_add(1, Ordering::Relaxed);
            if !load.stop.load(Ordering::Relaxed) {
                queue_background_job(load);
            }
        },
        tier,
    );
    notes.note(&job, Role::Background);
}

async fn frame(load: Arc<Load>, submitted: Instant) {
    for _ in 0..FRAME_STEPS {
        spin(FRAME_STEP);
        echo_std::yield_now().await;
    }
    load.frame_latencies
        .lock()
        .unwrap()
        .push(submitted.elapsed());
}

/// The frame tick: an Echo interval timer, a frame spawned on each tick
/// until `end`.
async fn frame_ticker(load: Arc<Load>, end: Instant) {
    let tier = load.tier(Priority::High);
    let mut ticks = echo_std::time::interval(FRAME_PERIOD);
    loop {
        let scheduled = ticks.tick().await;
        let now = Instant::now();
        if now >= end {
            return;
        }
        load.tick_lateness.lock().unwrap().push(now - scheduled);
        let frame = echo_std::spawn(frame(load.clone(), now), tier);
        load.note(&frame, Role::Frame);
    }
}

async fn maintenance(load: Arc<Load>) {
    for _ in 0..MAINTENANCE_SLICES {
        spin(MAINTENANCE_SLICE);
        echo_std::yield_now().await;
    }
    load.maintenance_done.fetch_add(1, Ordering::Relaxed);
}

/// Writes the "document" on the blocking pool; the task only awaits.
async fn autosave(load: Arc<Load>) {
    let path = load.save_path.clone();
    let text = format!("saved at {:?}\n", Instant::now());
    let written = echo_std::spawn_blocking(move || std::fs::write(path, text)).await;
    if let Ok(Ok(())) = written {
        load.saves.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the load for `length` on a fresh pool of `workers` threads.
fn run(prioritized: bool, workers: usize, length: Duration, record: bool) -> Report {
    #[allow(unused_mut)]
    let mut builder = Scheduler::builder()
        .worker_count(workers)
        .thread_name("desktop-pool");
    #[cfg(feature = "recorder")]
    if record {
        // 32 bytes an event; a worker records about 30,000 a second here.
        builder = builder.timeline_capacity(1 << 20);
    }
    let scheduler = builder.build().expect("start the pool");
    let load = Arc::new(Load {
        prioritized,
        stop: AtomicBool::new(false),
        frame_latencies: Mutex::new(Vec::new()),
        tick_lateness: Mutex::new(Vec::new()),
        jobs_done: AtomicUsize::new(0),
        maintenance_done: AtomicUsize::new(0),
        saves: AtomicUsize::new(0),
        save_path: std::env::temp_dir().join(format!("echo-desktop-{}.txt", std::process::id())),
        roles: record.then(Mutex::default),
    });
    scheduler.block_on(async {
        for _ in 0..JOBS_PER_WORKER * workers {
            queue_background_job(load.clone());
        }
    });

    // Frames on an Echo timer; maintenance from the main thread's loop.
    let start = Instant::now();
    let end = start + length;
    let ticker = scheduler.submit(frame_ticker(load.clone(), end), load.tier(Priority::High));
    load.note(&ticker, Role::Ticker);
    let (mut next_maintenance, mut maintenance_ticks) = (start, 0u32);
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_maintenance {
            let task = maintenance(load.clone());
            let task = scheduler.submit(task, load.tier(Priority::Low));
            load.note(&task, Role::Maintenance);
            if maintenance_ticks % AUTOSAVE_EVERY == 0 {
                let task = autosave(load.clone());
                let task = scheduler.submit(task, load.tier(Priority::Low));
                load.note(&task, Role::Autosave);
            }
            maintenance_ticks += 1;
            next_maintenance += MAINTENANCE_PERIOD;
        }
        if let Some(d) = next_maintenance.checked_duration_since(Instant::now()) {
            std::thread::sleep(d.min(end.saturating_duration_since(Instant::now())));
        }
    }
    let _ = scheduler.block_on(ticker);

    // Read the counters at the end of the window, then drain and stop.
    let jobs_done = load.jobs_done.load(Ordering::Relaxed);
    let maintenance_done = load.maintenance_done.load(Ordering::Relaxed);
    let saves = load.saves.load(Ordering::Relaxed);
    let blocking_threads = scheduler.blocking_threads();
    let metrics = scheduler.metrics();
    #[cfg(feature = "recorder")]
    let recorded = load
        .roles
        .as_ref()
        .map(|roles| (scheduler.timeline(), roles.lock().unwrap().clone()));
    load.stop.store(true, Ordering::Relaxed);
    scheduler.shutdown_timeout(Duration::from_secs(2));
    let _ = std::fs::remove_file(&load.save_path);

    let mut frames = load.frame_latencies.lock().unwrap().clone();
    frames.sort();
    let mut ticks = load.tick_lateness.lock().unwrap().clone();
    ticks.sort();
    Report {
        frames,
        ticks,
        jobs_done,
        maintenance_done,
        saves,
        blocking_threads,
        metrics,
        #[cfg(feature = "recorder")]
        recorded,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn nanos_ms(nanos: u64, samples: usize) -> String {
    if samples == 0 {
        "-".into()
    } else {
        ms(Duration::from_nanos(nanos))
    }
}

/// One row of the side-by-side table.
fn row(label: &str, with: impl ToString, without: impl ToString) {
    println!(
        "| {label:<44} | {:>15} | {:>15} |",
        with.to_string(),
        without.to_string()
    );
}

/// The command line: `[seconds] [--trace FILE] [--png FILE]`.
struct Args {
    seconds: f64,
    trace: Option<std::path::PathBuf>,
    png: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        seconds: 4.0,
        trace: None,
        png: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trace" => args.trace = it.next().map(Into::into),
            "--png" => args.png = it.next().map(Into::into),
            other => match other.parse() {
                Ok(s) => args.seconds = s,
                Err(_) => {
                    eprintln!("usage: desktop [seconds per run] [--trace FILE] [--png FILE]");
                    std::process::exit(2);
                }
            },
        }
    }
    if (args.trace.is_some() || args.png.is_some()) && !cfg!(feature = "recorder") {
        eprintln!(
            "--trace and --png need the recorder: cargo run --release -p echo-std \
             --features recorder --example desktop -- ..."
        );
        std::process::exit(2);
    }
    args
}

fn main() {
    let args = args();
    let record = args.trace.is_some() || args.png.is_some();
    let seconds = args.seconds;
    let length = Duration::from_secs_f64(seconds.clamp(0.5, 14.0));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "Echo desktop demo: {workers} workers, two runs of {:.1} s with the same load:",
        length.as_secs_f64()
    );
    println!(
        "UI frames every 16 ms (4 steps of 50 µs, yielding between them), a backlog of \
         {} background jobs of 1 ms, maintenance every 50 ms, autosave every 200 ms.",
        JOBS_PER_WORKER * workers
    );
    println!();
    let with = run(true, workers, length, record);
    let without = run(false, workers, length, record);
    #[cfg(feature = "recorder")]
    write_recordings(&args, &with, &without);

    let budget = |r: &Report| {
        let late = r.frames.iter().filter(|&&d| d > FRAME_PERIOD).count();
        format!("{late} of {}", r.frames.len())
    };
    let awake = |r: &Report| {
        let busy = &r.metrics.worker_busy;
        let mean = busy.iter().sum::<f64>() / busy.len().max(1) as f64;
        format!("{:.0} %", mean * 100.0)
    };
    row("", "with priorities", "all at Normal");
    println!("|{:-<46}|{:->17}|{:->17}|", "", ":", ":");
    row(
        "UI frame latency p50 (submitted to drawn)",
        ms(percentile(&with.frames, 0.5)),
        ms(percentile(&without.frames, 0.5)),
    );
    row(
        "UI frame latency p99",
        ms(percentile(&with.frames, 0.99)),
        ms(percentile(&without.frames, 0.99)),
    );
    row(
        "UI frame latency max",
        ms(with.frames.last().copied().unwrap_or_default()),
        ms(without.frames.last().copied().unwrap_or_default()),
    );
    row(
        "frame tick lateness p50 (Echo interval)",
        ms(percentile(&with.ticks, 0.5)),
        ms(percentile(&without.ticks, 0.5)),
    );
    row(
        "frame tick lateness p99",
        ms(percentile(&with.ticks, 0.99)),
        ms(percentile(&without.ticks, 0.99)),
    );
    row(
        "UI frames over the 16 ms budget",
        budget(&with),
        budget(&without),
    );
    row(
        "background jobs done (1 ms each)",
        with.jobs_done,
        without.jobs_done,
    );
    row(
        "maintenance runs (2 ms each)",
        with.maintenance_done,
        without.maintenance_done,
    );
    row(
        "autosaves written by the blocking pool",
        with.saves,
        without.saves,
    );
    row(
        "blocking-pool threads at the end",
        with.blocking_threads,
        without.blocking_threads,
    );
    row(
        "workers awake, share of the run",
        awake(&with),
        awake(&without),
    );
    println!();
    println!(
        "All at Normal, each step of a frame queues behind the background backlog; at \
         High it waits only for the polls already running, and the background still gets \
         its share. Frame latencies are measured by the demo for every frame, from the \
         tick that spawned it; a tick's lateness is from its scheduled instant to the \
         ticker task running (a High task woken by an Echo timer, or a Normal one \
         queued behind the backlog). Background jobs, \
         maintenance and autosaves are counted at the end of the run's window. The \
         autosave's file write runs on the blocking pool, not on a worker: the pool's \
         threads are not workers and their closures are not tasks. \"Awake\" is each \
         worker's time not parked since the pool started, averaged over the workers. On a machine busy with other processes, the \
         operating system also preempts workers, and that wait shows in every figure."
    );

    println!();
    println!(
        "The scheduler's own view (scheduler.metrics()): submit-to-first-poll latency per \
         tier. It samples every High task and 1 in 64 Normal and Low tasks, and reports \
         the upper bound of a histogram bucket (within 12.5 %)."
    );
    println!();
    println!(
        "| run             | tier   | polls    | sampled | 1st poll p50 |       p99 |       max |"
    );
    println!(
        "|-----------------|--------|---------:|--------:|-------------:|----------:|----------:|"
    );
    for (name, report) in [("with priorities", &with), ("all at Normal", &without)] {
        for p in Priority::ALL {
            let t = report.metrics.tier(p);
            if t.polls == 0 {
                continue;
            }
            let l = &t.latency;
            println!(
                "| {name:<15} | {:<6} | {:>8} | {:>7} | {:>12} | {:>9} | {:>9} |",
                p.name(),
                t.polls,
                l.samples,
                nanos_ms(l.p50_nanos, l.samples),
                nanos_ms(l.p99_nanos, l.samples),
                nanos_ms(l.max_nanos, l.samples),
            );
        }
    }
}

/// Writes the runs' traces (`--trace`) and picture (`--png`).
#[cfg(feature = "recorder")]
fn write_recordings(args: &Args, with: &Report, without: &Report) {
    use echo_std::timeline::{ChromeTrace, TimelineEvent};
    let runs = [
        (
            "priorities",
            "with priorities (frames High, background Normal, maintenance Low)",
            with,
        ),
        ("all-normal", "every task at Normal", without),
    ];
    for (_, title, report) in runs {
        let (timeline, _) = report.recorded.as_ref().expect("recorded");
        let dropped: usize = timeline.workers.iter().map(|w| w.dropped).sum();
        if dropped > 0 {
            println!("({title}: the timeline was full; {dropped} events were not recorded)");
        }
    }
    if let Some(path) = &args.trace {
        for (k, (suffix, title, report)) in runs.iter().enumerate() {
            let (timeline, roles) = report.recorded.as_ref().expect("recorded");
            let mut trace = ChromeTrace::new(timeline)
                .pid(k as u32 + 1)
                .process_name(*title);
            for (&id, role) in roles {
                trace = trace.label(id, role.name());
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("trace");
            let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
            let file = path.with_file_name(format!("{stem}-{suffix}.{ext}"));
            let written = std::fs::File::create(&file).and_then(|f| trace.write(f));
            match written {
                Ok(()) => println!("wrote {} (open it in ui.perfetto.dev)", file.display()),
                Err(e) => eprintln!("could not write {}: {e}", file.display()),
            }
        }
    }
    if let Some(path) = &args.png {
        // Each frame's life: from its spawn (on the ticker's worker) to the
        // end of its last poll, from the timeline itself.
        let frames = |timeline: &echo_std::timeline::Timeline, roles: &HashMap<_, Role>| {
            let mut life: HashMap<echo_std::task::TaskId, (u64, u64)> = HashMap::new();
            for w in &timeline.workers {
                for e in &w.events {
                    match *e {
                        TimelineEvent::Spawn { task, at, .. }
                            if roles.get(&task) == Some(&Role::Frame) =>
                        {
                            life.entry(task).or_insert((at, at)).0 = at;
                        }
                        TimelineEvent::Poll {
                            task, start, nanos, ..
                        } if roles.get(&task) == Some(&Role::Frame) => {
                            let l = life.entry(task).or_insert((start, start));
                            l.1 = l.1.max(start + nanos);
                        }
                        _ => {}
                    }
                }
            }
            life.into_values().collect::<Vec<_>>()
        };
        let window = 64_000_000;
        let window_start = 1_000_000_000.min(
            (with.recorded.as_ref().map_or(0, |r| {
                r.0.workers
                    .iter()
                    .filter_map(|w| w.events.last())
                    .map(|e| e.start())
                    .max()
                    .unwrap_or(0)
                    .saturating_sub(r.0.started_nanos)
            }))
            .saturating_sub(window),
        );
        let panels: Vec<_> = runs
            .iter()
            .map(|(_, title, report)| {
                let (timeline, roles) = report.recorded.as_ref().expect("recorded");
                timeline_png::Panel {
                    title: title.to_string(),
                    timeline,
                    roles,
                    frames: frames(timeline, roles),
                    window_start,
                }
            })
            .collect();
        match timeline_png::render(path, &panels, window) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}
