//! The HTTP/1.1 server of the `http_hello` and `http_flood` workloads:
//! hyper on tokio sockets, one task per connection, on Echo (through the
//! tokio bridge) or on tokio's multi-thread runtime.
//!
//! The server has two listeners. A connection accepted on the *normal*
//! listener is served by a task at [`Priority::Normal`], one accepted on the
//! *high* listener by a task at [`Priority::High`]; tokio has no tiers, so
//! there both listeners are equal. Routes:
//!
//! - `/hello`: a short body, nothing else (the request/response workload);
//! - `/ui`: the same, for the High probe;
//! - `/work`: burns [`WORK_CPU`] of CPU before answering (the bulk load);
//! - `/priority`: the Echo priority of the task serving the connection
//!   (`none` off Echo), so that tests can see which tier a listener feeds.
//!
//! The `compare` binary runs the server in a child process of its own
//! ([`serve_child`]), so that the server's CPU time can be read apart from
//! the load generator's. The child speaks a line protocol on its standard
//! input and output:
//!
//! 1. it prints `ready NORMAL_PORT HIGH_PORT` once both listeners accept;
//! 2. on `start` it notes its CPU time and the requests served so far;
//! 3. on `stop` it prints `CPU_NS DRIVER_NS REQUESTS`, each counted since
//!    `start`, and exits. `DRIVER_NS` is the CPU time of the tokio bridge's
//!    driver thread, if the runtime has one (0 otherwise).

use crate::sys;
use crate::workloads::spin;
use echo_std::{Priority, Scheduler};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io::{self, BufRead, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// CPU burnt by each `/work` request.
pub const WORK_CPU: Duration = Duration::from_micros(50);

/// The prefix of the Echo server's thread names. The bridge's driver
/// thread is `echo-srv-tokio`, short enough to survive Linux's 15-byte
/// thread names whole.
const ECHO_THREADS: &str = "echo-srv";

/// A runtime the server can run on.
pub trait ServerRuntime: Sized + 'static {
    /// The runtime's name, as `--peer` spells it.
    const NAME: &'static str;
    /// Starts the runtime with `workers` worker threads.
    fn start(workers: usize) -> io::Result<Self>;
    /// Runs `f` as a detached task, from a thread outside the runtime.
    fn submit<F>(&self, f: F, priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static;
    /// Runs `f` as a detached task, from inside one of the runtime's tasks,
    /// with the runtime's own spawn. Runtimes without tiers ignore
    /// `priority`.
    fn spawn<F>(f: F, priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static;
    /// CPU time of the threads the runtime runs besides its workers to
    /// drive tokio's reactor and timers, if it has such threads.
    fn driver_cpu() -> Duration;
    /// Called on a connection accepted by the High listener, inside the
    /// runtime: Echo's High responder watches its socket.
    fn watch_high(_stream: &tokio::net::TcpStream) {}
}

/// Echo with its default tokio bridge.
pub struct EchoServer(Scheduler);

/// tokio's multi-thread runtime, `worker_threads(W)`, drivers enabled.
pub struct TokioServer(tokio::runtime::Runtime);

impl ServerRuntime for EchoServer {
    const NAME: &'static str = "echo";

    fn start(workers: usize) -> io::Result<Self> {
        let scheduler = Scheduler::builder()
            .worker_count(workers)
            .thread_name(ECHO_THREADS)
            // Readiness on the High listener's connections reaches them
            // even while every worker is busy with the flood. Set
            // ECHO_BENCH_NO_RESPONDER to measure without it (the README's
            // A/B runs a wrapper that sets it as `--baseline`).
            .high_responder(std::env::var_os("ECHO_BENCH_NO_RESPONDER").is_none())
            .build()
            .map_err(io::Error::other)?;
        Ok(EchoServer(scheduler))
    }

    fn submit<F>(&self, f: F, priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.submit(f, priority));
    }

    fn spawn<F>(f: F, priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(echo_std::spawn(f, priority));
    }

    fn watch_high(stream: &tokio::net::TcpStream) {
        echo_std::tokio_bridge::watch_high(stream);
    }

    fn driver_cpu() -> Duration {
        let driver = format!("{ECHO_THREADS}-tokio");
        sys::thread_cpu_times()
            .into_iter()
            .filter(|(name, _)| *name == driver)
            .map(|(_, t)| t)
            .sum()
    }
}

impl ServerRuntime for TokioServer {
    const NAME: &'static str = "tokio";

    fn start(workers: usize) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?;
        Ok(TokioServer(runtime))
    }

    fn submit<F>(&self, f: F, _priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(f));
    }

    fn spawn<F>(f: F, _priority: Priority)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(f));
    }

    fn driver_cpu() -> Duration {
        // The workers drive the reactor themselves.
        Duration::ZERO
    }
}

/// A running server: its runtime, its ports and its request count.
pub struct HttpServer<R> {
    runtime: R,
    requests: Arc<AtomicU64>,
    /// The port of the listener whose connections run at Normal.
    pub normal_port: u16,
    /// The port of the listener whose connections run at High.
    pub high_port: u16,
}

impl<R: ServerRuntime> HttpServer<R> {
    /// Starts the runtime with `workers` workers and both listeners, on
    /// ports of 127.0.0.1 that the system picks.
    pub fn start(workers: usize) -> io::Result<Self> {
        let normal = TcpListener::bind("127.0.0.1:0")?;
        let high = TcpListener::bind("127.0.0.1:0")?;
        let (normal_port, high_port) = (normal.local_addr()?.port(), high.local_addr()?.port());
        let runtime = R::start(workers)?;
        let requests = Arc::new(AtomicU64::new(0));
        for (listener, priority) in [(normal, Priority::Normal), (high, Priority::High)] {
            listener.set_nonblocking(true)?;
            runtime.submit(
                accept_loop::<R>(listener, priority, requests.clone()),
                priority,
            );
        }
        Ok(HttpServer {
            runtime,
            requests,
            normal_port,
            high_port,
        })
    }

    /// Requests answered so far, on both listeners.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }
}

/// Accepts connections until the runtime stops; each one becomes a task at
/// `priority`.
async fn accept_loop<R: ServerRuntime>(
    listener: TcpListener,
    priority: Priority,
    requests: Arc<AtomicU64>,
) {
    // Registered here, inside the runtime's context: a tokio listener binds
    // to the reactor of the thread that creates it.
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener registration");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Small responses go out at once rather than waiting for
                // Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                if priority == Priority::High {
                    R::watch_high(&stream);
                }
                R::spawn(serve_connection(stream, requests.clone()), priority);
            }
            // Such as a connection reset before it was accepted: the
            // listener itself is still good.
            Err(_) => continue,
        }
    }
}

/// Serves one keep-alive connection until the peer closes it.
async fn serve_connection(stream: tokio::net::TcpStream, requests: Arc<AtomicU64>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let requests = requests.clone();
        async move {
            let response = respond(request.uri().path());
            requests.fetch_add(1, Relaxed);
            Ok::<_, Infallible>(response)
        }
    });
    // An error here is the client going away mid-request (wrk cuts its
    // connections when its time is up): nothing to do but end the task.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The response to a request for `path`.
pub fn respond(path: &str) -> Response<Full<Bytes>> {
    let body: &'static [u8] = match path {
        "/priority" => {
            let tier = echo_std::task::current().map(|t| format!("{:?}", t.priority()));
            let body = Bytes::from(tier.unwrap_or_else(|| "none".into()));
            return Response::new(Full::new(body));
        }
        "/hello" => b"Hello, world!",
        "/ui" => b"ui",
        "/work" => {
            spin(WORK_CPU);
            b"done"
        }
        _ => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not found")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
    };
    Response::new(Full::new(Bytes::from_static(body)))
}

/// The server child's main: runs the server on `R` with `workers` workers
/// and speaks the line protocol of the module docs until `stop` or the end
/// of its input.
pub fn serve_child<R: ServerRuntime>(workers: usize) -> io::Result<()> {
    let server = HttpServer::<R>::start(workers)?;
    let mut out = io::stdout().lock();
    writeln!(out, "ready {} {}", server.normal_port, server.high_port)?;
    out.flush()?;
    let mut since = (Duration::ZERO, Duration::ZERO, 0);
    for line in io::stdin().lock().lines() {
        let now = (
            sys::cpu_time().unwrap_or_default(),
            R::driver_cpu(),
            server.requests(),
        );
        match line?.trim() {
            "start" => since = now,
            "stop" => {
                writeln!(
                    out,
                    "{} {} {}",
                    (now.0.saturating_sub(since.0)).as_nanos(),
                    (now.1.saturating_sub(since.1)).as_nanos(),
                    now.2 - since.2
                )?;
                out.flush()?;
                break;
            }
            other => return Err(io::Error::other(format!("unknown command {other:?}"))),
        }
    }
    // Connections still open when the parent says stop are its business;
    // the process exits without waiting for them.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use std::net::SocketAddr;

    /// Asks `server` for `path` on the Normal or High listener.
    fn get<R: ServerRuntime>(server: &HttpServer<R>, high: bool, path: &str) -> (u16, String) {
        let port = if high {
            server.high_port
        } else {
            server.normal_port
        };
        let mut probe = Probe::connect(SocketAddr::from(([127, 0, 0, 1], port)), path).unwrap();
        let (status, body) = probe.get().unwrap();
        (status, String::from_utf8(body).unwrap())
    }

    fn routes_answer<R: ServerRuntime>() -> HttpServer<R> {
        let server = HttpServer::<R>::start(2).unwrap();
        assert_eq!(get(&server, false, "/hello"), (200, "Hello, world!".into()));
        assert_eq!(get(&server, true, "/ui"), (200, "ui".into()));
        assert_eq!(get(&server, false, "/work"), (200, "done".into()));
        assert_eq!(get(&server, true, "/nope"), (404, "not found".into()));
        assert_eq!(server.requests(), 4);
        server
    }

    #[test]
    fn echo_serves_each_listener_at_its_tier() {
        let server = routes_answer::<EchoServer>();
        assert_eq!(get(&server, true, "/priority"), (200, "High".into()));
        assert_eq!(get(&server, false, "/priority"), (200, "Normal".into()));
        server.runtime().0.shutdown();
    }

    #[test]
    fn tokio_serves_both_listeners_alike() {
        let server = routes_answer::<TokioServer>();
        assert_eq!(get(&server, true, "/priority"), (200, "none".into()));
        assert_eq!(get(&server, false, "/priority"), (200, "none".into()));
    }

    #[test]
    fn keep_alive_connections_serve_many_requests() {
        let server = HttpServer::<EchoServer>::start(1).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], server.normal_port));
        let mut probe = Probe::connect(addr, "/hello").unwrap();
        for _ in 0..100 {
            assert_eq!(probe.get().unwrap().0, 200);
        }
        assert_eq!(server.requests(), 100);
        server.runtime().0.shutdown();
    }
}
