//! gRPC on Echo's tiers: two tonic services, `ui.Ui` (one unary method,
//! `Frame`) and `bulk.Bulk` (one method of each RPC kind: `Work`, `Count`,
//! `Sum`, `Echo`), served by [`echo_std::hyper::Server`] with `ui.Ui` at
//! High and `bulk.Bulk` at Low, and a tonic client on Echo through
//! `Endpoint::executor`.
//!
//! The `grpc` example, the tests and the `compare` benchmark's gRPC
//! tables use them. The messages are derived by hand ([`proto`]) and the
//! service code is generated from Rust descriptions (`build.rs`), so
//! building needs no `protoc`.

pub mod proto;
mod services;

pub use services::{BulkService, UiService, spin, work_counters};

/// The code tonic generates for `ui.Ui`: `ui_client::UiClient`,
/// `ui_server::{Ui, UiServer}`.
pub mod ui {
    include!(concat!(env!("OUT_DIR"), "/ui.Ui.rs"));
}

/// The code tonic generates for `bulk.Bulk`: `bulk_client::BulkClient`,
/// `bulk_server::{Bulk, BulkServer}`.
pub mod bulk {
    include!(concat!(env!("OUT_DIR"), "/bulk.Bulk.rs"));
}

use echo_std::Priority;
use echo_std::hyper::{EchoExecutor, Server, Tiers};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};

/// The tiers of the two services: `ui.Ui` at High, `bulk.Bulk` at Low,
/// anything else at Normal.
pub fn tiers() -> Tiers {
    Tiers::new(Priority::Normal)
        .route("/ui.Ui/", Priority::High)
        .route("/bulk.Bulk/", Priority::Low)
}

/// Both services behind one tonic router.
pub fn routes() -> Routes {
    Routes::new(ui::ui_server::UiServer::new(UiService))
        .add_service(bulk::bulk_server::BulkServer::new(BulkService))
        .prepare()
}

/// Serves both services on `listener` with Echo's tiers ([`tiers`]),
/// spawning on `handle`'s scheduler. Dropping the server cancels its
/// connections and RPCs.
pub fn serve(listener: std::net::TcpListener, handle: echo_std::Handle) -> std::io::Result<Server> {
    Server::builder()
        .tiers(tiers())
        .handle(handle)
        .serve(listener, TowerToHyperService::new(routes()))
}

/// A tonic channel to `addr` whose connection task is an Echo task at
/// `priority` (tonic's `Endpoint::executor`). Call it inside an Echo task
/// or `block_on`.
pub async fn connect(
    addr: SocketAddr,
    priority: Priority,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{addr}"))?
        .executor(EchoExecutor::new(priority))
        .tcp_nodelay(true)
        .connect()
        .await
}
