//! One measured run of a server workload: the server of
//! [`http_server`](crate::http_server) in a child process, loaded by wrk in
//! another, and for `http_flood` timed by a [`Probe`] on a thread of this
//! process.
//!
//! - `http_hello`: wrk's connections ask for `/hello` on the Normal
//!   listener; we keep wrk's rate and latency, and the server's CPU time
//!   over the run divided by the requests it answered in that time.
//! - `http_flood`: wrk's connections ask for `/work` on the Normal listener
//!   (the bulk load) while the probe asks for `/ui` on the High listener
//!   every [`PROBE_INTERVAL`]; we keep wrk's rate and the probe's latency.
//!   A second probe, on a thread of its own, times a
//!   [bare responder](crate::bare_responder) at the same pace: the floor
//!   that the machine itself sets under the same load.
//!
//! Every run is bounded in time: wrk stops by itself, the probe stops
//! before wrk does, and a server child that does not exit promptly when
//! told is killed.

use crate::probe::Probe;
use crate::stats::percentile;
use crate::wrk::{WrkLoad, WrkReport};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections wrk keeps busy.
pub const CONNECTIONS: usize = 64;
/// wrk's threads by default: one, so that wrk takes at most one of the
/// two CPUs of the machine the tables come from.
pub const WRK_THREADS: usize = 1;

/// How the load generator runs.
#[derive(Clone, Copy, Debug)]
pub struct LoadSettings {
    /// How long each run lasts.
    pub duration: Duration,
    /// wrk's threads.
    pub wrk_threads: usize,
}
/// The pause between two probe requests.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// How long after wrk starts the probe starts, and how long before wrk
/// ends it stops: it measures the flood, not its ramp.
pub const PROBE_MARGIN: Duration = Duration::from_millis(300);

/// Which server to run: a compare binary (this one, or another build of
/// it) and the runtime it should serve on.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The compare binary that serves with `--child server`.
    pub exe: PathBuf,
    /// `echo` or `tokio`.
    pub peer: String,
    /// Worker threads.
    pub workers: usize,
}

/// What the server used between `start` and `stop`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerUsage {
    /// CPU time of all its threads.
    pub cpu: Duration,
    /// CPU time of the tokio bridge's driver thread (part of `cpu`).
    pub driver_cpu: Duration,
    /// Requests it answered.
    pub requests: u64,
    /// Wall time between `start` and `stop`.
    pub wall: Duration,
}

impl ServerUsage {
    /// CPU time per request answered.
    pub fn cpu_per_request(&self) -> Duration {
        self.cpu / (self.requests.max(1) as u32)
    }

    /// The driver thread's share of [`cpu_per_request`](Self::cpu_per_request).
    pub fn driver_per_request(&self) -> Duration {
        self.driver_cpu / (self.requests.max(1) as u32)
    }

    /// How many CPUs the server kept busy on average: on a shared machine,
    /// a server that got less CPU than its peer answers fewer requests for
    /// that reason alone.
    pub fn cpus(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A server child process.
pub struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    counting_since: Instant,
    /// The port of the listener whose connections run at Normal.
    pub normal_port: u16,
    /// The port of the listener whose connections run at High.
    pub high_port: u16,
}

impl ServerProcess {
    /// Starts the server and waits until it accepts connections.
    pub fn start(spec: &ServerSpec) -> io::Result<ServerProcess> {
        let mut child = Command::new(&spec.exe)
            .args(["--child", "server", "--peer", &spec.peer])
            .args(["--workers", &spec.workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut server = ServerProcess {
            child,
            stdin,
            stdout,
            counting_since: Instant::now(),
            normal_port: 0,
            high_port: 0,
        };
        let line = server.read_line()?;
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["ready", normal, high] => {
                server.normal_port = normal.parse().map_err(io::Error::other)?;
                server.high_port = high.parse().map_err(io::Error::other)?;
                Ok(server)
            }
            _ => Err(io::Error::other(format!("server said {line:?}"))),
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("server exited"));
        }
        Ok(line)
    }

    /// The address of the Normal (`high == false`) or High listener.
    pub fn addr(&self, high: bool) -> SocketAddr {
        let port = if high {
            self.high_port
        } else {
            self.normal_port
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Starts counting CPU time and requests.
    pub fn start_counting(&mut self) -> io::Result<()> {
        writeln!(self.stdin, "start")?;
        self.stdin.flush()?;
        self.counting_since = Instant::now();
        Ok(())
    }

    /// Stops the server; what it used since
    /// [`start_counting`](Self::start_counting).
    pub fn stop(mut self) -> io::Result<ServerUsage> {
        writeln!(self.stdin, "stop")?;
        self.stdin.flush()?;
        let wall = self.counting_since.elapsed();
        let line = self.read_line()?;
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [cpu, driver, requests] = n[..] else {
            return Err(io::Error::other(format!("server said {line:?}")));
        };
        Ok(ServerUsage {
            cpu: Duration::from_nanos(cpu),
            driver_cpu: Duration::from_nanos(driver),
            requests,
            wall,
        })
    }
}

impl Drop for ServerProcess {
    /// Gives the child a moment to exit by itself, then kills it.
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `http_hello` run.
#[derive(Clone, Copy, Debug)]
pub struct HelloRun {
    /// What wrk saw.
    pub wrk: WrkReport,
    /// What the server used.
    pub usage: ServerUsage,
}

/// Runs `http_hello`.
pub fn hello_run(spec: &ServerSpec, load: LoadSettings) -> io::Result<HelloRun> {
    let LoadSettings {
        duration,
        wrk_threads,
    } = load;
    let mut server = ServerProcess::start(spec)?;
    let load = WrkLoad {
        url: format!("http://{}/hello", server.addr(false)),
        connections: CONNECTIONS,
        threads: wrk_threads,
        duration,
    };
    server.start_counting()?;
    let wrk = load.run()?;
    let usage = server.stop()?;
    Ok(HelloRun { wrk, usage })
}

/// The probe's latency percentiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeLatency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Requests timed.
    pub count: usize,
}

/// One `http_flood` run.
#[derive(Clone, Copy, Debug)]
pub struct FloodRun {
    /// What wrk saw of the bulk `/work` requests.
    pub bulk: WrkReport,
    /// The `/ui` probe on the High listener, at a fixed rate.
    pub ui: ProbeLatency,
    /// The same probe against a bare responder thread (the OS floor).
    pub floor: ProbeLatency,
    /// The `/ui` probe in a closed loop (the next request as soon as the
    /// last answer arrives), after the fixed-rate phase.
    pub ui_closed: ProbeLatency,
    /// The floor's probe in a closed loop, after the server's.
    pub floor_closed: ProbeLatency,
    /// What the server used (its requests include the probe's).
    pub usage: ServerUsage,
}

/// Runs `http_flood` (for at least a second).
pub fn flood_run(spec: &ServerSpec, load: LoadSettings) -> io::Result<FloodRun> {
    let duration = load.duration.max(Duration::from_secs(1));
    let wrk_threads = load.wrk_threads;
    let mut server = ServerProcess::start(spec)?;
    // Connected before the flood, as a user's session would be.
    let mut probe = Probe::connect(server.addr(true), "/ui")?;
    let mut floor_probe = Probe::connect(crate::bare_responder::start()?, "/ui")?;
    let load = WrkLoad {
        url: format!("http://{}/work", server.addr(false)),
        connections: CONNECTIONS,
        threads: wrk_threads,
        duration,
    };
    server.start_counting()?;
    let wrk = load.start()?;
    std::thread::sleep(PROBE_MARGIN);
    // Half the span at a fixed rate (both probes), then a quarter in a
    // closed loop for each.
    let span = (duration - 2 * PROBE_MARGIN) / 2;
    // Half an interval out of phase, so the two probes do not ask at once.
    let floor = std::thread::spawn(move || {
        std::thread::sleep(PROBE_INTERVAL / 2);
        let times = floor_probe.time_requests(PROBE_INTERVAL, span);
        (floor_probe, times)
    });
    let times = probe.time_requests(PROBE_INTERVAL, span);
    let (mut floor_probe, floor_times) = floor
        .join()
        .map_err(|_| io::Error::other("the floor probe panicked"))?;
    let ui_closed = probe.time_requests(Duration::ZERO, span / 2);
    let floor_closed = floor_probe.time_requests(Duration::ZERO, span / 2);
    let bulk = WrkLoad::finish(wrk)?;
    drop(probe);
    let usage = server.stop()?;
    Ok(FloodRun {
        bulk,
        ui: probe_latency(times?),
        floor: probe_latency(floor_times?),
        ui_closed: probe_latency(ui_closed?),
        floor_closed: probe_latency(floor_closed?),
        usage,
    })
}

/// Percentiles of a probe's request times.
fn probe_latency(mut times: Vec<Duration>) -> ProbeLatency {
    ProbeLatency {
        p50: percentile(&mut times, 0.5),
        p90: percentile(&mut times, 0.9),
        p99: percentile(&mut times, 0.99),
        count: times.len(),
    }
}
