//! `Server`: an HTTP/1 and HTTP/2 server whose accept loop, connections
//! and HTTP/2 streams are Echo tasks, at tiers chosen per route.
//!
//! Each accepted connection is a task that starts at the server's
//! connection tier and serves HTTP/1 or HTTP/2 (told apart by the
//! preface, hyper-util's `auto` builder), with [`EchoExecutor`] for its
//! streams and [`EchoTimer`] for its timeouts; [`Tiers`] places each
//! request (see `tiers.rs`).
//!
//! Invariants:
//! - Every task the server makes (accept loop, connections, streams) is a
//!   member of its group before it runs; dropping the `Server` closes the
//!   group, which aborts them all, and later spawns by its connections
//!   are refused. So a dropped server leaves no task behind, whatever its
//!   handlers were waiting for.
//! - Aborting a connection's task drops its hyper connection, which closes
//!   the socket: the peer sees the connection end.
//! - A connection at High has its socket watched by the scheduler's High
//!   responder, if it runs one (`SchedulerBuilder::high_responder`).

use crate::context::Handle;
use crate::hyper::group::Group;
use crate::hyper::tiers::{ConnectionTier, TieredService, Tiers};
use crate::hyper::{EchoExecutor, EchoTimer};
use ::hyper::body::{Body, Incoming};
use ::hyper::service::Service;
use ::hyper::{Request, Response};
use echo_sched_core::Priority;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type BoxError = Box<dyn StdError + Send + Sync>;

/// An HTTP server on Echo: every connection and every HTTP/2 stream is an
/// Echo task, at the tier its [`Tiers`] route gives it.
///
/// Dropping it (or [`shutdown`](Server::shutdown)) cancels the accept
/// loop, every connection (their sockets close) and every request still
/// running.
///
/// ```
/// use echo_std::hyper::{Server, Tiers};
/// use echo_std::{Priority, Scheduler};
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use hyper::service::service_fn;
/// use std::convert::Infallible;
///
/// let scheduler = Scheduler::builder().worker_count(2).build()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let service = service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
///     // `/ui/...` runs at High, the rest at Normal.
///     let tier = echo_std::task::current().unwrap().priority();
///     let body = format!("{} at {tier:?}", request.uri().path());
///     Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
/// });
/// let server = Server::builder()
///     .tiers(Tiers::new(Priority::Normal).route("/ui/", Priority::High))
///     .handle(scheduler.handle())
///     .serve(listener, service)?;
///
/// // An HTTP/1.1 request from a plain socket.
/// use std::io::{Read, Write};
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET /ui/frame HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
/// let mut response = String::new();
/// client.read_to_string(&mut response)?;
/// assert!(response.ends_with("/ui/frame at High"));
/// drop(server); // cancels its tasks
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    local_addr: SocketAddr,
    group: Arc<Group>,
    connections: Arc<AtomicUsize>,
}

/// How a [`Server`] serves: its tiers and where it spawns.
#[derive(Clone, Debug, Default)]
pub struct ServerBuilder {
    connection_tier: Option<Priority>,
    tiers: Tiers,
    handle: Option<Handle>,
}

impl Server {
    /// A builder with every request at Normal.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Tasks of the server alive now: the accept loop, its connections and
    /// their HTTP/2 streams.
    pub fn tasks(&self) -> usize {
        self.group.len()
    }

    /// Stops serving: the same as dropping it.
    pub fn shutdown(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        self.group.close();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// The tier each connection starts at, and the accept loop's tier
    /// (default: the tiers' default). A connection is raised to the most
    /// urgent tier among the routes it carries.
    pub fn connection_tier(mut self, priority: Priority) -> ServerBuilder {
        self.connection_tier = Some(priority);
        self
    }

    /// Which tier serves each request (default: all at Normal).
    pub fn tiers(mut self, tiers: Tiers) -> ServerBuilder {
        self.tiers = tiers;
        self
    }

    /// Spawns on `handle`'s scheduler (default: the scheduler of the
    /// thread that calls [`serve`](ServerBuilder::serve)).
    pub fn handle(mut self, handle: Handle) -> ServerBuilder {
        self.handle = Some(handle);
        self
    }

    /// Serves `service` on `listener` until the returned [`Server`] is
    /// dropped. Any hyper service works; wrap a tower service (a tonic
    /// router, say) in `hyper_util::service::TowerToHyperService`.
    ///
    /// # Errors
    ///
    /// If the listener cannot be made non-blocking or has no address.
    ///
    /// # Panics
    ///
    /// Without a [`handle`](ServerBuilder::handle), if the calling thread
    /// belongs to no scheduler.
    pub fn serve<S, B>(self, listener: std::net::TcpListener, service: S) -> io::Result<Server>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let group = Arc::new(Group::default());
        let connections = Arc::new(AtomicUsize::new(0));
        let start = self.connection_tier.unwrap_or(self.tiers.default_tier());
        let accept = Accept {
            tiers: Arc::new(self.tiers),
            start,
            group: group.clone(),
            connections: connections.clone(),
            handle: self.handle.clone(),
        };
        group.spawn(accept.run(listener, service), start, self.handle.as_ref());
        Ok(Server {
            local_addr,
            group,
            connections,
        })
    }
}

/// The accept loop's state.
struct Accept {
    tiers: Arc<Tiers>,
    start: Priority,
    group: Arc<Group>,
    connections: Arc<AtomicUsize>,
    handle: Option<Handle>,
}

impl Accept {
    async fn run<S, B>(self, listener: std::net::TcpListener, service: S)
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        // Registered here, on a worker, with the bridge's reactor.
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // A connection reset before it was accepted, or out of
                // descriptors for a moment: the listener is still good.
                Err(_) => {
                    crate::yield_now().await;
                    continue;
                }
            };
            // Small responses leave at once rather than after Nagle's wait.
            let _ = stream.set_nodelay(true);
            let connection = serve_connection(
                stream,
                service.clone(),
                self.tiers.clone(),
                self.start,
                self.group.clone(),
                Open::new(&self.connections),
            );
            self.group
                .spawn(connection, self.start, self.handle.as_ref());
        }
    }
}

/// Serves one connection, HTTP/1 or HTTP/2, until either side ends it.
async fn serve_connection<S, B>(
    stream: tokio::net::TcpStream,
    service: S,
    tiers: Arc<Tiers>,
    start: Priority,
    group: Arc<Group>,
    _open: Open,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // Once the connection is High, the High responder (if the scheduler
    // runs one) watches its socket: readiness there then reaches it even
    // while every worker is busy. The socket outlives every call: the
    // connection's task owns it.
    #[cfg(unix)]
    let on_high: Box<dyn Fn() + Send + Sync> = {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        Box::new(move || {
            #[cfg(target_os = "linux")]
            crate::tokio_bridge::watch_high_fd(fd);
            let _ = fd;
        })
    };
    #[cfg(not(unix))]
    let on_high: Box<dyn Fn() + Send + Sync> = Box::new(|| {});
    if start == Priority::High {
        on_high();
    }
    let connection = Arc::new(ConnectionTier::new(start, on_high));
    let service = TieredService {
        inner: service,
        tiers,
        connection,
    };
    let mut builder = auto::Builder::new(EchoExecutor::for_server(group));
    builder.http1().timer(EchoTimer::new());
    builder.http2().timer(EchoTimer::new());
    // An error is the peer going away mid-request: the task just ends.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Counts an open connection while it lives.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(count: &Arc<AtomicUsize>) -> Open {
        count.fetch_add(1, Ordering::SeqCst);
        Open(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
