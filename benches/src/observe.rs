//! What Echo's observability features cost (the `observe_cost` table of
//! `compare`): the same workload on a fresh scheduler, as it is built
//! with the features compiled in but unused, with the timeline recorder
//! recording (feature `recorder`), and with tokio-console's layer
//! listening (feature `console`). The cost of the features compiled in at
//! all is the difference to a build without them, which `compare` runs as
//! a child process (`--baseline`).
//!
//! Each run is a child process of its own (so the console layer's
//! aggregator thread, and what it retains, cannot slow the other
//! columns), which starts a fresh scheduler, runs the workload once to
//! warm it up, times one run, and stops it: every variant starts alike (a
//! recorder's buffers only fill, so they are never reused across runs).

use crate::peers::{EchoPeer, EchoSetup};
use crate::workloads::Bench;
use echo_std::SchedulerBuilder;
use std::time::{Duration, Instant};

/// How the scheduler of one run is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// As built: the features (if compiled in) unused.
    Idle,
    /// The timeline recorder recording (feature `recorder`).
    Recording,
    /// tokio-console's layer listening (feature `console`).
    Console,
}

impl Variant {
    /// The variants this build can run.
    pub fn available() -> Vec<Variant> {
        let mut v = vec![Variant::Idle];
        if cfg!(feature = "recorder") {
            v.push(Variant::Recording);
        }
        if cfg!(feature = "console") {
            v.push(Variant::Console);
        }
        v
    }

    /// The variant's name on a child's command line.
    pub fn key(self) -> &'static str {
        match self {
            Variant::Idle => "idle",
            Variant::Recording => "recording",
            Variant::Console => "console",
        }
    }

    /// The variant named `key`.
    pub fn from_key(key: &str) -> Option<Variant> {
        [Variant::Idle, Variant::Recording, Variant::Console]
            .into_iter()
            .find(|v| v.key() == key)
    }

    /// The column's title.
    pub fn title(self) -> &'static str {
        match self {
            Variant::Idle if cfg!(any(feature = "console", feature = "recorder")) => {
                "features in, unused"
            }
            Variant::Idle => "features off",
            Variant::Recording => "recorder recording",
            Variant::Console => "console listening",
        }
    }
}

/// Events a recording worker can hold: two warm runs of yield_many on one
/// worker (each poll and each self-wake is an event).
#[cfg(feature = "recorder")]
const TIMELINE_EVENTS: usize = 1 << 20;

struct Recording;

impl EchoSetup for Recording {
    const NAME: &'static str = "echo (recording)";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        #[cfg(feature = "recorder")]
        let builder = builder.timeline_capacity(TIMELINE_EVENTS);
        builder
    }
}

#[cfg(feature = "console")]
struct Console;

#[cfg(feature = "console")]
impl EchoSetup for Console {
    const NAME: &'static str = "echo (console)";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        builder.on_thread_start(|| {
            // The workers' spans and waker events go to the console layer
            // for the thread's life (this scheduler's workers only).
            std::mem::forget(tracing::dispatcher::set_default(console::dispatch()));
        })
    }
}

struct Idle;

impl EchoSetup for Idle {
    const NAME: &'static str = "echo";
    fn configure(builder: SchedulerBuilder) -> SchedulerBuilder {
        builder
    }
}

/// One timed run of `workload` on a fresh scheduler of `workers` set up
/// as `variant` says, after one untimed run.
pub fn one_run(variant: Variant, workload: &str, workers: usize) -> Duration {
    match variant {
        Variant::Idle => timed_run::<Idle>(workload, workers, |run| run()),
        Variant::Recording => timed_run::<Recording>(workload, workers, |run| run()),
        #[cfg(feature = "console")]
        Variant::Console => timed_run::<Console>(workload, workers, |run| {
            // Tasks submitted from this thread get their spans here.
            tracing::dispatcher::with_default(console::dispatch(), run)
        }),
        #[cfg(not(feature = "console"))]
        Variant::Console => panic!("built without the console feature"),
    }
}

fn timed_run<S: EchoSetup>(workload: &str, workers: usize, around: impl Fn(&dyn Fn())) -> Duration {
    let bench = Bench::<EchoPeer<S>>::start(workers);
    let run = || assert!(bench.run(workload), "unknown workload {workload}");
    around(&run);
    std::thread::sleep(Duration::from_millis(5));
    let start = Instant::now();
    around(&run);
    let took = start.elapsed();
    bench.stop();
    took
}

#[cfg(feature = "console")]
mod console {
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::OnceLock;
    use tracing::Dispatch;
    use tracing_subscriber::layer::SubscriberExt;

    /// One console layer for the process, its server running (and so its
    /// aggregator) on a thread of its own, on a free loopback port.
    pub(super) fn dispatch() -> &'static Dispatch {
        static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
        DISPATCH.get_or_init(|| {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map_or(6669, |a| a.port());
            let (layer, server) = console_subscriber::ConsoleLayer::builder()
                .server_addr((Ipv4Addr::LOCALHOST, port))
                .build();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("console server runtime");
                let _ = rt.block_on(server.serve());
            });
            Dispatch::new(tracing_subscriber::registry().with(layer))
        })
    }
}
