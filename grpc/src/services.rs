//! The services' handlers. Each reply says which Echo tier its handler
//! ran at, so tests can see where a method ran.

use crate::bulk::bulk_server::Bulk;
use crate::proto::{
    CountRequest, FrameReply, FrameRequest, Item, SumReply, WorkReply, WorkRequest,
};
use crate::ui::ui_server::Ui;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status, Streaming};

/// The tier of the calling Echo task, as the replies carry it.
fn tier() -> String {
    echo_std::task::current().map_or_else(|| "none".into(), |t| format!("{:?}", t.priority()))
}

/// Burns `d` of CPU on the calling thread.
pub fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

static WORK_STARTED: AtomicU64 = AtomicU64::new(0);
static WORK_DONE: AtomicU64 = AtomicU64::new(0);

/// `bulk.Bulk/Work` calls started and finished in this process so far.
pub fn work_counters() -> (u64, u64) {
    (
        WORK_STARTED.load(Ordering::SeqCst),
        WORK_DONE.load(Ordering::SeqCst),
    )
}

/// `ui.Ui`: answers at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct UiService;

#[tonic::async_trait]
impl Ui for UiService {
    async fn frame(&self, request: Request<FrameRequest>) -> Result<Response<FrameReply>, Status> {
        Ok(Response::new(FrameReply {
            seq: request.into_inner().seq,
            tier: tier(),
        }))
    }
}

/// `bulk.Bulk`: CPU work, and one method of each streaming kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct BulkService;

type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Bulk for BulkService {
    async fn work(&self, request: Request<WorkRequest>) -> Result<Response<WorkReply>, Status> {
        WORK_STARTED.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        spin(Duration::from_micros(u64::from(request.micros)));
        WORK_DONE.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(WorkReply {
            seq: request.seq,
            tier: tier(),
        }))
    }

    type CountStream = ItemStream;

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<ItemStream>, Status> {
        let CountRequest { n, pause_micros } = request.into_inner();
        let pause = Duration::from_micros(u64::from(pause_micros));
        let items = futures_util::stream::unfold(0u64, move |value| async move {
            if value >= u64::from(n) {
                return None;
            }
            if !pause.is_zero() {
                echo_std::time::sleep(pause).await;
            }
            let item = Item {
                value,
                tier: tier(),
            };
            Some((Ok(item), value + 1))
        });
        Ok(Response::new(Box::pin(items)))
    }

    async fn sum(&self, request: Request<Streaming<Item>>) -> Result<Response<SumReply>, Status> {
        let mut items = request.into_inner();
        let (mut total, mut count) = (0, 0);
        while let Some(item) = items.next().await {
            total += item?.value;
            count += 1;
        }
        Ok(Response::new(SumReply {
            total,
            count,
            tier: tier(),
        }))
    }

    type EchoStream = ItemStream;

    async fn echo(
        &self,
        request: Request<Streaming<Item>>,
    ) -> Result<Response<ItemStream>, Status> {
        let items = request.into_inner().map(|item| {
            item.map(|item| Item {
                value: item.value,
                tier: tier(),
            })
        });
        Ok(Response::new(Box::pin(items)))
    }
}
