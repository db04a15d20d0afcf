//! hyper 1.x on Echo's tiers (feature `hyper`).
//!
//! - [`EchoExecutor`] is hyper's `Executor`: each future hyper spawns (an
//!   HTTP/2 stream, a client connection, an upgrade) becomes an Echo task
//!   at the tier the app chose, e.g. `EchoExecutor::new(Priority::High)`.
//!   tonic's client takes it through `Endpoint::executor`.
//! - [`EchoTimer`] is hyper's `Timer`, on Echo's own timers.
//! - [`Server`] serves any hyper service (a tonic router through
//!   `hyper_util::service::TowerToHyperService`) over HTTP/1 and HTTP/2,
//!   each connection and each HTTP/2 stream an Echo task, at the tier
//!   [`Tiers`] gives its route: a gRPC "UI" service at High beside a
//!   "bulk" one at Low, on one connection if the client wants.
//!
//! The sockets are tokio's, through the [tokio bridge](crate::tokio_bridge)
//! (the feature implies `tokio`): use `hyper_util::rt::TokioIo` around a
//! `tokio::net::TcpStream` for clients.
//!
//! What differs from tonic's own server: tonic's `Server::serve` spawns
//! each connection with `tokio::spawn`, which inside Echo runs on the
//! bridge's runtime, without tiers. Serving the same router through
//! [`Server`] makes each RPC an Echo task at its method's tier.
//!
//! ```
//! use echo_std::hyper::{EchoExecutor, EchoTimer, Server, Tiers};
//! use echo_std::{Priority, Scheduler};
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::body::Bytes;
//! use hyper::service::service_fn;
//! use hyper_util::rt::TokioIo;
//! use std::convert::Infallible;
//!
//! let scheduler = Scheduler::builder().worker_count(2).build()?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let server = Server::builder()
//!     .tiers(Tiers::new(Priority::Low).route("/ui", Priority::High))
//!     .handle(scheduler.handle())
//!     .serve(listener, service_fn(|_request| async {
//!         let tier = echo_std::task::current().unwrap().priority();
//!         Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(format!("{tier:?}")))))
//!     }))?;
//! let addr = server.local_addr();
//!
//! // An HTTP/2 client on Echo: its connection is a High task.
//! let body = scheduler.block_on(async move {
//!     let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await?);
//!     let (mut sender, connection) = hyper::client::conn::http2::Builder::new(EchoExecutor::new(Priority::High))
//!         .timer(EchoTimer::new())
//!         .handshake(io)
//!         .await?;
//!     echo_std::spawn(connection, Priority::High);
//!     let mut tiers = Vec::new();
//!     for path in ["/ui/frame", "/index"] {
//!         let request = hyper::Request::get(format!("http://{addr}{path}")).body(Empty::<Bytes>::new())?;
//!         let response = sender.send_request(request).await?;
//!         tiers.push(response.into_body().collect().await?.to_bytes());
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(tiers)
//! }).unwrap();
//! assert_eq!(body, ["High", "Low"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod executor;
mod group;
mod server;
mod tiers;
mod timer;

pub use executor::EchoExecutor;
pub use server::{Server, ServerBuilder};
pub use tiers::Tiers;
pub use timer::EchoTimer;
