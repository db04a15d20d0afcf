//! The gRPC workloads: the `echo-grpc` services (`ui.Ui/Frame`, unary and
//! empty; `bulk.Bulk/Work`, unary, burning CPU) served in a child process
//! by Echo (with `ui.Ui` at High and `bulk.Bulk` at Low) or by plain tonic
//! on tokio's multi-thread runtime, and loaded by a tonic client in a
//! second child process of its own.
//!
//! Echo's scheduler runs a High responder (`high_responder(true)`): the
//! UI connection, raised to High by its first `Frame` call, is watched.
//!
//! - `grpc_unary`: idle; the client calls `Frame` at a fixed rate (one
//!   call, then a pause of [`INTERVAL`]) and times each round trip.
//! - `grpc_flood`: the client keeps [`STREAMS`] `Work` calls of
//!   [`WORK_CPU`] in flight on one connection (each call an HTTP/2
//!   stream), and meanwhile probes `Frame` on a connection of its own:
//!   first at a fixed rate, then in a closed loop (the next call as soon
//!   as the last returns).
//!
//! The OS floor: the server process also runs a bare thread, a tokio
//! current-thread runtime serving `ui.Ui` on a socket of its own and
//! nothing else, which the client probes the same ways under the same
//! load (at a fixed rate alongside the server's probe, half an interval
//! out of phase; in a closed loop after it). Its latency is what the
//! machine gives any server thread that was asleep when the call came.
//!
//! Processes speak lines on their standard streams: the server prints
//! `ready PORT FLOOR_PORT`, then on `stop` prints `CPU_NS` and exits; the
//! client prints one line per probe series and one for the flood (see
//! [`ClientReport`]).

use crate::stats::percentile;
use echo_grpc::bulk::bulk_client::BulkClient;
use echo_grpc::bulk::bulk_server::BulkServer;
use echo_grpc::proto::{FrameRequest, WorkRequest};
use echo_grpc::ui::ui_client::UiClient;
use echo_grpc::ui::ui_server::UiServer;
use echo_grpc::{BulkService, UiService};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

/// `Work` calls the flood keeps in flight.
pub const STREAMS: usize = 64;
/// CPU burnt by each `Work` call.
pub const WORK_CPU: Duration = Duration::from_micros(50);
/// The fixed-rate probe's pause between a reply and the next call.
pub const INTERVAL: Duration = Duration::from_millis(1);
/// Skipped at the start of a run (the flood's ramp) and left at its end.
const MARGIN: Duration = Duration::from_millis(300);

/// A server child: which compare binary, which runtime, how many workers.
#[derive(Clone, Debug)]
pub struct GrpcServerSpec {
    /// The compare binary (serves with `--child grpc-server`).
    pub exe: PathBuf,
    /// `echo` or `tokio`.
    pub peer: String,
    /// Worker threads.
    pub workers: usize,
}

/// The server child's main: serves until `stop` (or the end of input).
pub fn serve_child(peer: &str, workers: usize) -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let floor_port = start_floor()?;
    // Keep whichever runtime serves alive until `stop`.
    let _keep: Box<dyn std::any::Any> = match peer {
        "echo" => {
            let scheduler = echo_std::Scheduler::builder()
                .worker_count(workers)
                .thread_name("echo-grpc")
                // The UI connection, once High, is watched by it (set
                // ECHO_BENCH_NO_RESPONDER to measure without it).
                .high_responder(std::env::var_os("ECHO_BENCH_NO_RESPONDER").is_none())
                .build()
                .map_err(io::Error::other)?;
            let server = echo_grpc::serve(listener, scheduler.handle())?;
            Box::new((server, scheduler))
        }
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?;
            listener.set_nonblocking(true)?;
            runtime.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .tcp_nodelay(true)
                    .add_service(UiServer::new(UiService))
                    .add_service(BulkServer::new(BulkService))
                    .serve_with_incoming(incoming)
                    .await;
            });
            Box::new(runtime)
        }
        other => return Err(io::Error::other(format!("unknown peer {other}"))),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "ready {port} {floor_port}")?;
    out.flush()?;
    let mut since = Duration::ZERO;
    for line in io::stdin().lock().lines() {
        let now = crate::sys::cpu_time().unwrap_or_default();
        match line?.trim() {
            "start" => since = now,
            "stop" => {
                writeln!(out, "{}", now.saturating_sub(since).as_nanos())?;
                out.flush()?;
                break;
            }
            other => return Err(io::Error::other(format!("unknown command {other:?}"))),
        }
    }
    Ok(())
}

/// The floor: a bare thread with a current-thread tokio runtime serving
/// `ui.Ui` alone; returns its port.
fn start_floor() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("grpc-floor".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("floor runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .tcp_nodelay(true)
                    .add_service(UiServer::new(UiService))
                    .serve_with_incoming(incoming)
                    .await;
            });
        })?;
    Ok(port)
}

/// A running server child.
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    floor: SocketAddr,
    counting_since: Instant,
}

impl ServerProcess {
    fn start(spec: &GrpcServerSpec) -> io::Result<ServerProcess> {
        let mut child = Command::new(&spec.exe)
            .args(["--child", "grpc-server", "--peer", &spec.peer])
            .args(["--workers", &spec.workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let ports: Vec<u16> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse().ok())
            .collect();
        let [port, floor] = ports[..] else {
            let _ = child.kill();
            return Err(io::Error::other(format!("grpc server said {line:?}")));
        };
        Ok(ServerProcess {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            floor: SocketAddr::from(([127, 0, 0, 1], floor)),
            counting_since: Instant::now(),
        })
    }

    fn start_counting(&mut self) -> io::Result<()> {
        writeln!(self.stdin, "start")?;
        self.stdin.flush()?;
        self.counting_since = Instant::now();
        Ok(())
    }

    /// Stops it; the CPUs it kept busy since `start_counting`.
    fn stop(mut self) -> io::Result<f64> {
        writeln!(self.stdin, "stop")?;
        self.stdin.flush()?;
        let wall = self.counting_since.elapsed();
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let cpu: u64 = line
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("grpc server said {line:?}")))?;
        Ok(Duration::from_nanos(cpu).as_secs_f64() / wall.as_secs_f64().max(1e-9))
    }
}

impl Drop for ServerProcess {
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

/// A probe series' percentiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Calls timed.
    pub count: usize,
}

impl Probe {
    fn of(mut times: Vec<Duration>) -> Probe {
        Probe {
            p50: percentile(&mut times, 0.5),
            p90: percentile(&mut times, 0.9),
            p99: percentile(&mut times, 0.99),
            count: times.len(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.p50.as_nanos(),
            self.p90.as_nanos(),
            self.p99.as_nanos(),
            self.count
        )
    }

    fn parse(words: &[&str]) -> Option<Probe> {
        let n: Vec<u64> = words.iter().filter_map(|w| w.parse().ok()).collect();
        let [p50, p90, p99, count] = n[..] else {
            return None;
        };
        Some(Probe {
            p50: Duration::from_nanos(p50),
            p90: Duration::from_nanos(p90),
            p99: Duration::from_nanos(p99),
            count: count as usize,
        })
    }
}

/// What the client child measured in one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientReport {
    /// `Frame` on the server at a fixed rate.
    pub fixed: Probe,
    /// `Frame` on the floor at a fixed rate, alongside.
    pub floor_fixed: Probe,
    /// `Frame` on the server in a closed loop (flood runs only).
    pub closed: Probe,
    /// `Frame` on the floor in a closed loop (flood runs only).
    pub floor_closed: Probe,
    /// `Work` calls completed per second (flood runs only).
    pub bulk_per_sec: f64,
}

/// One run: the server, the client process, and the server's CPUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcRun {
    /// What the client saw.
    pub client: ClientReport,
    /// CPUs the server process kept busy.
    pub cpus: f64,
}

/// Runs one `grpc_unary` (`flood == false`) or `grpc_flood` run of
/// `duration` (at least 2 s).
pub fn run(spec: &GrpcServerSpec, flood: bool, duration: Duration) -> io::Result<GrpcRun> {
    let duration = duration.max(Duration::from_secs(2));
    let mut server = ServerProcess::start(spec)?;
    server.start_counting()?;
    let out = Command::new(&spec.exe)
        .args(["--child", "grpc-client"])
        .args(["--grpc-addr", &server.addr.to_string()])
        .args(["--grpc-floor", &server.floor.to_string()])
        .args(["--grpc-flood", if flood { "1" } else { "0" }])
        .args(["--server-secs", &duration.as_secs().to_string()])
        .stdin(Stdio::null())
        .output()?;
    let cpus = server.stop()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "grpc client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut report = ClientReport::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let probe = || Probe::parse(&words[1..]).ok_or_else(|| io::Error::other(line.to_owned()));
        match words.first() {
            Some(&"fixed") => report.fixed = probe()?,
            Some(&"floor_fixed") => report.floor_fixed = probe()?,
            Some(&"closed") => report.closed = probe()?,
            Some(&"floor_closed") => report.floor_closed = probe()?,
            Some(&"bulk") => {
                report.bulk_per_sec = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0.0)
            }
            _ => {}
        }
    }
    Ok(GrpcRun {
        client: report,
        cpus,
    })
}

/// A current-thread tokio runtime for one client thread.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

async fn channel(addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await
}

/// Times `Frame` calls to `addr` on a thread of its own, for `span` after
/// `delay`: a pause of `pause` after each reply, or none (closed loop).
fn probe_thread(
    addr: SocketAddr,
    delay: Duration,
    span: Duration,
    pause: Option<Duration>,
) -> std::thread::JoinHandle<Result<Vec<Duration>, String>> {
    std::thread::spawn(move || {
        let runtime = client_runtime();
        let mut ui = UiClient::new(runtime.block_on(channel(addr)).map_err(|e| e.to_string())?);
        // One call first, so the connection is warm.
        runtime
            .block_on(ui.frame(FrameRequest { seq: 0 }))
            .map_err(|e| e.to_string())?;
        std::thread::sleep(delay);
        let end = Instant::now() + span;
        let mut times = Vec::new();
        while Instant::now() < end {
            let sent = Instant::now();
            runtime
                .block_on(ui.frame(FrameRequest { seq: 1 }))
                .map_err(|e| e.to_string())?;
            times.push(sent.elapsed());
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        }
        Ok(times)
    })
}

/// The client child's main: prints the lines [`run`] reads.
pub fn client_child(addr: SocketAddr, floor: SocketAddr, flood: bool, secs: u64) -> io::Result<()> {
    let duration = Duration::from_secs(secs.max(2));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let flood_thread = flood.then(|| {
        let (stop, done) = (stop.clone(), done.clone());
        std::thread::spawn(move || {
            let runtime = client_runtime();
            runtime.block_on(async move {
                let channel = channel(addr).await.expect("flood connection");
                let calls: Vec<_> = (0..STREAMS)
                    .map(|_| {
                        let mut bulk = BulkClient::new(channel.clone());
                        let (stop, done) = (stop.clone(), done.clone());
                        tokio::spawn(async move {
                            let micros = WORK_CPU.as_micros() as u32;
                            while !stop.load(Ordering::Relaxed) {
                                if bulk.work(WorkRequest { seq: 0, micros }).await.is_err() {
                                    break;
                                }
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for call in calls {
                    let _ = call.await;
                }
            });
        })
    });
    let body = duration - 2 * MARGIN;
    // Fixed rate for half the run, then each closed loop for a quarter.
    let (fixed_span, closed_span) = if flood {
        (body / 2, body / 4)
    } else {
        (body, Duration::ZERO)
    };
    let start = Instant::now();
    let fixed = probe_thread(addr, MARGIN, fixed_span, Some(INTERVAL));
    let floor_fixed = probe_thread(floor, MARGIN + INTERVAL / 2, fixed_span, Some(INTERVAL));
    let join = |t: std::thread::JoinHandle<Result<Vec<Duration>, String>>| {
        t.join()
            .map_err(|_| io::Error::other("probe panicked"))?
            .map_err(io::Error::other)
            .map(Probe::of)
    };
    // The flood's rate over the probes' whole span.
    std::thread::sleep(MARGIN.saturating_sub(start.elapsed()));
    let bulk_from = (Instant::now(), done.load(Ordering::Relaxed));
    let mut out = io::stdout().lock();
    writeln!(out, "fixed {}", join(fixed)?.line())?;
    writeln!(out, "floor_fixed {}", join(floor_fixed)?.line())?;
    if flood {
        let closed = join(probe_thread(addr, Duration::ZERO, closed_span, None))?;
        let floor_closed = join(probe_thread(floor, Duration::ZERO, closed_span, None))?;
        let bulk = (done.load(Ordering::Relaxed) - bulk_from.1) as f64
            / bulk_from.0.elapsed().as_secs_f64();
        writeln!(out, "closed {}", closed.line())?;
        writeln!(out, "floor_closed {}", floor_closed.line())?;
        writeln!(out, "bulk {bulk:.1}")?;
        stop.store(true, Ordering::Relaxed);
    }
    out.flush()?;
    drop(out);
    // The flood's calls end with the next reply; don't wait for them.
    drop(flood_thread);
    Ok(())
}
